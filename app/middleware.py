"""Headers on every answer; a Content-Security-Policy on the pages (the docs pages set their own)."""
from __future__ import annotations

from fastapi import Request

from app.routes.pages import PAGES


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
