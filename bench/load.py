"""A bounded load run against a server started here on 127.0.0.1.

    python -m bench.load --json          (16 connections for 30 s)

Each connection plays one person typing: it sends a growing text, one word at a time (the
server's prefix cache serves most of it), and now and then starts a fresh text. Every
connection is its own client (X-Forwarded-For, with the server told it is behind a proxy),
so the per-client rate limit applies per person as in a real deployment. 429 and 503 are
counted apart from errors (other 5xx, resets, timeouts). The run stops by itself.
"""
from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time

import httpx

from bench.latency import percentile, text_of
from bench.server import running_server, said_in_one_line
from model.cli import Parser


async def person(client: httpx.AsyncClient, k: int, until: float, record, longest: int):
    rng = random.Random(k)
    headers = {"X-Forwarded-For": f"10.0.{k // 250}.{k % 250 + 1}"}
    text = ""
    while time.monotonic() < until:
        if not text or len(text) > longest - 12 or rng.random() < 0.05:
            text = text_of(rng.randint(20, longest // 2), rng.randint(0, 10**9))      # a fresh text
        else:
            text += " " + text_of(rng.randint(3, 9), rng.randint(0, 10**9)).split(" ")[0]
        t0 = time.perf_counter()
        try:
            r = await client.post("/api/text", json={"text": text}, headers=headers)
            record(r.status_code, (time.perf_counter() - t0) * 1000)
            if r.status_code in (429, 503):
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
        except (httpx.TimeoutException, httpx.TransportError):
            record("error", (time.perf_counter() - t0) * 1000)


async def run(url: str, connections: int, seconds: float, longest: int):
    codes: dict = {}
    latencies: list[float] = []

    def record(code, ms):
        codes[code] = codes.get(code, 0) + 1
        if code == 200:
            latencies.append(ms)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        until = time.monotonic() + seconds
        t0 = time.monotonic()
        await asyncio.gather(*(person(client, k, until, record, longest) for k in range(connections)))
        elapsed = time.monotonic() - t0
    return codes, latencies, elapsed


def main(argv=None):
    p = Parser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    p.at_least(args, 1, "connections", "seconds", "workers")
    from app.settings import Settings
    s = Settings()
    env = {"LENS_BEHIND_PROXY": "true", "LENS_WORKERS": str(args.workers)}
    with said_in_one_line("python -m bench.load"), running_server(env) as (url, _):
        codes, lat, elapsed = asyncio.run(run(url, args.connections, args.seconds, min(600, s.max_text_chars)))
    ok = codes.get(200, 0)
    errors = sum(v for k, v in codes.items() if k not in (200, 429, 503))
    result = {
        "connections": args.connections, "seconds": round(elapsed, 1), "requests": sum(codes.values()),
        "ok": ok, "ok_per_s": ok / elapsed, "p50_ms": statistics.median(lat) if lat else None,
        "p99_ms": percentile(lat, 99) if lat else None, "status_429": codes.get(429, 0),
        "status_503": codes.get(503, 0), "errors": errors, "codes": {str(k): v for k, v in codes.items()},
        "limits": {"workers": args.workers, "max_running": s.max_running, "max_waiting": s.max_waiting,
                   "queue_wait_s": s.queue_wait_s, "rate_per_s_per_client": s.rate_per_s,
                   "rate_burst": s.rate_burst, "torch_threads": s.torch_threads,
                   "clients": "one per connection (X-Forwarded-For, LENS_BEHIND_PROXY=true)"},
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{ok} ok in {elapsed:.0f} s ({result['ok_per_s']:.1f}/s), p50 {result['p50_ms']:.0f} ms, p99 "
              f"{result['p99_ms']:.0f} ms; 429: {result['status_429']}, 503: {result['status_503']}, errors: {errors}")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
