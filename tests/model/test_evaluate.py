"""python -m model.evaluate: the JSON of DESIGN.md section 6, --record, and clear errors."""
import json
import math

import pytest
import torch

from model import boundaries, evaluate
from model.checkpoint import load_checkpoint, read_config, save_checkpoint
from model.data import Vocabulary
from tests.helpers import make_iam, toy_text


def run(capsys, *args):
    evaluate.main([*args, "--json"])
    return json.loads(capsys.readouterr().out)


def test_text_file_report_has_the_contract_fields(capsys, checkpoint_dir, tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(toy_text(60, seed=9))
    r = run(capsys, "--checkpoint", str(checkpoint_dir / "toy-a"), "--text-file", str(f))
    assert r["chars"] == len(f.read_text())
    assert [l["layer"] for l in r["layers"]] == [1, 2]                # the top layer has no detector
    for l in r["layers"]:
        assert {"boundary_rate", "word_boundary", "word_boundary_tolerant", "word_token_f1", "random_f1"} <= set(l)
        assert set(l["word_boundary"]) == {"precision", "recall", "f1"}
    s = r["baselines"]["surprisal"]
    assert {"precision", "recall", "f1", "word_token_f1"} <= set(s)
    assert s["boundary_rate"] == pytest.approx(r["gold_word_end_rate"], abs=0.02)   # threshold matches the rate
    assert len(repr(r["bpc"]).lstrip("0.").replace(".", "")) <= 6              # six significant digits, not 17
    # the figures are the model's own, computed here by another path: its forward pass on the text
    model, config = load_checkpoint(checkpoint_dir / "toy-a")
    chars = list(f.read_text())
    ids = torch.tensor(Vocabulary(config["vocabulary"]).read(f.read_text()).ids)
    with torch.no_grad():
        out = model(ids.unsqueeze(1))
    bits = -torch.log_softmax(out["out"][:-1, 0], -1).gather(1, ids[1:, None]) / math.log(2)
    assert r["bpc"] == pytest.approx(bits.mean().item(), rel=1e-5)                   # bits, not nats
    for l in r["layers"]:
        z = out["z"][:, 0, l["layer"] - 1].numpy()                                  # each layer its own z
        expected = evaluate.significant(boundaries.layer_scores(z, chars))
        assert {k: l[k] for k in expected} == expected


def test_record_keeps_the_result_in_the_checkpoint(capsys, checkpoint_dir, tmp_path):
    model, config = load_checkpoint(checkpoint_dir / "toy-b")
    ck = tmp_path / "ck"
    save_checkpoint(ck, model, {k: v for k, v in config.items() if k not in ("model", "format")},
                    dtype=torch.float16)
    f = tmp_path / "t.txt"
    f.write_text(toy_text(20, seed=3))
    weights = (ck / "weights.safetensors").read_bytes()
    evaluate.main(["--checkpoint", str(ck), "--text-file", str(f), "--record", "--json"])
    said = capsys.readouterr()
    r = json.loads(said.out)
    assert f"recorded as metrics.eval_text_file in {ck / 'config.json'}" in said.err       # says what it wrote
    metrics = read_config(ck)["metrics"]
    assert metrics["eval_text_file"]["bpc"] == r["bpc"] and "valid_bpc" in metrics    # earlier metrics kept
    # the folder's name is kept, not where it was read from (the metrics are served to anyone)
    assert r["checkpoint"] == str(ck) and metrics["eval_text_file"]["checkpoint"] == "ck"
    # only config.json changes: weights stored in float16 stay float16
    assert (ck / "weights.safetensors").read_bytes() == weights
    assert load_checkpoint(ck)[1]["metrics"]["eval_text_file"]["bpc"] == r["bpc"]


def test_a_record_that_cannot_be_written_still_prints_the_result(capsys, checkpoint_dir, tmp_path, monkeypatch):
    import errno

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(evaluate, "write_config", read_only)
    f = tmp_path / "t.txt"
    f.write_text(toy_text(5, seed=3))
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--checkpoint", str(checkpoint_dir / "toy-a"), "--text-file", str(f), "--record", "--json"])
    assert str(e.value) == (f"model.evaluate: cannot record in {checkpoint_dir / 'toy-a'} (Read-only file system); "
                            "the result is printed above")
    assert json.loads(capsys.readouterr().out)["bpc"] > 0                  # the hours it took are not lost


@pytest.mark.parametrize("args,message", [
    (["--checkpoint", "/nonexistent"], "no config.json"),
    (["--text-file", "/nonexistent.txt"], "text file not found"),
    (["--text-file", "/"], "is not a file"),
    (["--threads", "-1"], "--threads must be at least 0"),
    (["--split", "test", "--max-chars", "3000", "--record"], "--record keeps a whole split's figures"),
])
def test_errors_are_one_line(checkpoint_dir, args, message):
    full = ["--checkpoint", str(checkpoint_dir / "toy-a"), *args] if args[0] != "--checkpoint" else args
    with pytest.raises(SystemExit) as e:
        evaluate.main(full)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text_only", [["--split", "test"], ["--no-spaces"], ["--max-chars", "100"]])
def test_an_option_for_text_given_to_an_ink_checkpoint_is_refused(checkpoint_dir, text_only, capsys):
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--checkpoint", str(checkpoint_dir / "toy-ink"), *text_only])
    assert e.value.code == 2 and "are for text checkpoints" in capsys.readouterr().err


def test_ink_report_has_the_contract_fields(capsys, checkpoint_dir, tmp_path):
    make_iam(tmp_path, [f"lineStrokes/a01/a01-000/a01-000u-0{i}.xml" for i in range(1, 4)])
    r = run(capsys, "--checkpoint", str(checkpoint_dir / "toy-ink"), "--data-dir", str(tmp_path))
    assert r["sequences"] == 1 and r["loglik_per_sequence"] < 0 and r["points"] == 3
    layer = r["layers"][0]
    assert layer["layer"] == 1 and {"boundary_rate", "penup", "char_boundary"} <= set(layer)
    assert set(layer["penup"]) == {"precision", "recall", "f1"}
    assert 0 <= layer["penup_random_f1_tolerant"] <= 1
    from model.ink import IamOnDB, InkStats, preprocess
    from model.tasks import ink_loglik
    model, config = load_checkpoint(checkpoint_dir / "toy-ink")
    (_, strokes), = IamOnDB(tmp_path).lines("validation")
    soft = ink_loglik(model, [preprocess(strokes, InkStats.from_dict(config["normalisation"]))])["z_soft"][0][:, 0]
    assert layer["undecided"] == pytest.approx(float((abs(soft - 0.5) < 0.05).mean()))


def test_synthetic_cursive_is_scored_at_the_training_lines_scale():
    """The font's steps are about 4 units against the corpus's 55: unscaled, the model would read
    ink 15 times smaller than any it was trained on, and the page (which scales it) would show
    other boundaries than the metrics score."""
    from model.ink import InkStats, rms_step
    stats = InkStats(mean=(8.2, 0.1), std=(42.0, 37.2), median_rms=55.0)      # IAM-OnDB's training lines
    synth = evaluate.synthetic_set(stats, 3, evaluate.SCORED)
    for x in synth.inputs:
        offsets = x.copy()
        offsets[1:, :2] = x[1:, :2] * stats.std + stats.mean          # back to the corpus's units
        assert rms_step(offsets) == pytest.approx(55.0, rel=0.05)
    assert synth.char_end.any() and not (synth.char_end & ~synth.inner).any()


def test_the_ink_surprisal_baseline_is_scored_with_a_threshold_from_other_lines(checkpoint_dir):
    from model.ink import InkStats, synthetic_cursive
    from model.tasks import ink_loglik
    model, config = load_checkpoint(checkpoint_dir / "toy-ink")
    lines = [synthetic_cursive("ink", seed=s).strokes for s in (1, 2)]
    s = evaluate.ink_report(model, config, lines, synthetic=4)["baselines"]["surprisal"]
    stats = InkStats.from_dict(config["normalisation"])
    scored, choice = (evaluate.synthetic_set(stats, 4, draw) for draw in (evaluate.SCORED, evaluate.CHOICE))
    theta = evaluate.best_char_threshold(ink_loglik(model, choice.inputs)["surprisal"], choice)
    assert s["threshold_nats"] == pytest.approx(theta)
    following = evaluate.following_surprisal(ink_loglik(model, scored.inputs)["surprisal"])
    fired = evaluate.surprisal_char_ends(following, scored.inner, theta)
    assert s["rate_inside_strokes"] == pytest.approx(fired.sum() / scored.inner.sum())
    assert s["char_boundary"]["f1"] == pytest.approx(
        evaluate.boundaries.tolerant_prf(fired, scored.char_end, evaluate.CHAR_TOLERANCE, scored.line)["f1"])


def test_the_surprisal_threshold_is_chosen_on_sentences_that_are_not_scored():
    assert not set(evaluate.CHOICE.texts) & set(evaluate.SCORED.texts)
    assert evaluate.CHOICE.first_seed >= evaluate.SCORED.first_seed + 1000      # no seed drawn twice at 50 lines


def test_ink_pen_ups_are_scored_line_by_line(checkpoint_dir, monkeypatch):
    """A firing on a line's first point must not credit the pen-up that ends the line before it."""
    from model.ink import synthetic_cursive
    from model.tasks import ink_loglik

    def fires_at_each_line_start(model, inputs):
        res = ink_loglik(model, inputs)
        for z in res["z"]:
            z[:] = 0
            z[0] = 1
        return res

    monkeypatch.setattr(evaluate, "ink_loglik", fires_at_each_line_start)
    model, config = load_checkpoint(checkpoint_dir / "toy-ink")
    lines = [synthetic_cursive(t, seed=s).strokes for s, t in ((1, "ink"), (2, "in"), (3, "nib"))]
    layer = evaluate.ink_report(model, config, lines, synthetic=2)["layers"][0]
    assert layer["boundary_rate"] > 0 and layer["penup_tolerant"]["recall"] == 0.0


def test_an_ink_evaluation_without_lines_says_so(checkpoint_dir):
    from model.ink import InkError
    model, config = load_checkpoint(checkpoint_dir / "toy-ink")
    with pytest.raises(InkError, match="no validation lines"):
        evaluate.ink_report(model, config, [])


def test_the_surprisal_segmenter_marks_the_point_before_the_surprise():
    import numpy as np
    surprisal = [np.array([np.nan, 1.0, 9.0, 1.0]), np.array([np.nan, 9.0])]
    inner = np.array([True, True, True, True, False, True])
    fired = evaluate.surprisal_char_ends(evaluate.following_surprisal(surprisal), inner, 5.0)
    assert fired.tolist() == [False, True, False, False, False, False]     # the pen-up before 9.0 is left out


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


@pytest.mark.parametrize("extra", [["--max-lines", "3"], ["--text-file", "{f}", "--split", "valid"]])
def test_an_option_that_would_be_ignored_is_refused(checkpoint_dir, tmp_path, capsys, extra):
    f = tmp_path / "t.txt"
    f.write_text("the cat sat")
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--checkpoint", str(checkpoint_dir / "toy-a"), *[a.format(f=f) for a in extra]])
    assert e.value.code == 2 and "--max-lines is for ink checkpoints" in capsys.readouterr().err


def test_a_cache_folder_that_cannot_be_made_is_said_before_the_model_runs(spaceless_dir, tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--checkpoint", str(spaceless_dir / "toy-nospace"), "--split", "test",
                       "--data-dir", str(tmp_path / "no-ptb-here"), "--cache-dir", str(tmp_path / "a-file" / "seg")])
    assert str(e.value).startswith("model.evaluate: --cache-dir ") and "cannot be made there" in str(e.value)
