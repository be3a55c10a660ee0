"""python -m model.evaluate: the JSON of DESIGN.md section 6, --record, and clear errors."""
import json

import pytest
import torch

from model import evaluate
from model.checkpoint import load_checkpoint, read_config, save_checkpoint
from tests.helpers import make_iam, toy_text


def run(capsys, *args):
    evaluate.main([*args, "--json"])
    return json.loads(capsys.readouterr().out)


def test_text_file_report_has_the_contract_fields(capsys, checkpoint_dir, tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(toy_text(60, seed=9))
    r = run(capsys, "--checkpoint", str(checkpoint_dir / "toy-a"), "--text-file", str(f))
    assert r["chars"] == len(f.read_text()) and 0 < r["bpc"] < 5
    assert [l["layer"] for l in r["layers"]] == [1, 2]                # the top layer has no detector
    for l in r["layers"]:
        assert {"boundary_rate", "word_boundary", "word_boundary_tolerant", "word_token_f1", "random_f1"} <= set(l)
        assert set(l["word_boundary"]) == {"precision", "recall", "f1"}
        assert l["word_boundary_tolerant"]["recall"] >= l["word_boundary"]["recall"]
    s = r["baselines"]["surprisal"]
    assert {"precision", "recall", "f1", "word_token_f1"} <= set(s)
    assert s["boundary_rate"] == pytest.approx(r["gold_word_end_rate"], abs=0.02)   # threshold matches the rate


def test_record_keeps_the_result_in_the_checkpoint(capsys, checkpoint_dir, tmp_path):
    model, config = load_checkpoint(checkpoint_dir / "toy-b")
    ck = tmp_path / "ck"
    save_checkpoint(ck, model, {k: v for k, v in config.items() if k not in ("model", "format")},
                    dtype=torch.float16)
    f = tmp_path / "t.txt"
    f.write_text(toy_text(20, seed=3))
    weights = (ck / "weights.safetensors").read_bytes()
    r = run(capsys, "--checkpoint", str(ck), "--text-file", str(f), "--record")
    metrics = read_config(ck)["metrics"]
    assert metrics["eval_text_file"]["bpc"] == r["bpc"] and "valid_bpc" in metrics    # earlier metrics kept
    # only config.json changes: weights stored in float16 stay float16
    assert (ck / "weights.safetensors").read_bytes() == weights
    assert load_checkpoint(ck)[1]["metrics"]["eval_text_file"]["bpc"] == r["bpc"]


@pytest.mark.parametrize("args,message", [
    (["--checkpoint", "/nonexistent"], "no config.json"),
    (["--text-file", "/nonexistent.txt"], "text file not found"),
])
def test_errors_are_one_line(checkpoint_dir, args, message):
    full = ["--checkpoint", str(checkpoint_dir / "toy-a"), *args] if args[0] != "--checkpoint" else args
    with pytest.raises(SystemExit) as e:
        evaluate.main(full)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_ink_report_has_the_contract_fields(capsys, checkpoint_dir, tmp_path):
    make_iam(tmp_path, [f"lineStrokes/a01/a01-000/a01-000u-0{i}.xml" for i in range(1, 4)])
    r = run(capsys, "--checkpoint", str(checkpoint_dir / "toy-ink"), "--data-dir", str(tmp_path))
    assert r["sequences"] == 1 and r["loglik_per_sequence"] < 0 and r["points"] == 3
    layer = r["layers"][0]
    assert layer["layer"] == 1 and {"boundary_rate", "penup", "char_boundary"} <= set(layer)
    assert set(layer["penup"]) == {"precision", "recall", "f1"}
    from model.ink import IamOnDB, InkStats, preprocess
    from model.tasks import ink_loglik
    model, config = load_checkpoint(checkpoint_dir / "toy-ink")
    (_, strokes), = IamOnDB(tmp_path).lines("validation")
    soft = ink_loglik(model, [preprocess(strokes, InkStats.from_dict(config["normalisation"]))])["z_soft"][0][:, 0]
    assert layer["undecided"] == pytest.approx(float((abs(soft - 0.5) < 0.05).mean()))


def test_with_spaces_the_whitespace_rule_stands_beside_the_layers(capsys, checkpoint_dir, tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(toy_text(30, seed=4))
    ws = run(capsys, "--checkpoint", str(checkpoint_dir / "toy-a"), "--text-file", str(f))["baselines"]["whitespace"]
    assert ws["word_boundary_tolerant"]["f1"] == 1.0 and ws["word_boundary"]["f1"] == 0.0


def test_spaceless_report_has_the_contract_fields(capsys, spaceless_dir, tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(toy_text(40, seed=5))
    r = run(capsys, "--checkpoint", str(spaceless_dir / "toy-nospace"), "--text-file", str(f))
    assert r["spaces"] is False and r["chars"] == len(f.read_text().replace(" ", ""))
    assert r["lines"] == 40 and 0 < r["gold_boundary_rate"] < 1
    for layer in r["layers"]:
        assert layer["lag"] in (0, 1) and set(layer["by_lag"]) == {"0", "1"}
        assert layer["token"] == layer["by_lag"][str(layer["lag"])]["token"]
        assert set(layer["boundary"]) == {"precision", "recall", "f1"}
    b = r["baselines"]
    assert {"random", "surprisal", "entropy"} <= set(b)
    assert b["entropy"]["threshold_from"] == "the same text" and "threshold_bits" in b["surprisal"]


def test_spaceless_reading_of_a_with_spaces_model_is_recorded_apart(capsys, checkpoint_dir, tmp_path):
    model, config = load_checkpoint(checkpoint_dir / "toy-a")
    ck = tmp_path / "ck"
    save_checkpoint(ck, model, {k: v for k, v in config.items() if k not in ("model", "format")})
    f = tmp_path / "t.txt"
    f.write_text(toy_text(20, seed=6))
    r = run(capsys, "--checkpoint", str(ck), "--text-file", str(f), "--no-spaces", "--record")
    assert r["spaces"] is False
    assert read_config(ck)["metrics"]["eval_text_file_spaceless"]["bpc"] == r["bpc"]
