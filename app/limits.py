"""Holding up under load: a bound on concurrent model runs, and a per-client rate limit.

Model runs are CPU-bound. Past `running` concurrent runs, up to `waiting` requests queue
for at most `wait_s`; anything beyond gets 503 with Retry-After at once, rather than a
pile-up that makes every request slow. A client that sends more than its share gets 429.
"""
from __future__ import annotations

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
        self.inside = 0
        self.lock = threading.Lock()

    @contextmanager
    def run(self):
        with self.lock:
            if self.inside >= self.capacity:
                raise Saturated("queue full")
            self.inside += 1
        try:
            if not self.slots.acquire(timeout=self.wait_s):
                raise Saturated("waited too long")
            try:
                yield
            finally:
                self.slots.release()
        finally:
            with self.lock:
                self.inside -= 1


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
                raise HTTPException(429, f"too many requests from {client}; retry in {wait} s",
                                    headers={"Retry-After": str(wait)})
            self.buckets[client] = (tokens - 1, now)
            while len(self.buckets) > self.clients:      # forget the longest-idle clients
                self.buckets.popitem(last=False)
