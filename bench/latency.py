"""Latency of POST /api/text against the default checkpoint, through a real server.

    python -m bench.latency --json

Full: a fresh 1,000-character text each time (nothing cached). Incremental: one more
character at the end of a text the server has just analysed, the whole answer. Delta: the
same, sent with the digest of the answer held (`since`), as the page sends it: the answer
holds only the positions that may have changed (what typing costs the page).
--compare LENS_SOLO_RUN_THREADS=1 HMLSTM_HALF_WEIGHTS=0: beside the server as configured, one
server per setting given (NAME=VALUE[,NAME=VALUE]), the same requests sent to each in turn
(side by side); each variant's figures and its full-analysis p50 as a ratio to the configured
one. rss_mb (DESIGN.md section 6): the configured server's resident memory afterwards, with every
bundled checkpoint loaded and each one's prefix cache filled with texts of the maximum length (minutes;
--no-memory leaves it out, null).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from app.settings import Settings
from bench.machine import cpu_model
from bench.server import running_server, said_in_one_line
from model.cli import Parser

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


def figures(full: list[float], incremental: list[float], reused: list[int], delta: list[float]) -> dict:
    return {"full_p50_ms": statistics.median(full), "full_p95_ms": percentile(full, 95),
            "incremental_p50_ms": statistics.median(incremental), "incremental_p95_ms": percentile(incremental, 95),
            "incremental_reused_prefix_min": min(reused),
            "delta_p50_ms": statistics.median(delta), "delta_p95_ms": percentile(delta, 95)}


def fill_caches_and_measure_rss(client, server, models) -> float:
    """Every text checkpoint's prefix cache filled with texts of the maximum length, then the
    server's resident memory (what a long-running server holds at worst)."""
    settings = Settings()
    for m in models["models"]:
        if m["task"] == "text":
            for i in range(settings.cache_entries + 4):
                client.post("/api/text", json={"text": text_of(settings.max_text_chars, 50_000 + i),
                                               "model": m["name"]}).raise_for_status()
    return rss_mb(server.pid)


def main(argv=None):
    p = Parser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    p.add_argument("--chars", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--model", default=None, help="checkpoint (default: the server's default)")
    p.add_argument("--compare", nargs="*", default=[], metavar="NAME=VALUE[,NAME=VALUE]",
                   help="environment variants: one more server each, requests sent to every server in turn")
    p.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                   help="fill every checkpoint's prefix cache with maximum-length texts and report the "
                        "server's RSS as rss_mb (minutes; --no-memory: latency only)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    p.at_least(args, 1, "chars", "repeats")
    variants = {"configured": {}}
    for given in args.compare:
        pairs = [kv.split("=", 1) for kv in given.split(",")]
        if any(len(kv) != 2 or not kv[0] for kv in pairs):
            p.error(f"--compare takes NAME=VALUE[,NAME=VALUE], not {given!r}")
        variants[given] = dict(pairs)
    with ExitStack() as stack, said_in_one_line("python -m bench.latency"):
        servers = [stack.enter_context(running_server(env)) for env in variants.values()]
        clients = [stack.enter_context(httpx.Client(base_url=url, timeout=60)) for url, _ in servers]
        models = clients[0].get("/api/models").json()
        name = args.model or models["default"]

        def post(client, text, since=None):
            t0 = time.perf_counter()
            r = client.post("/api/text", json={"text": text, "model": name, **({"since": since} if since else {})})
            r.raise_for_status()
            return (time.perf_counter() - t0) * 1000, r.json()

        for client in clients:                                   # warm-up
            for seed in range(3):
                post(client, text_of(args.chars, 10_000 + seed))
        runs = [([], [], [], []) for _ in variants]               # full, incremental, reused prefix, delta
        sizes = {"whole": [], "delta": []}
        for i in range(args.repeats):                             # the servers in turn, each the same texts
            text = text_of(args.chars, i)
            for client, (full, incremental, reused, delta) in zip(clients, runs):
                ms, held = post(client, text)
                full.append(ms)
                ms, body = post(client, text + "s")
                incremental.append(ms)
                ms, body = post(client, text + "t", since=held["digest"])
                delta.append(ms)
                reused.append(body["reused_prefix"])              # told only with `since` (app/analysis.py)
                sizes["delta"].append(len(body["chars"]))
                sizes["whole"].append(body["length"])
        memory = fill_caches_and_measure_rss(clients[0], servers[0][1], models) if args.memory else None
    import torch
    share = rows_computed_share(name, [text_of(args.chars, i) for i in range(3)])
    by_variant = {name: figures(*run) for name, run in zip(variants, runs)}
    result = {
        **by_variant["configured"], "solo_run_threads": Settings().solo_run_threads,
        "chars": args.chars, "repeats": args.repeats, "rss_mb": memory, "model": name,
        "checkpoints_loaded": [m["name"] for m in models["models"]],
        "cpu": cpu_model(), "torch_threads_in_server": "LENS_TORCH_THREADS (default 1)",
        "rows_computed_share": share,
        "delta_positions_sent_max": max(sizes["delta"]), "delta_of_positions": sizes["whole"][0],
        "torch": torch.__version__,
    }
    if args.compare:
        result["variants"] = {name: {**f, "full_p50_ratio": f["full_p50_ms"] / result["full_p50_ms"]}
                              for name, f in by_variant.items() if name != "configured"}
    if args.json:
        print(json.dumps(result))
        return
    for name, f in by_variant.items():
        print(f"{name}: full p50 {f['full_p50_ms']:.1f} ms, p95 {f['full_p95_ms']:.1f} ms; incremental "
              f"p50 {f['incremental_p50_ms']:.1f} ms, p95 {f['incremental_p95_ms']:.1f} ms; delta p50 "
              f"{f['delta_p50_ms']:.1f} ms, p95 {f['delta_p95_ms']:.1f} ms")
    if memory is not None:
        print(f"RSS {memory:.0f} MB")


if __name__ == "__main__":
    main()
