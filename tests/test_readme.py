"""README says what is so: its table quotes each bundled text checkpoint's own measured BPC, and its commands take the
options it gives them."""
import json
import re

import pytest

from tests.helpers import ROOT

ROW = re.compile(r"^\| `([\w-]+)`.*$", re.M)
BPC = re.compile(r"test BPC \**(\d\.\d+)\**[^(|]*\(valid (\d\.\d+)")


def text_rows() -> dict[str, str]:
    table = (ROOT / "README.md").read_text().split("## Checkpoints", 1)[1]
    return {m.group(1): m.group(0) for m in ROW.finditer(table) if BPC.search(m.group(0))}


def test_every_bundled_text_checkpoint_has_a_row():
    bundled = {p.parent.name for p in (ROOT / "checkpoints").glob("*/config.json")
               if json.loads(p.read_text())["task"] == "text"}
    assert bundled and bundled == set(text_rows())


@pytest.mark.parametrize("name", sorted(text_rows()))
def test_the_quoted_bpc_is_the_checkpoints_own(name):
    metrics = json.loads((ROOT / "checkpoints" / name / "config.json").read_text())["metrics"]
    test, valid = map(float, BPC.search(text_rows()[name]).groups())
    assert (test, valid) == (round(metrics["test"]["bpc"], 3), round(metrics["valid"]["bpc"], 3))


OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def test_the_commands_in_readme_take_the_options_it_gives_them():
    """Each `python -m M ...` in README (a line, with its continuations) uses only options M's --help lists,
    and every option named in the prose is one of some command's (pip's and torchrun's aside)."""
    import subprocess
    import sys
    text = (ROOT / "README.md").read_text()
    helps = {}
    for module in sorted(set(re.findall(r"python -m ([a-z_.]+)", text))):
        run = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, (module, run.stderr[-500:])
        helps[module] = set(OPTION.findall(run.stdout))
    wrong = [(m.group(1), sorted(set(OPTION.findall(m.group(2))) - helps[m.group(1)]))
             for line in text.replace("\\\n", " ").splitlines()
             for m in re.finditer(r"python -m ([a-z_.]+)([^`#|]*)", line)]
    assert [w for w in wrong if w[1]] == []
    assert set(OPTION.findall(text)) - set().union(*helps.values()) == {"--index-url", "--nproc-per-node"}
