"""The boundary study: variants x seeds under one budget, resumable, with a self-contained report."""
import json
import re

import pytest

from model import study
from tests.helpers import toy_corpus

pytestmark = pytest.mark.slow


def test_study_runs_variants_and_writes_a_self_contained_report(tmp_path):
    args = ["--out", str(tmp_path / "s"), "--text-file", str(toy_corpus(tmp_path, lines=400)),
            "--variants", "baseline,nested-boundaries", "--seeds", "2", "--budget-chars", "16000",
            "--hidden", "12", "--embed", "6", "--batch", "4", "--bptt", "40", "--valid-chars", "1500", "--jobs", "2"]
    study.main(args)
    results = sorted((tmp_path / "s" / "runs").glob("*/results.json"))
    assert len(results) == 4
    r = json.loads(results[0].read_text())
    assert r["chars"] == 100 * 4 * 40 and 0 < r["valid"]["chars"] <= 1500
    assert {l["layer"] for l in r["valid"]["layers"]} == {1, 2}
    html = (tmp_path / "s" / "report.html").read_text()
    assert "nested boundaries" in html and "http" not in html.split("<body>")[1].split("<script")[0]
    assert html.count("plotly.js v") >= 1                                      # plotly.js inline
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?:', html)      # nothing loaded from elsewhere
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["baseline"]["seeds"] == 2
    # a second call reuses the finished runs
    before = results[0].stat().st_mtime
    study.main(args)
    assert results[0].stat().st_mtime == before


def test_unknown_variant_is_an_error(tmp_path):
    with pytest.raises(SystemExit):
        study.main(["--out", str(tmp_path), "--variants", "no such thing"])
