"""Do the boundaries mean anything? Train variants under one budget, several seeds each,
evaluate them on valid, and write a self-contained HTML report.

    python -m model.study --out study --budget-chars 3000000 --seeds 3 --jobs 2
    python -m model.study --out study-nospace --no-spaces --budget-chars 2000000 --seeds 3
    python -m model.study --out study --report-only          (rebuild the report from results)

Each run is `model.train` with one factor changed from the baseline (a small model, a budget
in characters, not minutes), then `model.evaluate`'s scores on a slice of the valid split.
With spaces: BPC, and per layer the boundary rate, strict and tolerant word-boundary F1,
word-token F1 and the random F1 at the same rate, beside the surprisal-peak baseline of the
same model. Without spaces (DESIGN.md section 8): BPC, and per layer the rate, the lag and the
token and boundary F1 beside random boundaries at its rate, and the model's own surprisal and
entropy baselines (their thresholds chosen on the same slice). Runs that finished are kept
(results.json) and skipped when the study is run again. Test is never touched: choices are
made on valid.
"""
from __future__ import annotations

import html
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, NamedTuple

from model.cli import Parser, flag

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
# without spaces (issue 14): the project's defaults as the baseline, the paper's objective alone
# as its own row, one factor at a time; "beyond" rows add an objective from the boundary literature
SPACELESS_BASELINE = {"--layer-norm": "gates", "--z-bias": "0.5", "--slope-rate": "0.04"}
SPACELESS_VARIANTS = {
    "baseline": {},
    "paper objective alone (no guard)": {"--z-band": "off"},
    "z-bias +2": {"--z-bias": "2"},
    "slope fast (+1/epoch)": {"--slope-rate": "1.0"},
    "nested boundaries": {"--nested": None},
    "prior: rates 0.2 / 0.1": {"--z-rate": "0.2/0.1"},
    "beyond: ratio loss N = 5 / 10": {"--ratio-target": "5/10"},
    "beyond: entropy guide, layer 1 at 0.2": {"--entropy-guide": "0.2/none"},
    "beyond: entropy guide, layer 2 at 0.2": {"--entropy-guide": "none/0.2"},
    "beyond: entropy guide, layer 1 at 0.2, lag 1": {"--entropy-guide": "0.2/none", "--entropy-guide-lag": "1"},
    "beyond: entropy guide, layer 2 at 0.2, lag 1": {"--entropy-guide": "none/0.2", "--entropy-guide-lag": "1"},
    "beyond: entropy guide, layer 2 at 0.2, lag 1, weight 0.2": {
        "--entropy-guide": "none/0.2", "--entropy-guide-lag": "1", "--entropy-guide-weight": "0.2"},
    "beyond: entropy guide, layer 2 at 0.2, lag 1, weight 0.05": {
        "--entropy-guide": "none/0.2", "--entropy-guide-lag": "1", "--entropy-guide-weight": "0.05"},
}
PAPER = [v for v in VARIANTS if not v.startswith("prior")]


def baseline_of(args) -> dict:
    return SPACELESS_BASELINE if args.no_spaces else BASELINE


