"""The web service: `uvicorn app.main:app`, or `create_app(settings)` for tests and embedding.

The checkpoints are loaded once, in the lifespan; the routes are thin: they check the
request, look the model up by name and hand over to `app.analysis`.
"""
from __future__ import annotations

import ctypes
import logging
from contextlib import asynccontextmanager
from pathlib import Path

import plotly
import swagger_ui_bundle
import torch
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.analysis import analyse_ink, analyse_text
from app.limits import BodyLimit, RateLimiter, RunLimiter
from app.registry import Loaded, discover
from app.schemas import (ErrorResponse, Health, InkRequest, InkResponse, ModelsResponse, TextRequest,
                         TextResponse)
from app.settings import ROOT, Settings
from model.ink import synthetic_cursive

log = logging.getLogger("lens")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
PAGES = ("/", "/ink", "/embed")
ERRORS = {code: {"model": ErrorResponse} for code in (400, 404, 413, 422, 429, 503)}


def return_large_buffers_to_the_os() -> bool:
    """Pin glibc's mmap threshold at its default, 128 KiB. glibc raises it (up to 32 MiB) each time
    a large block is freed; after that the model's large transient buffers come from the heap and
    stay there: with the four bundled checkpoints and full caches the server held 1.1-1.35 GB, and
    0.47 GB with the threshold pinned (bench/RESULTS.md). False where the C library is not glibc."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024))      # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        return_large_buffers_to_the_os()
        torch.set_num_threads(settings.torch_threads)
        app.state.models = discover(settings.checkpoint_dir, settings.cache_entries)
        for loaded in app.state.models.values():     # builds the C++ loops once, before any request
            loaded.model(torch.zeros(2, 1, dtype=torch.long) if loaded.task == "text" else torch.zeros(2, 1, 3))
        yield

    app = FastAPI(title="HM-LSTM Boundary Lens", version="0.1.0", lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  description="Per-layer boundaries and gate/norm traces of Hierarchical Multiscale LSTMs.")
    app.state.settings = settings
    runs = RunLimiter(settings.max_running, settings.max_waiting, settings.queue_wait_s)
    rates = RateLimiter(settings.rate_per_s, settings.rate_burst)
    templates = Jinja2Templates(directory=str(ROOT / "templates"))
    app.mount("/static", StaticFiles(directory=str(ROOT / "static")), name="static")
    if settings.allowed_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.allowed_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"])

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path in PAGES:       # our pages load nothing from elsewhere and run no inline script
            framing = "*" if request.url.path == "/embed" else "'self'"
            response.headers["Content-Security-Policy"] = (
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                f"connect-src 'self'; frame-ancestors {framing}; base-uri 'none'; form-action 'none'")
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                parts.append("the request body is not valid JSON")
                continue
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)     # the trace stays in the log
        return JSONResponse({"detail": "internal error"}, status_code=500)

    def client_of(request: Request) -> str:
        if settings.behind_proxy and request.headers.get("x-forwarded-for"):
            return request.headers["x-forwarded-for"].split(",")[0].strip()
        return request.client.host if request.client else "unknown"

    def pick(name: str | None, task: str) -> Loaded:
        models = app.state.models
        if name is None:       # the configured default when it is of this task, else the first that is
            default = models.get(settings.default_model)
            name = settings.default_model if default and default.task == task else next(
                (n for n, m in models.items() if m.task == task), None)
            if name is None:
                raise HTTPException(404, f"no {task} checkpoint is loaded")
        loaded = models.get(name)
        if loaded is None:
            known = ", ".join(sorted(models)) or "none"
            raise HTTPException(404, f"unknown model {name[:100]!r}; known: {known}")
        if loaded.task != task:
            raise HTTPException(400, f"model {name!r} is a {loaded.task} model, not a {task} one")
        return loaded

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def text_page(request: Request):
        return templates.TemplateResponse(request, "text.html", {
            "page": "text", "default_model": settings.default_model, "max_chars": settings.max_text_chars})

    @app.get("/ink", response_class=HTMLResponse, include_in_schema=False)
    def ink_page(request: Request):
        return templates.TemplateResponse(request, "ink.html", {
            "page": "ink", "max_points": settings.max_points, "max_strokes": settings.max_strokes})

    @app.get("/embed", response_class=HTMLResponse, include_in_schema=False)
    def embed_page(request: Request):
        return templates.TemplateResponse(request, "embed.html", {"default_model": settings.default_model})

    @app.get("/healthz", response_model=Health, responses=ERRORS)
    def healthz():
        return {"status": "ok", "models": len(app.state.models)}

    @app.get("/api/models", response_model=ModelsResponse, responses=ERRORS)
    def models():
        default = settings.default_model if settings.default_model in app.state.models else None
        return {"default": default, "models": [m.describe() for m in app.state.models.values()]}

    @app.post("/api/text", response_model=TextResponse, responses=ERRORS)
    def text(req: TextRequest, request: Request):
        rates.check(client_of(request))
        if len(req.text) > settings.max_text_chars:
            raise HTTPException(413, f"text has {len(req.text)} characters; the limit is {settings.max_text_chars}")
        loaded = pick(req.model, "text")
        with runs.run():
            return analyse_text(loaded, req.text)

    @app.post("/api/ink", response_model=InkResponse, responses=ERRORS)
    def ink(req: InkRequest, request: Request):
        rates.check(client_of(request))
        points = sum(len(s) for s in req.strokes)
        if len(req.strokes) > settings.max_strokes:
            raise HTTPException(413, f"{len(req.strokes)} strokes; the limit is {settings.max_strokes}")
        if points > settings.max_points:
            raise HTTPException(413, f"{points} points; the limit is {settings.max_points}")
        loaded = pick(req.model, "ink")
        with runs.run():
            return analyse_ink(loaded, req.strokes)

    @app.get("/api/ink/example", response_model=InkRequest, responses=ERRORS)
    def ink_example(text: str = Query("hello world", min_length=1, max_length=40, pattern="[A-Za-z0-9]",
                                      description="what to write: at least one letter or digit"),
                    seed: int = Query(0, ge=0, le=2**31)):
        """Synthetic cursive (a Hershey stroke font), for trying the ink page without a pen."""
        line = synthetic_cursive(text, seed=seed, height=60.0)
        return {"strokes": [[(round(x * 1.5 + 40, 1), round(y * 1.5 + 160, 1)) for x, y in s] for s in line.strokes]}

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/vendor/swagger/{name}", include_in_schema=False)
    def swagger_asset(name: str):
        if name not in ("swagger-ui-bundle.js", "swagger-ui.css"):
            raise HTTPException(404, "not found")
        return FileResponse(SWAGGER_DIR / name)

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title + " - API",
                                   swagger_js_url="/vendor/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/vendor/swagger/swagger-ui.css",
                                   swagger_favicon_url="data:,")

    return app


app = create_app()
