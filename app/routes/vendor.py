"""Files from installed packages, served by us so that every page works offline: plotly.js, and the
API docs (/docs: Swagger UI 5, /redoc: ReDoc; both read OpenAPI 3.1) with their assets from
`fastapi-offline`."""
from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import mimetypes
import re
from pathlib import Path
from typing import NamedTuple

import fastapi_offline
import plotly
from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
# ReDoc's sidebar credit shows a logo that it always fetches from Redocly's CDN (and hides when that fails)
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
router = APIRouter(include_in_schema=False)


class Packed(NamedTuple):
    """A vendored file as it is served: its bytes, the same gzipped, a tag that names them, its type."""
    raw: bytes
    gzipped: bytes
    etag: str
    media_type: str


@functools.cache
def packed(name: str) -> Packed:
    """Read and gzipped once per worker (plotly.js: 4.8 MB, 1.5 MB gzipped), not once per page load."""
    raw = FILES[name]()
    return Packed(raw, gzip.compress(raw, compresslevel=9), f'"{hashlib.sha1(raw).hexdigest()[:20]}"',
                  mimetypes.guess_type(name)[0] or "application/octet-stream")


def vendored(request: Request, name: str) -> Response:
    """A file of a package, gzipped where the browser takes gzip, and a 304 for a browser that holds it."""
    p = packed(name)
    headers = {"Cache-Control": "max-age=86400", "ETag": p.etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == p.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(p.gzipped, media_type=p.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(p.raw, media_type=p.media_type, headers=headers)


def with_docs_policy(page: HTMLResponse) -> HTMLResponse:
    """The docs pages load only our own files. Swagger UI's page starts it with an inline script,
    allowed by its hash; both UIs set inline styles, ReDoc runs its search in a blob: worker and
    Swagger UI draws icons from data: URLs."""
    inline = re.findall(rb"<script>(.*?)</script>", page.body, re.S)
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in inline)
    page.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "worker-src blob:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
    return page


@router.get("/vendor/plotly.min.js")
def plotly_js(request: Request):
    return vendored(request, "plotly.min.js")


@router.get("/vendor/swagger/{name}")
def swagger_asset(request: Request, name: str):
    if name not in SWAGGER_FILES:          # a fixed list: a name never walks the file system
        raise HTTPException(404, "not found")
    return vendored(request, name)


def redoc_offline() -> bytes:
    """ReDoc with its one load from outside pointed at nothing: the credit's logo fails at once, here."""
    return (DOCS_ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_CDN_LOGO, b"data:,")


@router.get("/vendor/redoc/redoc.standalone.js")
def redoc_js(request: Request):
    return vendored(request, "redoc.standalone.js")


# what /vendor serves, by name: the only files it reads
FILES = {"plotly.min.js": PLOTLY_JS.read_bytes, "redoc.standalone.js": redoc_offline,
         **{name: (DOCS_ASSETS / name).read_bytes for name in SWAGGER_FILES}}


@router.get("/docs")
def docs(request: Request):
    return with_docs_policy(get_swagger_ui_html(
        openapi_url=request.app.openapi_url, title=request.app.title + " - API",
        swagger_js_url="/vendor/swagger/swagger-ui-bundle.js", swagger_css_url="/vendor/swagger/swagger-ui.css",
        swagger_favicon_url="data:,"))


@router.get("/redoc")
def redoc(request: Request):
    return with_docs_policy(get_redoc_html(
        openapi_url=request.app.openapi_url, title=request.app.title + " - API",
        redoc_js_url="/vendor/redoc/redoc.standalone.js", redoc_favicon_url="data:,", with_google_fonts=False))