def variants_of(args) -> dict:
    return SPACELESS_VARIANTS if args.no_spaces else VARIANTS


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def run_one(name: str, seed: int, args) -> dict:
    """Train and evaluate one (variant, seed); results.json makes it resumable."""
    folder = Path(args.out).resolve() / "runs" / f"{slug(name)}-seed{seed}"     # the run's cwd is the package's
    done = folder / "results.json"
    if done.is_file():
        return json.loads(done.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    updates = max(1, args.budget_chars // (args.batch * args.bptt))
    flags = {**baseline_of(args), **variants_of(args)[name]}
    cmd = [sys.executable, "-m", "model.train", "--task", "text", "--out", str(folder / "checkpoint"),
           "--run-dir", str(folder / "run"), "--layers", str(args.layers), "--hidden", str(args.hidden),
           "--embed", str(args.embed), "--batch", str(args.batch), "--bptt", str(args.bptt),
           "--max-updates", str(updates), "--epochs", str(args.epochs_planned), "--seed", str(seed),
           "--lr", str(args.lr), "--no-progress", "--threads", "1", "--log-every", "10",
           "--valid-chars", str(args.valid_chars), "--replace-out"]      # the study's own folder
    if args.data_dir:
        cmd += ["--data-dir", str(Path(args.data_dir).resolve())]
    if args.text_file:
        cmd += ["--text-file", str(Path(args.text_file).resolve())]
    if args.no_spaces:
        cmd.append("--no-spaces")
    for k, v in flags.items():
        cmd += [k] if v is None else [k, v]
    if (folder / "run" / "trainer.json").is_file():
        cmd.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"model.study: training {name}, seed {seed} ({updates} updates)", file=sys.stderr)
    done_run = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done_run.returncode:
        last = (done_run.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"{name} seed {seed}: training failed ({last}); left out of the report", file=sys.stderr)
        return None
    # the model as it is at the end of the budget (a fixed budget: no choosing among epochs)
    from model.data import Vocabulary, load_corpus
    from model.evaluate import SpacelessRun, spaceless_report, text_report
    from model.runs import load_run_model
    model, saved = load_run_model(folder / "run")
    vocab = Vocabulary(saved["data"]["vocabulary"])                       # the alphabet model.train read
    valid = load_corpus(args.data_dir, args.text_file)["valid"][:args.valid_chars]
    if args.no_spaces:
        report = spaceless_report(SpacelessRun.of_split(model, vocab, valid), None, "valid slice")
    else:
        report = text_report(model, vocab, valid, threshold_from="valid slice")
    log = [json.loads(line) for line in (folder / "run.jsonl").read_text().splitlines()]
    curve = [{"step": r["step"], "rates": r["boundary_rate"], "bpc": r.get("bpc")} for r in log if r["event"] == "train"]
    collapses = [r for r in log if r["event"] == "collapse"]
    # what was trained (the schedule's --epochs-planned may end a run before the budget is spent)
    result = {"variant": name, "seed": seed, "flags": flags, "updates": saved["step"],
              "chars": saved["positions_seen"], "budget_chars": updates * args.batch * args.bptt, "valid": report,
              "curve": curve, "collapse_events": collapses}
    done.write_text(json.dumps(result))
    print(f"model.study: {name}, seed {seed}: valid BPC {report['bpc']:.3f}", file=sys.stderr)
    return result


# --- the report ------------------------------------------------------------------------

class Column(NamedTuple):
    key: str
    label: str
    get: Callable[[dict], float]


# what the report shows of a run (run-level) and of each of its layers, with and without spaces
RUN_COLUMNS = {
    True: [Column("bpc", "BPC", lambda v: v["bpc"]),
           Column("surprisal_f1", "surprisal F1", lambda v: v["baselines"]["surprisal"]["f1"]),
           Column("surprisal_token_f1", "surprisal token F1", lambda v: v["baselines"]["surprisal"]["word_token_f1"])],
    False: [Column("bpc", "BPC", lambda v: v["bpc"]),
            Column("surprisal_token_f1", "surprisal token F1", lambda v: v["baselines"]["surprisal"]["token"]["f1"]),
            Column("entropy_token_f1", "entropy token F1", lambda v: v["baselines"]["entropy"]["token"]["f1"]),
            Column("entropy_boundary_f1", "entropy boundary F1",
                   lambda v: v["baselines"]["entropy"]["boundary"]["f1"])],
}
LAYER_COLUMNS = {
    True: [Column("rate", "rate", lambda x: x["boundary_rate"]),
           Column("f1", "F1", lambda x: x["word_boundary"]["f1"]),
           Column("tolerant_f1", "tol. F1", lambda x: x["word_boundary_tolerant"]["f1"]),
           Column("token_f1", "token F1", lambda x: x["word_token_f1"]),
           Column("random_f1", "random F1", lambda x: x["random_f1"])],
    False: [Column("rate", "rate", lambda x: x["boundary_rate"]),
            Column("lag", "lag", lambda x: x["lag"]),
            Column("token_f1", "token F1", lambda x: x["token"]["f1"]),
            Column("boundary_f1", "boundary F1", lambda x: x["boundary"]["f1"]),
            Column("random_token_f1", "random token F1", lambda x: x["random"]["token"]["f1"])],
}
NOT_SCORES = ("rate", "lag", "bpc")


def _spaces(results: list[dict]) -> bool:
    return not results or results[0]["valid"].get("spaces", True)


def summarise(results: list[dict]) -> dict:
    """variant -> per metric, {"mean", "std", "n"} over its seeds."""
    spaces = _spaces(results)
    by: dict[str, list] = {}
    for r in results:
        by.setdefault(r["variant"], []).append(r)
    table = {}
    for name, runs in by.items():
        row = {"seeds": len(runs), "collapses": sum(len(r["collapse_events"]) for r in runs),
               **{c.key: _ms([c.get(r["valid"]) for r in runs]) for c in RUN_COLUMNS[spaces]}, "layers": []}
        for k, layer in enumerate(runs[0]["valid"]["layers"]):
            row["layers"].append({"layer": layer["layer"], **{
                c.key: _ms([c.get(r["valid"]["layers"][k]) for r in runs]) for c in LAYER_COLUMNS[spaces]}})
        table[name] = row
    return table


def _ms(xs) -> dict:
    return {"mean": statistics.mean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0, "n": len(xs)}


def write_report(results: list[dict], path: Path, args) -> None:
    import plotly.graph_objects as go
    import plotly.io as pio
    spaces = _spaces(results)
    table = summarise(results)
    order = list(VARIANTS) + [v for v in SPACELESS_VARIANTS if v not in VARIANTS]
    names = [v for v in order if v in table]
    run_cols, layer_cols = RUN_COLUMNS[spaces], LAYER_COLUMNS[spaces]
    figs = []
    L = max(len(t["layers"]) for t in table.values())
    for k in range(L):
        fig = go.Figure()
        for c in layer_cols:
            if c.key not in NOT_SCORES:
                fig.add_bar(name=c.label, x=names, y=[table[n]["layers"][k][c.key]["mean"] for n in names],
                            error_y={"array": [table[n]["layers"][k][c.key]["std"] for n in names]})
        for c in run_cols:
            if c.key not in NOT_SCORES:
                fig.add_bar(name=f"baseline: {c.label}", x=names, y=[table[n][c.key]["mean"] for n in names])
        what = "word-boundary F1 against gold whitespace" if spaces else "word discovery without spaces"
        fig.update_layout(title=f"Layer {k + 1}: {what} (valid, mean over seeds)", barmode="group", height=440)
        figs.append(fig)
    fig = go.Figure()
    fig.add_bar(x=names, y=[table[n]["bpc"]["mean"] for n in names], error_y={"array": [table[n]["bpc"]["std"] for n in names]})
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
        cells = "".join(f"<td>{_fmt(layer[c.key])}</td>" for layer in t["layers"] for c in layer_cols)
        rows.append(f"<tr><td>{html.escape(n)}</td><td>{t['seeds']}</td>{cells}"
                    + "".join(f"<td>{_fmt(t[c.key])}</td>" for c in run_cols) + f"<td>{t['collapses']}</td></tr>")
    head = "".join(f"<th>L{k + 1} {c.label}</th>" for k in range(L) for c in layer_cols)
    head += "".join(f"<th>{c.label}</th>" for c in run_cols)
    parts = [pio.to_html(f, full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs)]
    budget = results[0].get("budget_chars", results[0]["chars"]) if results else 0
    trained = sorted({r["chars"] for r in results})
    if trained and trained != [budget]:       # the schedule (--epochs-planned) ended some runs before the budget
        budget = f"{budget:,} (trained: {trained[0]:,}" + (f" to {trained[-1]:,}" if len(trained) > 1 else "") + ")"
    else:
        budget = f"{budget:,}"
    if spaces:
        setting = ("Strict: the last letter of a word; tolerant: it or the whitespace after it; token F1: on the "
                   "text without whitespace. The surprisal baseline's threshold matches the gold rate.")
        title = "Do the boundaries mean anything?"
    else:
        setting = ("Text read without its spaces (DESIGN.md section 8): token and boundary F1 line by line; a layer "
                   "is read at the lag (0: a boundary after the character, 1: before it) with the better token F1; "
                   "random: boundaries at the layer's rate (5 draws); the surprisal and entropy baselines' "
                   "thresholds are chosen on the same slice for the best token F1 (a supervised choice; the "
                   "detectors use no label).")
        title = "Do the detectors find words without spaces?"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>HM-LSTM boundary study</title>
<style>body{{font:14px system-ui,sans-serif;margin:1.5rem;max-width:1400px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:2px 6px;text-align:right}}td:first-child{{text-align:left}}</style></head><body>
<h1>{title}</h1>
<p>{len(results)} runs: {len(names)} variants x up to {args.seeds} seeds; {args.layers} x {args.hidden}, batch {args.batch},
BPTT {args.bptt}, a budget of {budget} training characters each; scored on the first {args.valid_chars:,} characters
of the valid split (test untouched). Mean ± std over seeds. {setting} Baseline flags:
{html.escape(json.dumps(baseline_of(args)))}. Variants named "prior" go beyond the paper: "band" adds the collapse
guard's loss (zero while a detector's rate is inside the band), "rate" moves each detector's threshold toward a
target rate after every update (a controller on the z row's bias, not a loss); "beyond" rows add an objective from
the boundary literature: H-Net's ratio loss toward a downsampling factor N, or the entropy guide (a detector pulled
toward firing where the model's own next-character entropy is highest in its batch).</p>
{"" if spaces else _choice_paragraph(table)}
<table><tr><th>variant</th><th>seeds</th>{head}<th>collapse events</th></tr>{''.join(rows)}</table>
{''.join(parts)}</body></html>"""
    path.write_text(page)


def choice(table: dict) -> dict | None:
    """The recipe the spaceless study picks: the variant whose best layer has the highest mean valid
    token F1, beside its own entropy baseline and the paper's objective alone."""
    best_of = {n: max(t["layers"], key=lambda l: l["token_f1"]["mean"]) for n, t in table.items()}
    if not best_of:
        return None
    chosen = max(best_of, key=lambda n: best_of[n]["token_f1"]["mean"])
    out = {"variant": chosen, "layer": best_of[chosen]["layer"], "token_f1": best_of[chosen]["token_f1"],
           "entropy_token_f1": table[chosen]["entropy_token_f1"], "bpc": table[chosen]["bpc"],
           "beyond_the_paper": chosen.startswith(("beyond", "prior"))}
    paper = "paper objective alone (no guard)"
    if paper in best_of:
        out["paper_objective"] = {"layer": best_of[paper]["layer"], "token_f1": best_of[paper]["token_f1"]}
    return out


def _choice_paragraph(table: dict) -> str:
    c = choice(table)
    if not c:
        return ""
    text = (f"Chosen on valid: <b>{html.escape(c['variant'])}</b>, whose layer {c['layer']} has the best mean "
            f"word-token F1, {_fmt(c['token_f1'])}, against {_fmt(c['entropy_token_f1'])} for the same runs' "
            f"entropy peaks; BPC {_fmt(c['bpc'])}.")
    if c["beyond_the_paper"]:
        text += " It goes beyond the paper's objective"
        if "paper_objective" in c:
            p = c["paper_objective"]
            text += f", which alone scores {_fmt(p['token_f1'])} (its best layer, {p['layer']})"
        text += "."
    return f"<p>{text}</p>"


def _fmt(ms: dict) -> str:
    return f"{ms['mean']:.3f}" + (f" ± {ms['std']:.3f}" if ms["n"] > 1 else "")


# what every run of a study shares; a study folder holds runs of one setting (more variants and seeds may join)
SHARED = ("no_spaces", "budget_chars", "layers", "hidden", "embed", "batch", "bptt", "lr", "epochs_planned",
          "valid_chars", "data_dir", "text_file")


def settings_problem(out: Path, args) -> str | None:
    """Why the runs in `out` cannot be joined by this call's (None if they can): their settings differ.
    The first call's are kept in study.json."""
    mine = {k: getattr(args, k) for k in SHARED}
    for k in ("data_dir", "text_file"):
        mine[k] = mine[k] and str(Path(mine[k]).resolve())
    kept = out / "study.json"
    if not kept.is_file():
        kept.write_text(json.dumps(mine, indent=1))
        return None
    try:
        theirs = json.loads(kept.read_text())
    except (OSError, ValueError) as e:
        return f"{kept} cannot be read ({e})"
    differ = [f"{flag(k)} {theirs.get(k)} there, {mine[k]} here" for k in SHARED if theirs.get(k) != mine[k]]
    if differ:
        return f"{out} holds runs of other settings ({'; '.join(differ)}): give another --out"
    return None


def main(argv=None):
    p = Parser(prog="python -m model.study", description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument("--out", default="study")
    p.add_argument("--data-dir")
    p.add_argument("--text-file")
    p.add_argument("--no-spaces", action="store_true", help="the spaceless setting (DESIGN.md section 8)")
    p.add_argument("--variants", default="all",
                   help="'all', 'paper', or comma-separated slugs of: "
                        + ", ".join(slug(v) for v in {**VARIANTS, **SPACELESS_VARIANTS}))
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
    p.at_least(args, 1, "seeds", "budget_chars", "layers", "hidden", "embed", "batch", "bptt", "valid_chars", "jobs")
    if not (args.lr > 0 and args.epochs_planned > 0):
        p.error("--lr and --epochs-planned must be positive")
    by_slug = {slug(v): v for v in variants_of(args)}
    wanted = {"all": list(by_slug), "paper": [slug(v) for v in PAPER]}.get(args.variants) or \
        [v.strip() for v in args.variants.split(",")]
    unknown = [n for n in wanted if n not in by_slug]
    if unknown:
        p.error(f"unknown variants {unknown}; known: {list(by_slug)}")
    names = [by_slug[n] for n in wanted]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        p.error(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        p.error(f"--out {out} cannot be made ({e.strerror or e})")
    problem = settings_problem(out, args)
    if problem:
        sys.exit(f"model.study: {problem}")
    jobs = [(n, s) for s in range(1, args.seeds + 1) for n in names]     # every variant's first seed first
    if not args.report_only:
        try:
            with ThreadPoolExecutor(args.jobs) as pool:
                failed = sum(r is None for r in pool.map(lambda job: run_one(*job, args), jobs))
        except KeyboardInterrupt:          # the runs under way got the Ctrl-C too, and saved
            sys.exit("model.study: stopped; the finished runs and the saved ones are kept: run it again to go on")
        if failed:
            print(f"{failed} runs failed", file=sys.stderr)
    # the report covers every finished run in the folder, those of earlier invocations too
    results = [json.loads(f.read_text()) for f in sorted(out.glob("runs/*/results.json"))]
    if not results:
        sys.exit(f"model.study: no finished run in {out}: nothing to report")
    write_report(results, out / "report.html", args)
    (out / "summary.json").write_text(json.dumps(summarise(results), indent=1))
    print(f"{len(results)} runs; report: {out / 'report.html'}", file=sys.stderr)


if __name__ == "__main__":
    main()
