"""Latency of POST /api/text against the default checkpoint, through a real server.

    python -m bench.latency --json

Full: a fresh 1,000-character text each time (nothing cached). Incremental: one more
character at the end of a text the server has just analysed (what typing costs).
rss_mb: the server's resident memory afterwards, with every bundled checkpoint loaded
and each one's prefix cache filled with texts of the maximum length.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import httpx

from app.settings import Settings
from bench.machine import cpu_model
from bench.server import running_server

# our own words, nothing from a corpus
WORDS = ("the a of to and in market price rose fell year company said new share trade bank city house "
         "river small large early late morning evening people children water light sound paper letter "
         "walked found made took gave left over under through between before after again").split()


def text_of(n: int, seed: int) -> str:
    rng = random.Random(seed)
    out = []
    while sum(len(w) + 1 for w in out) < n + 20:
        out.append(rng.choice(WORDS))
    return " ".join(out)[:n]


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rows_computed_share(model_name: str, texts: list[str]) -> float | None:
    """The share of the dense path's matrix work (multiply-adds of the loops' products) that the
    server's inference did on these texts, counted in this process on the same checkpoint."""
    from model.checkpoint import load_checkpoint
    from model.data import Vocabulary
    from model.loops import cpp
    from model.traces import run_traces
    ext = cpp.extension()
    if ext is None:
        return None
    model, config = load_checkpoint(Settings().checkpoint_dir / model_name)
    vocab = Vocabulary(config["vocabulary"])
    ext.reset_work_count()
    for text in texts:
        run_traces(model, vocab.encode(text))
    dense, done = ext.work_count()
    return done / dense if dense else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chars", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--model", default=None, help="checkpoint (default: the server's default)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with running_server() as (url, server), httpx.Client(base_url=url, timeout=60) as client:
        models = client.get("/api/models").json()
        name = args.model or models["default"]

        def post(text, model=name):
            t0 = time.perf_counter()
            r = client.post("/api/text", json={"text": text, "model": model})
            r.raise_for_status()
            return (time.perf_counter() - t0) * 1000, r.json()

        for seed in range(3):                                    # warm-up
            post(text_of(args.chars, 10_000 + seed))
        full, incremental, reused = [], [], []
        for i in range(args.repeats):
            text = text_of(args.chars, i)
            ms, _ = post(text)
            full.append(ms)
            ms, body = post(text + "s")
            incremental.append(ms)
            reused.append(body["reused_prefix"])
        # fill every checkpoint's prefix cache with texts of the maximum length
        settings = Settings()
        for m in models["models"]:
            if m["task"] == "text":
                for i in range(settings.cache_entries + 4):
                    post(text_of(settings.max_text_chars, 50_000 + i), m["name"])
        memory = rss_mb(server.pid)
    import torch
    share = rows_computed_share(name, [text_of(args.chars, i) for i in range(3)])
    result = {
        "full_p50_ms": statistics.median(full), "full_p95_ms": percentile(full, 95),
        "incremental_p50_ms": statistics.median(incremental), "incremental_p95_ms": percentile(incremental, 95),
        "chars": args.chars, "repeats": args.repeats, "rss_mb": memory, "model": name,
        "incremental_reused_prefix_min": min(reused),
        "checkpoints_loaded": [m["name"] for m in models["models"]],
        "cpu": cpu_model(), "torch_threads_in_server": "LENS_TORCH_THREADS (default 1)",
        "rows_computed_share": share,
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"full p50 {result['full_p50_ms']:.1f} ms, p95 {result['full_p95_ms']:.1f} ms; incremental p50 "
              f"{result['incremental_p50_ms']:.1f} ms, p95 {result['incremental_p95_ms']:.1f} ms; RSS {memory:.0f} MB")


if __name__ == "__main__":
    main()
