"""Checkpoint folders: safetensors + JSON, validated, written atomically, never unpickled."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from model import checkpoint
from model.checkpoint import CheckpointError, load_checkpoint, round_to_bytes, save_checkpoint, store_as
from model.data import UNKNOWN
from model.hmlstm import HMLSTMConfig, HMLSTMModel

SYMBOLS = [UNKNOWN, "\n", " ", "a", "b", "c"]


def small_model(**kw):
    torch.manual_seed(0)
    return HMLSTMModel(HMLSTMConfig(vocab_size=len(SYMBOLS), input_size=4, hidden_sizes=[5, 3],
                                    output_size=4, **kw))


def test_round_trip(tmp_path):
    model = small_model(layer_norm="gates")
    model.set_slope(2.5)
    save_checkpoint(tmp_path / "ck", model, {"task": "text", "vocabulary": SYMBOLS, "metrics": {"x": 1}})
    loaded, config = load_checkpoint(tmp_path / "ck")
    assert config["metrics"] == {"x": 1} and config["model"]["layer_norm"] == "gates"
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.randint(0, 6, (7, 1))
    torch.testing.assert_close(model(x)["out"], loaded(x)["out"])
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["config.json", "weights.safetensors"]


def test_half_precision_weights_load_as_float32(tmp_path):
    model = small_model()
    save_checkpoint(tmp_path / "ck", model, {"task": "text", "vocabulary": SYMBOLS}, dtype=torch.float16)
    assert load_file(str(tmp_path / "ck" / "weights.safetensors"))["head.weight"].dtype == torch.float16
    loaded, _ = load_checkpoint(tmp_path / "ck")
    assert loaded.head.weight.dtype == torch.float32


def test_a_copy_in_float16_is_the_model_rounded_and_drops_what_was_measured_on_the_old_weights(tmp_path):
    model = small_model(layer_norm="gates")
    save_checkpoint(tmp_path / "ck", model, {"task": "text", "vocabulary": SYMBOLS, "training": {"lr": 0.002},
                                             "metrics": {"epochs": 3, "valid_bpc": 1.4, "test": {"bpc": 1.3}}})
    (tmp_path / "ck" / checkpoint.UNIGRAM).write_bytes(b"sentencepiece")
    config = store_as(tmp_path / "ck", tmp_path / "half")
    assert config["metrics"] == {"epochs": 3} and config["training"]["lr"] == 0.002
    assert config["training"]["float32_metrics"] == {"valid_bpc": 1.4, "test": {"bpc": 1.3}}   # kept, apart
    assert config["training"]["weights_stored_as"].startswith("float16") and config["vocabulary"] == SYMBOLS
    assert (tmp_path / "half" / checkpoint.UNIGRAM).read_bytes() == b"sentencepiece"
    stored = load_file(str(tmp_path / "half" / "weights.safetensors"))
    assert all(t.dtype == torch.float16 for t in stored.values() if t.is_floating_point())
    half, _ = load_checkpoint(tmp_path / "half")
    for (k, a), (_, b) in zip(model.state_dict().items(), half.state_dict().items()):
        assert torch.equal(a.half().float(), b), k
    assert load_checkpoint(tmp_path / "ck")[1]["metrics"]["valid_bpc"] == 1.4      # the source is untouched
    with pytest.raises(CheckpointError, match="new folder"):
        store_as(tmp_path / "ck", tmp_path / "ck")


def test_a_copy_in_int8_rounds_the_recurrences_matrices_to_a_byte_and_a_scale_per_column(tmp_path):
    model = small_model(layer_norm="gates")
    save_checkpoint(tmp_path / "ck", model, {"task": "text", "vocabulary": SYMBOLS, "metrics": {"valid_bpc": 1.4}})
    config = store_as(tmp_path / "ck", tmp_path / "int8", "int8")
    assert config["training"]["weights_stored_as"].startswith("int8") and config["metrics"] == {}
    assert config["training"]["float32_metrics"] == {"valid_bpc": 1.4}
    stored = load_file(str(tmp_path / "int8" / "weights.safetensors"))
    assert all(t.dtype == torch.float16 for t in stored.values() if t.is_floating_point())
    loaded, _ = load_checkpoint(tmp_path / "int8")
    rounded = dict(loaded.rnn.layers.named_parameters())
    for name, w in model.rnn.layers.named_parameters():
        kind = name.split(".")[1]
        if kind in ("recurrent", "top_down") or (kind == "bottom_up" and not name.startswith("0.")):
            W = rounded[name]
            scale = W.abs().amax(0) / 127
            q = W / scale
            assert torch.equal(q, q.round()) and (q.abs().amax(0) == 127).all(), name
            inside = w.abs() <= 127 * scale                   # the largest of a column may be clipped
            assert ((W - w).abs() <= scale / 2 * (1 + 1e-6))[inside].all(), name
        else:                                                  # float16 only
            assert torch.equal(rounded[name], w.half().float()), name
    again = store_as(tmp_path / "int8", tmp_path / "again", "int8")     # int8 numbers round to themselves
    assert again["training"]["weights_stored_as"].startswith("int8") and "float16_metrics" in again["training"]
    assert torch.equal(load_file(str(tmp_path / "again" / "weights.safetensors"))["rnn.layers.0.recurrent"],
                       stored["rnn.layers.0.recurrent"])
    with pytest.raises(CheckpointError, match="form must be"):
        store_as(tmp_path / "ck", tmp_path / "x", "int4")
    lstm = HMLSTMModel(HMLSTMConfig(vocab_size=len(SYMBOLS), input_size=4, hidden_sizes=[5, 3], output_size=4,
                                    arch="lstm"))
    save_checkpoint(tmp_path / "lstm", lstm, {"task": "text", "vocabulary": SYMBOLS})
    with pytest.raises(CheckpointError, match="not an HM-LSTM"):
        store_as(tmp_path / "lstm", tmp_path / "lstm8", "int8")
    assert not (tmp_path / "lstm8").exists()


def test_rounding_to_bytes_keeps_each_weight_within_half_a_step_and_clips_only_the_largest():
    torch.manual_seed(3)
    W = torch.randn(64, 9) * torch.logspace(-3, 1, 9)
    W[:, 4] = 0                                                # a column of zeros stays zeros
    R = round_to_bytes(W)
    scale = R.abs().amax(0) / 127
    assert torch.equal(R[:, 4], W[:, 4]) and torch.equal(R.half().float(), R)
    inside = W.abs() <= 127 * scale                            # the largest |w| of a column may be clipped
    assert ((R - W).abs() <= scale / 2 * (1 + 1e-6))[inside].all()
    assert ((W.abs().amax(0) - 127 * scale) / W.abs().amax(0).clamp_min(1e-30) < 1 / 8 + 1e-6).all()


def test_the_copy_command_says_in_one_line_what_is_wrong(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        checkpoint.main([str(tmp_path / "missing"), str(tmp_path / "half")])
    assert str(e.value).startswith("model.checkpoint: ") and "no config.json" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "half").exists()


def test_the_copy_never_replaces_a_folder_that_holds_anything(tmp_path):
    """A copy replaces its folder whole: into a folder of other files (or the one that holds the source) it
    would delete them, so such a folder is refused and left as it was."""
    write_good(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    for dst in (tmp_path / "mine", tmp_path, tmp_path / "mine" / "thesis.tex", tmp_path / "ck" / "inside"):
        with pytest.raises(SystemExit) as e:
            checkpoint.main([str(tmp_path / "ck"), str(dst)])
        assert "give a new or empty folder (nothing was written)" in str(e.value) or "give a folder elsewhere" in str(e.value), dst
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "years of work" and load_checkpoint(tmp_path / "ck")
    (tmp_path / "empty").mkdir()
    checkpoint.main([str(tmp_path / "ck"), str(tmp_path / "empty")])           # an empty folder is a new one
    assert load_checkpoint(tmp_path / "empty")[1]["training"]["weights_stored_as"].startswith("float16")


def write_good(tmp_path):
    save_checkpoint(tmp_path / "ck", small_model(), {"task": "text", "vocabulary": SYMBOLS})
    return tmp_path / "ck"


@pytest.mark.parametrize("damage,message", [
    (lambda d: (d / "config.json").unlink(), "no config.json"),
    (lambda d: (d / "config.json").write_text("{not json"), "not valid JSON"),
    (lambda d: (d / "weights.safetensors").unlink(), "no weights.safetensors"),
    (lambda d: (d / "weights.safetensors").write_bytes(b"\x80\x04garbage pickle"), "safetensors"),
    (lambda d: _edit(d, lambda c: c["model"].update(hidden_sizes=[5, 4])), "shape"),
    (lambda d: _edit(d, lambda c: c["model"].update(layer_norm="sideways")), "layer_norm"),
    (lambda d: _edit(d, lambda c: c.update(vocabulary=SYMBOLS[:-1])), "vocabulary"),
    (lambda d: _drop_tensor(d, "head.bias"), "missing"),
    (lambda d: _nan_tensor(d, "head.bias"), "NaN"),
    (lambda d: _edit(d, lambda c: c["model"].update(hidden_sizes="53")), "hidden_sizes must be a list of whole numbers"),
    (lambda d: _edit(d, lambda c: c["model"].update(hidden_sizes=[True, 4])), "hidden_sizes must be a list of whole numbers"),
    (lambda d: _edit(d, lambda c: c["model"].update(input_size="abc")), "input_size must be a whole number, not 'abc'"),
    (lambda d: _edit(d, lambda c: c["model"].update(input_size=-5)), "must be at least 1"),
    (lambda d: _edit(d, lambda c: c["model"].update(vocab_size=float(len(SYMBOLS)))), "vocab_size must be a whole number"),
    (lambda d: _edit(d, lambda c: c["model"].update(nested="no")), "nested must be true or false"),
    (lambda d: _edit(d, lambda c: c.update(spaces="false")), "'spaces' must be true or false"),
    (lambda d: _edit(d, lambda c: c.update(spaces=0)), "'spaces' must be true or false"),
    (lambda d: _edit(d, lambda c: c["model"].update(z_bias="x")), "z_bias must be a number"),
    (lambda d: _edit(d, lambda c: c["model"].update(z_bias=float("nan"))), "z_bias must be a number, not nan"),
    # widths far past the weights: refused by their shapes before anything of that size is allocated
    (lambda d: _edit(d, lambda c: c["model"].update(hidden_sizes=[200_000] * len(c["model"]["hidden_sizes"]))),
     r"the config says \(200000"),
    (lambda d: _edit(d, lambda c: c.update(vocabulary=SYMBOLS[:-1] + ["ab"])), "one character"),
    # what the server reads of the metrics: refused when loaded, not a 500 on a request later
    (lambda d: _edit(d, lambda c: c.update(metrics=[1, 2])), "'metrics' must be an object"),
    (lambda d: _edit(d, lambda c: c.update(metrics={"test": "x"})), "metrics 'test'"),
    (lambda d: _edit(d, lambda c: c.update(metrics={"valid": {"baselines": {"surprisal": {"threshold_bits": "3"}}}})),
     "threshold_bits"),
])
def test_a_bad_folder_gives_a_clear_error(tmp_path, damage, message):
    d = write_good(tmp_path)
    damage(d)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(d)


def test_a_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(tmp_path / "absent")


def test_a_rewrite_replaces_the_folder_whole(tmp_path):
    d = write_good(tmp_path)
    (d / "stray.txt").write_text("left over")
    save_checkpoint(d, small_model(), {"task": "text", "vocabulary": SYMBOLS, "metrics": {"v": 2}})
    assert not (d / "stray.txt").exists()
    assert json.loads((d / "config.json").read_text())["metrics"] == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]      # no temporary folders left behind


def _edit(d, change):
    c = json.loads((d / "config.json").read_text())
    change(c)
    (d / "config.json").write_text(json.dumps(c))


def _drop_tensor(d, name):
    t = load_file(str(d / "weights.safetensors"))
    del t[name]
    save_file(t, str(d / "weights.safetensors"))


def _nan_tensor(d, name):
    t = load_file(str(d / "weights.safetensors"))
    t[name][0] = float("nan")
    save_file(t, str(d / "weights.safetensors"))


def test_a_rewrite_swaps_the_folder_in_one_step(tmp_path, monkeypatch):
    """No moment without the folder: a kill at any point leaves the old files or the new ones."""
    import os

    from model.checkpoint import write_atomic
    write_atomic(tmp_path / "ck", {"a.json": lambda p: p.write_text("1")})

    def two_renames(*_):
        raise AssertionError("the folder was renamed away (a moment without it)")
    monkeypatch.setattr(os, "rename", two_renames)
    write_atomic(tmp_path / "ck", {"a.json": lambda p: p.write_text("2")})
    assert (tmp_path / "ck" / "a.json").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


NORMALISATION = {"protocol": "graves2013", "mean": [0.1, 0.2], "std": [1.5, 2.0], "clip": 50.0, "median_rms_step": 3.0}


@pytest.mark.parametrize("normalisation", [None, "graves2013", {**NORMALISATION, "std": [1.5, 0.0]},
                                           {**NORMALISATION, "mean": [0.1]}, {**NORMALISATION, "median_rms_step": -1},
                                           {**NORMALISATION, "protocol": "other"}])
def test_an_ink_checkpoint_without_a_whole_normalisation_is_refused(tmp_path, normalisation):
    torch.manual_seed(0)
    model = HMLSTMModel(HMLSTMConfig(task="ink", input_size=3, hidden_sizes=[5, 3], output_size=4, mixture_components=2))
    save_checkpoint(tmp_path / "good", model, {"task": "ink", "normalisation": NORMALISATION})
    load_checkpoint(tmp_path / "good")
    meta = {"task": "ink"} if normalisation is None else {"task": "ink", "normalisation": normalisation}
    save_checkpoint(tmp_path / "ink", model, meta)
    with pytest.raises(CheckpointError, match="'normalisation' must give"):
        load_checkpoint(tmp_path / "ink")


def test_a_rewrite_never_takes_the_place_of_a_file(tmp_path):
    from model.checkpoint import write_atomic
    (tmp_path / "notes.txt").write_text("keep")
    with pytest.raises(NotADirectoryError):
        write_atomic(tmp_path / "notes.txt", {"a.json": lambda p: p.write_text("1")})
    assert (tmp_path / "notes.txt").read_text() == "keep" and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_loading_leaves_torchs_initialisers_as_they_were(tmp_path):
    """The shapes are compared on a model built without drawing its weights; torch's normal_ is put back, even
    when the checkpoint is refused."""
    normal = torch.nn.init.normal_
    d = write_good(tmp_path)
    load_checkpoint(d)
    _edit(d, lambda c: c["model"].update(hidden_sizes=[200_000] * len(c["model"]["hidden_sizes"])))
    with pytest.raises(CheckpointError):
        load_checkpoint(d)
    assert torch.nn.init.normal_ is normal


def test_building_for_shapes_alone_leaves_a_model_built_meanwhile_in_another_thread_drawn():
    """The loader builds a model on the meta device with its weights not drawn, to compare shapes; the
    server or a study may build models in other threads at the same time, and theirs must be drawn."""
    import threading

    cfg = HMLSTMConfig(vocab_size=40, input_size=64, hidden_sizes=[8], output_size=8)
    built = {}
    with checkpoint._shapes_only():
        shapes = HMLSTMModel(cfg)
        thread = threading.Thread(target=lambda: built.setdefault("model", HMLSTMModel(cfg)))
        thread.start()
        thread.join()
    assert shapes.embedding.weight.is_meta
    weight = built["model"].embedding.weight
    assert not weight.is_meta and 0.8 < float(weight.detach().std()) < 1.2      # N(0, 1), as nn.Embedding draws it
