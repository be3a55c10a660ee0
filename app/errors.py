"""How errors answer: a 422 with one readable message for a request that fails validation, and a
bare 500 for anything unexpected (the trace goes to the log, never to the client)."""
from __future__ import annotations

import logging

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger("lens")


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            parts.append("the request body is not valid JSON")
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    # the dependencies that share a request body each report its errors: say each one once
    return JSONResponse({"detail": "; ".join(dict.fromkeys(parts)) or "invalid request"}, status_code=422)


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)
