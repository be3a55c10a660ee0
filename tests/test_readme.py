"""README's table of checkpoints quotes each bundled text checkpoint's own measured BPC."""
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
