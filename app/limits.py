"""Holding up under load: a bound on concurrent model runs, and a per-client rate limit.

Model runs are CPU-bound. Past `running` concurrent runs, up to `waiting` requests queue
for at most `wait_s`; anything beyond gets 503 with Retry-After at once, rather than a
pile-up that makes every request slow. A client that sends more than its share gets 429.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager

from fastapi import HTTPException


class Saturated(HTTPException):
    def __init__(self, why: str, retry_after: int = 1):
        super().__init__(503, f"the server is busy ({why}); retry in {retry_after} s",
                         headers={"Retry-After": str(retry_after)})


class RunLimiter:
    def __init__(self, running: int, waiting: int, wait_s: float):
        self.slots = threading.Semaphore(running)
        self.capacity = running + waiting
        self.wait_s = wait_s
        self.inside = 0                 # holding a slot or waiting for one
        self.running = 0                # holding a slot
        self.lock = threading.Lock()

    def enter(self, wait: bool = True) -> int | None:
        """Take a slot, and say how many runs hold one now, this one included. Without `wait`, None
        where no slot is free (nothing taken). Saturated when the queue is full or the wait too long."""
        with self.lock:
            if self.inside >= self.capacity:
                raise Saturated("queue full")
            self.inside += 1
        if not (self.slots.acquire(timeout=self.wait_s) if wait else self.slots.acquire(blocking=False)):
            with self.lock:
                self.inside -= 1
            if wait:
                raise Saturated("waited too long")
            return None
        with self.lock:
            self.running += 1
            return self.running

    def leave(self) -> None:
        with self.lock:
            self.running -= 1
            self.inside -= 1
        self.slots.release()

    @contextmanager
    def run(self):
        """Hold a slot while the block runs; it is given how many runs hold one now, itself included."""
        running = self.enter()
        try:
            yield running
        finally:
            self.leave()


class RateLimiter:
    """A token bucket per client: `rate` requests per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float, clients: int = 10_000):
        self.rate, self.burst, self.clients = rate, burst, clients
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.lock = threading.Lock()

    def check(self, client: str) -> None:
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self.buckets[client] = (tokens, now)
                wait = max(1, int((1 - tokens) / self.rate + 0.999))
                raise HTTPException(429, f"too many requests; retry in {wait} s",
                                    headers={"Retry-After": str(wait)})
            self.buckets[client] = (tokens - 1, now)
            while len(self.buckets) > self.clients:      # forget the longest-idle clients
                self.buckets.popitem(last=False)


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes, declared (Content-Length) or streamed
    (chunked), before the application reads any more of it.

    The 413 goes out only once the client has finished sending (the rest of the body is read and
    thrown away, up to `drain_limit` bytes). A server that answers and closes while the client is
    still sending makes the client's socket reset: clients that send the whole body before reading
    (Python's urllib) then see "connection reset by peer" instead of the 413. Past `drain_limit` the
    answer goes out at once and the connection may be closed. A client that asked to wait for
    `100 Continue` has sent no body yet: it is answered at once."""

    def __init__(self, app, limit: int, drain_limit: int = 64 << 20):
        self.app, self.limit, self.drain_limit = app, limit, drain_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and not declared.isdigit():
            return await self._refuse(send)
        if declared is not None and int(declared) > self.limit:
            waits_for_100_continue = headers.get(b"expect", b"").lower() == b"100-continue"
            if int(declared) <= self.drain_limit and not waits_for_100_continue:
                await self._drain(receive, 0)
            return await self._refuse(send)
        received, refused = 0, False

        async def counted():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not refused:
                    refused = True                      # the application sees the client leave
                    if message.get("more_body", False):
                        await self._drain(receive, received)
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message):
            if not refused:                             # after a 413 nothing else goes out
                await send(message)
        await self.app(scope, counted, guarded)

    async def _drain(self, receive, received: int) -> None:
        """Read and drop the rest of the body, until its end, the client leaving or `drain_limit`."""
        while received <= self.drain_limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _refuse(self, send):
        body = json.dumps({"detail": f"request body over {self.limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
