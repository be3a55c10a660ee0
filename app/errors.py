"""How errors answer: a 422 with one readable message for a request that fails validation (a body
that cannot be read as JSON included), a page with the way back for a browser that asks for a page we
do not have (JSON for everything else), and a bare 500 for anything unexpected (the trace goes to the
log, never to the client)."""
from __future__ import annotations

import logging

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

NOT_JSON = "the request body is not valid JSON"
# FastAPI's words where decoding the body failed other than as bad JSON: bytes that are not UTF-8,
# JSON nested too deep to parse
UNPARSED = "There was an error parsing the body"

log = logging.getLogger("lens")


SAID = 5          # problems named in one answer; the rest counted
LONGEST = 120     # characters of a field's name or a message (a key of a million characters is not echoed)


def _short(s: str) -> str:
    return s if len(s) <= LONGEST else s[:LONGEST - 1] + "…"


def one_line(errors) -> str:
    """Validation errors in one readable line, however many: the first few named, the rest counted."""
    parts = {}
    for err in errors:
        if err.get("type") == "json_invalid":
            parts[NOT_JSON] = None
        else:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            # the dependencies that share a request body each report its errors: said once
            parts[f"{_short(where)}: {_short(err.get('msg', 'invalid'))}"] = None
    said = list(parts)
    return "; ".join(said[:SAID]) + (f"; and {len(said) - SAID} more" if len(said) > SAID else "")


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    kind = request.headers.get("content-type", "")
    if request.method == "POST" and "json" not in kind:      # FastAPI then reads no body at all, and says so oddly
        return JSONResponse({"detail": f"the body must be JSON, sent with Content-Type: application/json "
                                       f"(it came as {_short(kind) or 'no type'})"}, status_code=415)
    return JSONResponse({"detail": one_line(exc.errors()) or "invalid request"}, status_code=422)


async def http_error(request: Request, exc: HTTPException):
    if exc.status_code == 400 and exc.detail == UNPARSED:
        return JSONResponse({"detail": f"{NOT_JSON} (it must be UTF-8 text, not nested too deeply)"}, status_code=422)
    if exc.status_code == 404 and _a_browser_asking_for_a_page(request):
        from app.routes.pages import templates
        return templates.TemplateResponse(request, "missing.html", {"path": _short(request.url.path)}, status_code=404)
    return await http_exception_handler(request, exc)


def _a_browser_asking_for_a_page(request: Request) -> bool:
    """A GET that prefers HTML (a mistyped address, an old link), outside the API and the files we serve."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "") and \
        not request.url.path.startswith(("/api/", "/static/", "/vendor/"))


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)
