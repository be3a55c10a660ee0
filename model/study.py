"""Do the boundaries mean anything? Train variants under one budget, several seeds each,
evaluate them on valid, and write a self-contained HTML report.

    python -m model.study --out study --budget-chars 3000000 --seeds 3 --jobs 2
    python -m model.study --out study --report-only          (rebuild the report from results)

Each run is `model.train` with one factor changed from the baseline (a small model, a budget
in characters, not minutes), then `model.evaluate`'s scores on a slice of the valid split:
BPC, and per layer the boundary rate, strict and tolerant word-boundary F1, word-token F1 and
the random F1 at the same rate, beside the surprisal-peak baseline of the same model. Runs
that finished are kept (results.json) and skipped when the study is run again. Test is never
touched: choices are made on valid.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# one factor at a time against the baseline; the paper's loss alone unless a variant says so
BASELINE = {"--layer-norm": "gates", "--z-bias": "0.5", "--slope-rate": "0.04", "--z-band": "off"}
VARIANTS = {
    "baseline": {},
    "z-bias 0": {"--z-bias": "0"},
    "z-bias -0.5": {"--z-bias": "-0.5"},
    "z-bias +1": {"--z-bias": "1"},
    "z-bias +2": {"--z-bias": "2"},
    "slope fast (+1/epoch)": {"--slope-rate": "1.0"},
    "slope slower (+0.01/epoch)": {"--slope-rate": "0.01"},
    "slope fast, delayed half an epoch": {"--slope-rate": "1.0", "--slope-delay": "0.5"},
    "layer norm off": {"--layer-norm": "none"},
    "layer norm on all rows (z too)": {"--layer-norm": "all"},
    "nested boundaries": {"--nested": None},
    # beyond the paper, reported separately
    "prior: band 0.05-0.5": {"--z-band": "0.05,0.5"},
    "prior: rate 0.2": {"--z-rate": "0.2"},
    "prior: layer 2 rate 0.2": {"--z-rate": "none/0.2"},
    "prior: rates 0.4 / 0.2": {"--z-rate": "0.4/0.2"},
}
PAPER = [v for v in VARIANTS if not v.startswith("prior")]


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def run_one(name: str, seed: int, args) -> dict:
    """Train and evaluate one (variant, seed); results.json makes it resumable."""
    folder = Path(args.out) / "runs" / f"{slug(name)}-seed{seed}"
    done = folder / "results.json"
    if done.is_file():
        return json.loads(done.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    updates = max(1, args.budget_chars // (args.batch * args.bptt))
    flags = {**BASELINE, **VARIANTS[name]}
    cmd = [sys.executable, "-m", "model.train", "--task", "text", "--out", str(folder / "checkpoint"),
           "--run-dir", str(folder / "run"), "--layers", str(args.layers), "--hidden", str(args.hidden),
           "--embed", str(args.embed), "--batch", str(args.batch), "--bptt", str(args.bptt),
           "--max-updates", str(updates), "--epochs", str(args.epochs_planned), "--seed", str(seed),
           "--lr", str(args.lr), "--no-progress", "--threads", "1", "--log-every", "10",
           "--valid-chars", str(args.valid_chars)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.text_file:
        cmd += ["--text-file", args.text_file]
    for k, v in flags.items():
        cmd += [k] if v is None else [k, v]
    if (folder / "run" / "trainer.json").is_file():
        cmd.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done_run = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done_run.returncode:
        last = (done_run.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"{name} seed {seed}: training failed ({last}); left out of the report", file=sys.stderr)
        return None
    # the model as it is at the end of the budget (a fixed budget: no choosing among epochs)
    from model.data import Vocabulary, load_corpus
    from model.evaluate import text_report
    from model.train import load_run_model
    model, saved = load_run_model(folder / "run")
    vocab = Vocabulary(saved["data"]["vocabulary"])                       # the alphabet model.train read
    corpus = load_corpus(args.data_dir, args.text_file)
    report = text_report(model, vocab, corpus["valid"][:args.valid_chars], threshold_from="valid slice")
    log = [json.loads(line) for line in (folder / "run.jsonl").read_text().splitlines()]
    curve = [{"step": r["step"], "rates": r["boundary_rate"], "bpc": r.get("bpc")} for r in log if r["event"] == "train"]
    collapses = [r for r in log if r["event"] == "collapse"]
    result = {"variant": name, "seed": seed, "flags": flags, "updates": updates,
              "chars": updates * args.batch * args.bptt, "valid": report, "curve": curve,
              "collapse_events": collapses}
    done.write_text(json.dumps(result))
    return result


# --- the report ------------------------------------------------------------------------

def summarise(results: list[dict]) -> dict:
    """variant -> per-metric (mean, std, n) over seeds."""
    by: dict[str, list] = {}
    for r in results:
        by.setdefault(r["variant"], []).append(r)
    table = {}
    for name, runs in by.items():
        row = {"seeds": len(runs), "bpc": _ms([r["valid"]["bpc"] for r in runs]),
               "surprisal_f1": _ms([r["valid"]["baselines"]["surprisal"]["f1"] for r in runs]),
               "surprisal_token_f1": _ms([r["valid"]["baselines"]["surprisal"]["word_token_f1"] for r in runs]),
               "collapses": sum(len(r["collapse_events"]) for r in runs), "layers": []}
        for k, layer in enumerate(runs[0]["valid"]["layers"]):
            get = lambda f: _ms([f(r["valid"]["layers"][k]) for r in runs])  # noqa: E731
            row["layers"].append({
                "layer": layer["layer"], "rate": get(lambda x: x["boundary_rate"]),
                "f1": get(lambda x: x["word_boundary"]["f1"]),
                "tolerant_f1": get(lambda x: x["word_boundary_tolerant"]["f1"]),
                "token_f1": get(lambda x: x["word_token_f1"]), "random_f1": get(lambda x: x["random_f1"])})
        table[name] = row
    return table


def _ms(xs):
    return (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0, len(xs))


def write_report(results: list[dict], path: Path, args) -> None:
    import plotly.graph_objects as go
    import plotly.io as pio
    table = summarise(results)
    names = [v for v in VARIANTS if v in table]
    figs = []
    L = max(len(t["layers"]) for t in table.values())
    for k in range(L):
        fig = go.Figure()
        fig.add_bar(name="strict F1", x=names, y=[table[n]["layers"][k]["f1"][0] for n in names],
                    error_y={"array": [table[n]["layers"][k]["f1"][1] for n in names]})
        fig.add_bar(name="tolerant F1", x=names, y=[table[n]["layers"][k]["tolerant_f1"][0] for n in names])
        fig.add_bar(name="random F1 at the same rate", x=names, y=[table[n]["layers"][k]["random_f1"][0] for n in names])
        fig.add_bar(name="surprisal baseline F1", x=names, y=[table[n]["surprisal_f1"][0] for n in names])
        fig.update_layout(title=f"Layer {k + 1}: word-boundary F1 against gold whitespace (valid, mean over seeds)",
                          barmode="group", height=420)
        figs.append(fig)
    fig = go.Figure()
    fig.add_bar(x=names, y=[table[n]["bpc"][0] for n in names], error_y={"array": [table[n]["bpc"][1] for n in names]})
    fig.update_layout(title="BPC on the valid slice (mean, std over seeds)", height=360)
    figs.append(fig)
    for k in range(L):
        fig = go.Figure()
        for n in names:
            runs = [r for r in results if r["variant"] == n]
            steps = [c["step"] for c in runs[0]["curve"]]
            mean = [statistics.mean(r["curve"][i]["rates"][k] for r in runs if i < len(r["curve"]))
                    for i in range(len(steps))]
            fig.add_scatter(x=steps, y=mean, mode="lines", name=n)
        fig.update_layout(title=f"Layer {k + 1}: boundary rate over training (mean over seeds)",
                          xaxis_title="update", yaxis_range=[0, 1], height=420)
        figs.append(fig)
    rows = []
    for n in names:
        t = table[n]
        cells = "".join(f"<td>{_fmt(l['rate'])}</td><td>{_fmt(l['f1'])}</td><td>{_fmt(l['tolerant_f1'])}</td>"
                        f"<td>{_fmt(l['token_f1'])}</td><td>{_fmt(l['random_f1'])}</td>" for l in t["layers"])
        rows.append(f"<tr><td>{n}</td><td>{t['seeds']}</td><td>{_fmt(t['bpc'])}</td>{cells}"
                    f"<td>{_fmt(t['surprisal_f1'])}</td><td>{_fmt(t['surprisal_token_f1'])}</td>"
                    f"<td>{t['collapses']}</td></tr>")
    head = "".join(f"<th>L{k + 1} rate</th><th>L{k + 1} F1</th><th>L{k + 1} tol. F1</th><th>L{k + 1} token F1</th>"
                   f"<th>L{k + 1} random F1</th>" for k in range(L))
    parts = [pio.to_html(f, full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs)]
    budget = results[0]["chars"] if results else 0
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>HM-LSTM boundary study</title>
<style>body{{font:14px system-ui,sans-serif;margin:1.5rem;max-width:1400px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:2px 6px;text-align:right}}td:first-child{{text-align:left}}</style></head><body>
<h1>Do the boundaries mean anything?</h1>
<p>{len(results)} runs: {len(names)} variants x up to {args.seeds} seeds; {args.layers} x {args.hidden}, batch {args.batch},
BPTT {args.bptt}, a budget of {budget:,} training characters each; scored on the first {args.valid_chars:,} characters
of the valid split (test untouched). Mean ± std over seeds. Strict: the last letter of a word; tolerant: it or the
whitespace after it; token F1: on the text without whitespace. Baseline flags: {json.dumps(BASELINE)}. Variants
named "prior" go beyond the paper: "band" adds the collapse guard's loss (zero while a detector's rate is
inside the band), "rate" moves each detector's threshold toward a target rate after every update
(a controller on the z row's bias, not a loss).</p>
<table><tr><th>variant</th><th>seeds</th><th>BPC</th>{head}<th>surprisal F1</th><th>surprisal token F1</th>
<th>collapse events</th></tr>{''.join(rows)}</table>
{''.join(parts)}</body></html>"""
    path.write_text(html)


