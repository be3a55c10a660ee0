"""The boundary study: variants x seeds under one budget, resumable, with a self-contained report."""
import json
import re

import pytest

from model import study
from tests.helpers import ROOT, toy_corpus

pytestmark = pytest.mark.slow


def test_study_runs_variants_and_writes_a_self_contained_report(tmp_path):
    args = ["--out", str(tmp_path / "s"), "--text-file", str(toy_corpus(tmp_path, lines=400)),
            "--variants", "baseline,nested-boundaries", "--seeds", "2", "--budget-chars", "16000",
            "--hidden", "12", "--embed", "6", "--batch", "4", "--bptt", "40", "--valid-chars", "1500", "--jobs", "2"]
    study.main(args)
    results = sorted((tmp_path / "s" / "runs").glob("*/results.json"))
    assert len(results) == 4
    r = json.loads(results[0].read_text())
    assert 0 < r["updates"] <= 100 and r["budget_chars"] == 100 * 4 * 40 and 0 < r["chars"] <= r["budget_chars"]
    assert 0 < r["valid"]["chars"] <= 1500
    assert {l["layer"] for l in r["valid"]["layers"]} == {1, 2}
    html = (tmp_path / "s" / "report.html").read_text()
    assert "nested boundaries" in html and "http" not in html.split("<body>")[1].split("<script")[0]
    assert html.count("plotly.js v") >= 1                                      # plotly.js inline
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?:', html)      # nothing loaded from elsewhere
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["baseline"]["seeds"] == 2
    bpc = summary["baseline"]["bpc"]                    # each figure named, not a bare [mean, std, n]
    assert set(bpc) == {"mean", "std", "n"} and bpc["n"] == 2 and bpc["mean"] > 0 and bpc["std"] >= 0
    # a second call reuses the finished runs
    before = results[0].stat().st_mtime
    study.main(args)
    assert results[0].stat().st_mtime == before


def test_relative_paths_are_the_callers_and_each_run_is_said(tmp_path, monkeypatch, capsys):
    """The training runs start in the package's folder: --out and --text-file given relative to where the
    command was called must still mean there."""
    toy_corpus(tmp_path, lines=200)
    monkeypatch.chdir(tmp_path)
    study.main(["--out", "rel", "--text-file", "toy-200.txt", "--variants", "baseline", "--seeds", "1",
                "--budget-chars", "4000", "--hidden", "8", "--embed", "4", "--batch", "4", "--bptt", "20",
                "--valid-chars", "500", "--jobs", "1"])
    assert len(list((tmp_path / "rel" / "runs").glob("*/results.json"))) == 1 and not (ROOT / "rel").exists()
    said = capsys.readouterr().err
    assert "model.study: training baseline, seed 1 (50 updates)" in said and "model.study: baseline, seed 1: valid BPC " in said


def test_a_study_records_what_it_trained_and_refuses_runs_of_other_settings(tmp_path, capsys):
    """The schedule (one planned epoch of a small file) ends the run before its budget: the result says what was
    trained. A second call with other settings would mix its runs with these (and reuse them): refused."""
    args = ["--out", str(tmp_path / "s"), "--text-file", str(toy_corpus(tmp_path, lines=200)), "--variants", "baseline",
            "--seeds", "1", "--budget-chars", "400000", "--hidden", "8", "--embed", "4", "--batch", "4", "--bptt", "20",
            "--valid-chars", "500", "--jobs", "1"]
    study.main(args)
    r = json.loads(next((tmp_path / "s" / "runs").glob("*/results.json")).read_text())
    saved = json.loads(next((tmp_path / "s" / "runs").glob("*/run/trainer.json")).read_text())
    assert r["budget_chars"] == 400000 and (r["updates"], r["chars"]) == (saved["step"], saved["positions_seen"])
    assert r["chars"] < 400000 / 4 and "trained: " in (tmp_path / "s" / "report.html").read_text()
    for other in (["--no-spaces"], ["--hidden", "16"]):
        with pytest.raises(SystemExit) as e:
            study.main(args + other)
        assert "holds runs of other settings" in str(e.value) and "give another --out" in str(e.value)
    study.main(args + ["--seeds", "1"])                                    # the same settings: joined


def test_unknown_variant_is_an_error(tmp_path):
    with pytest.raises(SystemExit):
        study.main(["--out", str(tmp_path), "--variants", "no such thing"])


@pytest.mark.parametrize("bad", [["--seeds", "0"], ["--jobs", "0"], ["--layers", "0"], ["--budget-chars", "-5"]])
def test_bad_arguments_are_one_line(tmp_path, bad, capsys):
    with pytest.raises(SystemExit) as e:
        study.main(["--out", str(tmp_path / "s"), *bad])
    assert e.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_nothing_to_report_and_a_file_for_a_folder_are_said_so(tmp_path):
    with pytest.raises(SystemExit, match="no finished run"):
        study.main(["--out", str(tmp_path / "empty"), "--report-only"])
    (tmp_path / "f").write_text("x")
    with pytest.raises(SystemExit):
        study.main(["--out", str(tmp_path / "f"), "--report-only"])
    assert (tmp_path / "f").read_text() == "x"


def _stats(mean):
    return {"mean": mean, "std": 0.01, "n": 3}


def _runs(token_f1s):
    return {"seeds": 3, "bpc": _stats(2.2), "entropy_token_f1": _stats(0.5),
            "layers": [{"layer": k + 1, "token_f1": _stats(f)} for k, f in enumerate(token_f1s)]}


def test_the_spaceless_choice_is_the_best_layer_of_the_best_variant():
    table = {"baseline": _runs([0.04, 0.10]), "paper objective alone (no guard)": _runs([0.05, 0.07]),
             "beyond: entropy guide, layer 1 at 0.2": _runs([0.48, 0.05]),
             "beyond: entropy guide, layer 2 at 0.2": _runs([0.05, 0.45])}
    c = study.choice(table)
    assert (c["variant"], c["layer"], c["token_f1"]["mean"]) == ("beyond: entropy guide, layer 1 at 0.2", 1, 0.48)
    assert c["beyond_the_paper"] and c["paper_objective"] == {"layer": 2, "token_f1": _stats(0.07)}
    table["z-bias +2"] = _runs([0.2, 0.6])
    assert study.choice(table)["variant"] == "z-bias +2" and not study.choice(table)["beyond_the_paper"]
    assert "which alone scores" not in study._choice_paragraph(table)
    assert study.choice({}) is None


def test_ctrl_c_is_one_line(tmp_path, monkeypatch):
    def interrupted(*a):
        raise KeyboardInterrupt
    monkeypatch.setattr(study, "run_one", interrupted)
    with pytest.raises(SystemExit) as e:
        study.main(["--out", str(tmp_path / "s"), "--variants", "baseline", "--seeds", "1", "--jobs", "1"])
    assert str(e.value).startswith("model.study: stopped; the finished runs and the saved ones are kept")


def test_an_out_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as e:
        study.main(["--out", str(tmp_path / "a-file" / "s")])
    assert e.value.code == 2 and "cannot be made (Not a directory)" in capsys.readouterr().err
