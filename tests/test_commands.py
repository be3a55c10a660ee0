"""Every command says a mistake in its command line in one line (exit 2), not with its usage block."""
import subprocess
import sys

import pytest

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
