"""The benchmark commands run and print the JSON of their contracts (DESIGN.md section 6).
They are smoke runs at tiny sizes; the measured figures live in bench/RESULTS.md."""
import json

import pytest

from bench import latency, load, throughput

pytestmark = pytest.mark.slow


def test_throughput_prints_its_contract(capsys):
    throughput.main(["--layers", "2", "--hidden", "16", "--batch", "2", "--length", "10", "--rounds", "2",
                     "--steps", "1", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert {"hmlstm_chars_per_s", "lstm_chars_per_s", "ratio", "device"} <= set(r)
    assert r["ratio"] == pytest.approx(r["hmlstm_chars_per_s"] / r["lstm_chars_per_s"], rel=0.5)
    assert r["backend"] == "cpp" and len(r["hmlstm_rounds"]) == 2


def test_latency_and_load_print_their_contracts(capsys, monkeypatch, checkpoint_dir):
    monkeypatch.setenv("LENS_CHECKPOINT_DIR", str(checkpoint_dir))
    monkeypatch.setenv("LENS_DEFAULT_MODEL", "toy-a")
    monkeypatch.setenv("LENS_MAX_TEXT_CHARS", "200")
    monkeypatch.setenv("LENS_CACHE_ENTRIES", "4")
    latency.main(["--chars", "100", "--repeats", "3", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert {"full_p50_ms", "full_p95_ms", "incremental_p50_ms", "incremental_p95_ms", "chars", "rss_mb"} <= set(r)
    assert r["chars"] == 100 and r["rss_mb"] > 0 and r["incremental_reused_prefix_min"] == 100
    load.main(["--connections", "2", "--seconds", "2", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert r["ok"] > 0 and r["errors"] == 0 and "limits" in r
