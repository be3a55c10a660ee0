"""Every command says a mistake in its command line in one line (exit 2), not with its usage block."""
import os
import subprocess
import sys

import pytest
import torch

from tests.helpers import ROOT

COMMANDS = ["model.train", "model.evaluate", "model.probe", "model.study", "model.checkpoint", "model.traces", "app",
            "bench.latency", "bench.load", "bench.page", "bench.throughput"]


@pytest.mark.parametrize("module", COMMANDS)
def test_a_mistaken_option_is_one_line(module):
    done = subprocess.run([sys.executable, "-m", module, "--no-such-option"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    said = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in said, said
    assert said.startswith(f"python -m {module}: ") and said.endswith("(--help lists the options)")   # (or a missing one)


@pytest.mark.parametrize("module,args,message", [
    ("bench.throughput", ["--steps", "0"], "--steps must be at least 1"),
    ("bench.throughput", ["--device", "foo"], "is not a device"),
    ("bench.latency", ["--repeats", "0"], "--repeats must be at least 1"),
    ("bench.load", ["--connections", "0"], "--connections must be at least 1"),
    ("bench.page", ["--sizes", "100,x"], "--sizes takes lengths separated by commas"),
    ("model.study", ["--budget-chars", "-5"], "--budget-chars must be at least 1"),
])
def test_a_number_out_of_range_is_one_line_before_anything_runs(module, args, message):
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    said = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in said and message in said, said


@pytest.mark.parametrize("args,message", [
    (["--compare", "LENS_MAX_TEXT_CHARS=abc"], "the server did not start (exit code 1: lens: LENS_MAX_TEXT_CHARS"),
    (["--model", "no-such-model"], "the server answered 404 to /api/text: "),
])
def test_a_benchmarks_server_failing_is_one_line_with_its_reason(args, message):
    done = subprocess.run([sys.executable, "-m", "bench.latency", "--no-memory", "--repeats", "1", "--chars", "10", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    said = done.stderr.strip()
    assert done.returncode == 1 and "\n" not in said and said.startswith("python -m bench.latency: ") and message in said, said


@pytest.mark.parametrize("module", ["model.evaluate", "model.train", "app"])
def test_a_wrong_loops_variable_is_one_line(module):
    env = {**os.environ, "HMLSTM_LOOPS": "fortran"}
    done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    said = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in said, said
    assert said == f"python -m {module}: error: HMLSTM_LOOPS must be one of auto, cpp, triton, python, not 'fortran'"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the Triton loops run on a GPU")
def test_the_triton_loops_off_a_gpu_without_the_interpreter_are_one_line():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-m", "bench.throughput", "--backend", "triton"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    said = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in said and "TRITON_INTERPRET=1" in said, said
