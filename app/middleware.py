"""Headers on every answer; a Content-Security-Policy on the pages (the docs pages set their own); HEAD
answered as GET without the body.

Plain ASGI, not Starlette's BaseHTTPMiddleware: that one runs each request in a task group of its
own, a cost paid on every keystroke's request (measured: about 0.5 ms of 6 on the AMD machine)."""
from __future__ import annotations

from app.routes.pages import PAGES

COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]


def page_policy(path: str) -> bytes:
    """Our pages load nothing from elsewhere and run no inline script; only /embed may be framed."""
    framing = "*" if path == "/embed" else "'self'"
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            f"connect-src 'self'; frame-ancestors {framing}; base-uri 'none'; form-action 'none'").encode()


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = COMMON + ([(b"content-security-policy", page_policy(scope["path"]))] if scope["path"] in PAGES else [])
        names = {k for k, _ in extra}

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [h for h in message.get("headers", []) if h[0].lower() not in names]
                           + extra}
            await send(message)
        await self.app(scope, receive, with_headers)


class HeadAsGet:
    """HEAD on any GET route (a monitor, a link checker): the GET's status and headers, no body. One rule
    for every route, so that each is declared GET once (a route declared for GET and HEAD gives FastAPI's
    OpenAPI document two operations with one id)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def without_body(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)
        await self.app({**scope, "method": "GET"}, receive, without_body)
