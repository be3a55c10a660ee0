"""The web service: `uvicorn app.main:app`, or `create_app(settings)` for tests and embedding.

The checkpoints are loaded once, in the lifespan; routes live in `app.routes`, what they share
in `app.deps`.
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from app.errors import http_error, invalid_request, unexpected
from app.limits import BodyLimit, RateLimiter, RunLimiter
from app.memory import return_large_buffers_to_the_os
from app.middleware import HeadAsGet, SecurityHeaders
from app.registry import discover
from app.routes import api, pages, vendor
from app.settings import STATIC, Settings, settings_or_exit

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    return_large_buffers_to_the_os()
    torch.set_num_threads(settings.torch_threads)
    app.state.models = discover(settings.checkpoint_dir, settings.cache_entries)
    default = app.state.models.get(settings.default_model)
    texts = [name for name, m in app.state.models.items() if m.task == "text"]
    if texts and (default is None or default.task != "text"):
        log.warning("LENS_DEFAULT_MODEL %r is not a text checkpoint in %s: the text page and a request without a "
                    "model use %s", settings.default_model, settings.checkpoint_dir, texts[0])
    for loaded in app.state.models.values():     # builds the C++ loops once, before any request
        loaded.model(torch.zeros(2, 1, dtype=torch.long) if loaded.task == "text" else torch.zeros(2, 1, 3))
    yield


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or settings_or_exit()
    app = FastAPI(title="HM-LSTM Boundary Lens", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Per-layer boundaries and gate/norm traces of Hierarchical Multiscale LSTMs. "
                              "[Back to the Boundary Lens](/) ([handwriting](/ink)).")
    app.state.settings = settings
    app.state.runs = RunLimiter(settings.max_running, settings.max_waiting, settings.queue_wait_s)
    app.state.rates = RateLimiter(settings.rate_per_s, settings.rate_burst)
    if settings.allowed_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.allowed_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"])
    if settings.gzip_min_bytes:
        # a whole answer of 5,000 characters is 558 KB of JSON, 160 KB gzipped at level 3 in 12 ms (level 5: 150 KB
        # in 20 ms; 9: 143 KB in 160 ms); an answer to a keystroke (a few positions) stays below the floor, so
        # typing pays nothing (compressed in a thread past 128 KB)
        app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_min_bytes, compresslevel=3)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders)               # added last: outermost, so a 413 gets the headers too
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    for routes in (api, pages, vendor):
        app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


app = create_app()
