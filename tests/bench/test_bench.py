"""The benchmark commands run and print the JSON of their contracts (DESIGN.md section 6).
They are smoke runs at tiny sizes; the measured figures live in bench/RESULTS.md."""
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from bench import latency, load, throughput

pytestmark = pytest.mark.slow


def test_throughput_prints_its_contract(capsys):
    throughput.main(["--layers", "2", "--hidden", "16", "--batch", "2", "--length", "10", "--rounds", "2",
                     "--steps", "1", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert {"hmlstm_chars_per_s", "lstm_chars_per_s", "ratio", "device"} <= set(r)
    # the ratio is the median of the rounds' ratios (each round times both side by side)
    per_round = [a / b for a, b in zip(r["hmlstm_rounds"], r["lstm_rounds"])]
    assert r["ratio"] == pytest.approx(statistics.median(per_round)) and r["ratio_min"] == min(per_round)
    assert r["hmlstm_chars_per_s"] == statistics.median(r["hmlstm_rounds"]) > 0
    assert r["backend"] == "cpp" and len(r["hmlstm_rounds"]) == 2
    assert r["step_product"] == "mm" and r["cpu"]           # batch 2: matrix-vector products are not packed


def test_throughput_measures_the_product_paths_side_by_side(capsys):
    from model.loops import cpp
    chosen = cpp.extension().step_product_path(16, 20)         # auto: picked by the CPU's vendor
    throughput.main(["--layers", "1", "--hidden", "16", "--batch", "16", "--length", "20", "--rounds", "2",
                     "--steps", "1", "--products", ",".join(cpp.STEP_PRODUCTS), "--json"])
    out = capsys.readouterr()
    r = json.loads(out.out)
    assert set(r["products"]) == set(cpp.STEP_PRODUCTS) and all(len(v["rounds"]) == 2 for v in r["products"].values())
    assert r["hmlstm_rounds"] == r["products"][cpp.STEP_PRODUCT]["rounds"]    # the chosen path's figures on top
    assert "hmlstm:mm" in out.err and r["step_product"] == chosen           # switched back to the chosen one after
    # without the chosen path, the top-level figures and the path named are the one measured
    throughput.main(["--layers", "1", "--hidden", "16", "--batch", "16", "--length", "20", "--rounds", "2",
                     "--steps", "1", "--products", "mm", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert r["step_product"] == "mm" and r["hmlstm_rounds"] == r["products"]["mm"]["rounds"]
    assert cpp.extension().step_product_path(16, 20) == chosen              # the process's own setting again


def test_throughput_products_need_the_cpp_loops(capsys):
    with pytest.raises(SystemExit):
        throughput.main(["--layers", "1", "--hidden", "8", "--batch", "2", "--length", "5", "--products", "packed",
                         "--backend", "python"])
    with pytest.raises(SystemExit):
        throughput.main(["--products", "fastest"])
    assert "--products" in capsys.readouterr().err


def test_latency_and_load_print_their_contracts(capsys, monkeypatch, checkpoint_dir):
    monkeypatch.setenv("LENS_CHECKPOINT_DIR", str(checkpoint_dir))
    monkeypatch.setenv("LENS_DEFAULT_MODEL", "toy-a")
    monkeypatch.setenv("LENS_MAX_TEXT_CHARS", "200")
    monkeypatch.setenv("LENS_CACHE_ENTRIES", "4")
    latency.main(["--chars", "100", "--repeats", "3", "--json"])          # DESIGN's command: rss_mb included
    r = json.loads(capsys.readouterr().out)
    assert {"full_p50_ms", "full_p95_ms", "incremental_p50_ms", "incremental_p95_ms", "chars", "rss_mb"} <= set(r)
    assert r["chars"] == 100 and r["rss_mb"] > 0 and r["incremental_reused_prefix_min"] == 100
    assert 0 < r["rows_computed_share"] < 1 and r["cpu"] and r["solo_run_threads"] == 2
    assert r["delta_p50_ms"] > 0 and r["delta_of_positions"] == 101 and r["delta_positions_sent_max"] <= 10
    latency.main(["--chars", "100", "--repeats", "2", "--json", "--no-memory", "--compare", "LENS_SOLO_RUN_THREADS=1",
                  "LENS_SOLO_RUN_THREADS=1,HMLSTM_HALF_WEIGHTS=0"])
    r = json.loads(capsys.readouterr().out)
    assert set(r["variants"]) == {"LENS_SOLO_RUN_THREADS=1", "LENS_SOLO_RUN_THREADS=1,HMLSTM_HALF_WEIGHTS=0"}
    one = r["variants"]["LENS_SOLO_RUN_THREADS=1"]
    assert r["rss_mb"] is None and one["full_p50_ratio"] == one["full_p50_ms"] / r["full_p50_ms"]
    with pytest.raises(SystemExit):
        latency.main(["--compare", "LENS_SOLO_RUN_THREADS"])
    load.main(["--connections", "2", "--seconds", "2", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert r["ok"] > 0 and r["errors"] == 0 and "limits" in r


def test_gpu_session_trains_every_run_of_its_plan(tmp_path):
    """The one-command lease script, without a GPU: each plan line becomes a checkpoint in the
    packed results, {minutes} filled in, comments skipped, Adam's state left behind."""
    ptb = tmp_path / "ptb"
    ptb.mkdir()
    line = " ".join("_" if c == " " else c for c in "the market rose in new york as investors bought")
    for split in ("train", "valid", "test"):
        (ptb / f"ptb.char.{split}.txt").write_text((line + "\n") * 60)
    tiny = "--layers 2 --hidden 8 --embed 4 --batch 4 --bptt 20 --eval-batch 4 --max-updates 3"
    plan = tmp_path / "tiny.plan"
    ink = f"--task ink --synthetic 12 --stop-lines 2 --data-dir {{ink}} {tiny}"
    plan.write_text(f"# a comment\n\nrun-a {tiny} --lr-minutes {{minutes}}\nrun-b {tiny} --z-bias 2 --lr-minutes {{minutes}}\n"
                    f"run-c {ink} --lr-minutes {{minutes}}\n")
    out = tmp_path / "out"
    out.mkdir()
    from tests.helpers import ROOT as root
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"     # its python3 is this one
    subprocess.run(["bash", "bench/gpu_session.sh", str(out), "240", str(ptb), str(plan)], cwd=root,
                   env={**os.environ, "CHECKS": "0", "BENCH": "0", "PATH": path, "INK": str(tmp_path / "iam")},
                   timeout=300, check=True,
                   capture_output=True)
    packed = b"".join(p.read_bytes() for p in sorted(out.glob("results.tar.part-*")))
    with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
        names = set(tar.getnames())
        configs = {run: json.load(tar.extractfile(f"./{run}/config.json")) for run in ("run-a", "run-b", "run-c")}
    assert {"./run-a/weights.safetensors", "./run-b/weights.safetensors", "./runs/run-a.jsonl"} <= names
    assert not any(n.startswith("./runs/run-a/") for n in names)           # the run state stays behind
    assert configs["run-a"]["model"]["z_bias"] == 0.5 and configs["run-b"]["model"]["z_bias"] == 2.0
    command = configs["run-b"]["training"]["command"]
    assert "{minutes}" not in command and "--lr-minutes 1." in command
    assert configs["run-c"]["task"] == "ink" and f"--data-dir {tmp_path / 'iam'} " in configs["run-c"]["training"]["command"]
    assert "== 3. training" in (out / "session.log").read_text()


def test_the_step_product_can_be_chosen_for_the_cpu():
    env = {**os.environ, "HMLSTM_STEP_PRODUCT": "mm"}
    done = subprocess.run([sys.executable, "-m", "bench.throughput", "--layers", "1", "--hidden", "8", "--batch", "8",
                           "--length", "20", "--rounds", "1", "--steps", "1", "--json"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-500:]
    assert json.loads(done.stdout)["step_product"] == "mm"


@pytest.mark.parametrize("plan", sorted((Path(__file__).parents[2] / "bench" / "plans").glob("*.plan")),
                         ids=lambda p: p.name)
def test_every_bundled_plan_line_is_a_command_model_train_takes(plan):
    """A lease is 15 minutes: a plan whose flags model.train no longer takes would spend it on an error. Each
    line, with the script's own common flags, goes through model.train's parser and checks."""
    import re
    import shlex

    from model import train
    script = (plan.parents[1] / "gpu_session.sh").read_text()
    common = re.search(r'^T="python3 -m model\.train (.*?)"$', script, re.S | re.M).group(1)
    common = common.replace("$PTB", "ptb").replace("$MAXMIN", "5")
    lines = [ln.split(None, 1) for ln in plan.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines
    for name, flags in lines:
        argv = shlex.split(common) + ["--out", f"out/{name}"] + shlex.split(flags.replace("{minutes}", "5")
                                                                           .replace("{ink}", "iam"))
        train.parse_args(argv)