def _fmt(ms):
    m, s, n = ms
    return f"{m:.3f}" + (f" ± {s:.3f}" if n > 1 else "")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m model.study", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="study")
    p.add_argument("--data-dir")
    p.add_argument("--text-file")
    p.add_argument("--variants", default="all",
                   help="'all', 'paper', or comma-separated slugs (e.g. baseline,z-bias-0,layer-norm-off)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budget-chars", type=int, default=3_000_000)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--bptt", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--epochs-planned", type=float, default=1.0, help="the lr schedule's span, in epochs")
    p.add_argument("--valid-chars", type=int, default=100_000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    by_slug = {slug(v): v for v in VARIANTS}
    wanted = {"all": list(by_slug), "paper": [slug(v) for v in PAPER]}.get(args.variants) or \
        [v.strip() for v in args.variants.split(",")]
    unknown = [n for n in wanted if n not in by_slug]
    if unknown:
        p.error(f"unknown variants {unknown}; known: {list(by_slug)}")
    names = [by_slug[n] for n in wanted]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(n, s) for s in range(1, args.seeds + 1) for n in names]     # every variant's first seed first
    if not args.report_only:
        with ThreadPoolExecutor(args.jobs) as pool:
            failed = sum(r is None for r in pool.map(lambda job: run_one(*job, args), jobs))
        if failed:
            print(f"{failed} runs failed", file=sys.stderr)
    # the report covers every finished run in the folder, those of earlier invocations too
    results = [json.loads(f.read_text()) for f in sorted(out.glob("runs/*/results.json"))]
    write_report(results, out / "report.html", args)
    (out / "summary.json").write_text(json.dumps(summarise(results), indent=1))
    print(f"{len(results)} runs; report: {out / 'report.html'}", file=sys.stderr)


if __name__ == "__main__":
    main()
