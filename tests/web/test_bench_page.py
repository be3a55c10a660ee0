"""`python -m bench.page --json` runs and prints its contract (a smoke run at a tiny size; the
measured figures live in bench/RESULTS.md)."""
import json

import pytest

from bench import page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_bench_page_prints_keystroke_latencies(capsys, monkeypatch, checkpoint_dir):
    monkeypatch.setenv("LENS_CHECKPOINT_DIR", str(checkpoint_dir))
    monkeypatch.setenv("LENS_DEFAULT_MODEL", "toy-a")
    page.main(["--sizes", "80", "--keys", "3", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert {"chars", "model", "browser", "cpu", "cores", "met"} <= set(r)
    one = r["chars"]["80"]
    assert one["keystrokes"] == 3 and 0 < one["p50_ms"] <= one["p95_ms"] and one["request_p50_ms"] > 0
    assert r["model"] == "toy-a"


def test_bench_page_watches_the_strips_without_the_page_scrolling_back(capsys, monkeypatch, checkpoint_dir):
    """--watch strips types with the text box at the top of the screen and the strips below it; the browser
    does not scroll back to the caret (it would, from further down), so the strips stay watched."""
    monkeypatch.setenv("LENS_CHECKPOINT_DIR", str(checkpoint_dir))
    monkeypatch.setenv("LENS_DEFAULT_MODEL", "toy-a")
    page.main(["--sizes", "300", "--keys", "3", "--json", "--watch", "strips"])
    r = json.loads(capsys.readouterr().out)
    one = r["chars"]["300"]
    assert r["watching"] == "strips" and one["keystrokes"] == 3
    assert not one["page_scrolled_by_typing"] and "zgrid" in one["strips_on_screen"], one
