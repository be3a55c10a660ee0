"""How errors answer: a 422 with one readable message for a request that fails validation (a body
that cannot be read as JSON included), and a bare 500 for anything unexpected (the trace goes to
the log, never to the client)."""
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


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            parts.append(NOT_JSON)
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    # the dependencies that share a request body each report its errors: say each one once
    return JSONResponse({"detail": "; ".join(dict.fromkeys(parts)) or "invalid request"}, status_code=422)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == UNPARSED:
        return JSONResponse({"detail": f"{NOT_JSON} (it must be UTF-8 text, not nested too deeply)"}, status_code=422)
    return await http_exception_handler(request, exc)


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)
