"""model.probe: a labelled read-out of character ends inside strokes, as a ceiling beside the detectors."""
import json
import shutil

import numpy as np
import pytest

from model import probe
from model.checkpoint import load_checkpoint
from model.ink import InkStats

STATS = InkStats((8.0, 0.1), (42.0, 37.0), protocol="graves2013", median_rms=55.0)


@pytest.fixture(scope="module")
def sets():
    return probe.ProbeSets(STATS, fit_lines=16, pick_lines=8, scored_lines=8)


def test_the_ink_window_holds_the_last_points_and_zeros_before_the_line():
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    (w,) = probe.ink_window([x])
    assert w.shape == (10, 3 * probe.INK_WINDOW)
    by_point = w.reshape(10, 3, probe.INK_WINDOW)          # (point, channel, how far back: the last is the point)
    assert np.array_equal(by_point[:, :, -1], x)
    assert np.array_equal(by_point[4, :, -2], x[3]) and np.array_equal(by_point[4, :, 0], np.zeros(3))
    assert np.array_equal(by_point[7, :, 0], x[2])


def per_line(s, mask):
    """A boolean mask over all of a set's points, split into its lines."""
    return [mask[s.line == k] for k in range(s.line.max() + 1)]


def test_a_probe_finds_a_planted_signal_and_not_noise(sets):
    """Features that carry the gold score far above random; noise scores about random: the fit, the
    threshold chosen on other lines and the scoring agree."""
    labels = {}
    for s in (sets.fit, sets.pick, sets.scored):
        for x, gold in zip(s.inputs, per_line(s, s.char_end)):
            labels[x.tobytes()] = gold
    rng = np.random.default_rng(0)
    planted = lambda inputs: [np.stack([labels[x.tobytes()] + 0.1 * rng.standard_normal(len(x)),  # noqa: E731
                                        rng.standard_normal(len(x))], 1) for x in inputs]
    noise = lambda inputs: [rng.standard_normal((len(x), 2)) for x in inputs]  # noqa: E731
    found, chance = probe.probe(planted, sets), probe.probe(noise, sets)
    assert found["char_boundary"]["f1"] > 0.9 and found["char_boundary"]["f1"] > 3 * found["char_random_f1"]
    assert chance["char_boundary"]["f1"] < 2 * chance["char_random_f1"]
    assert 0 < found["threshold"] < 1


def test_the_report_reads_every_layer_of_an_ink_checkpoint_and_is_recorded(checkpoint_dir, capsys, tmp_path):
    shutil.copytree(checkpoint_dir / "toy-ink", tmp_path / "toy-ink")
    probe.main(["--checkpoint", str(tmp_path / "toy-ink"), "--fit-lines", "8", "--pick-lines", "4", "--json", "--record"])
    r = json.loads(capsys.readouterr().out)
    model, config = load_checkpoint(tmp_path / "toy-ink")
    assert r["checkpoint"] == str(tmp_path / "toy-ink")
    assert config["metrics"]["probe"] == {**r, "checkpoint": "toy-ink"}         # the folder's name, not where it was
    assert "stop_loglik_per_sequence" in config["metrics"]                      # added, nothing lost
    assert [l["layer"] for l in r["layers"]] == list(range(1, model.cfg.num_layers + 1))
    for scores in (r["ink_window"], r["states"], *r["layers"]):
        assert 0 <= scores["char_boundary"]["f1"] <= 1 and 0 < scores["char_random_f1"] < 1
    assert r["scored_lines"] == 50 and r["char_tolerance_points"] == 2


def test_a_text_checkpoint_is_refused_in_one_line(checkpoint_dir):
    with pytest.raises(SystemExit) as e:
        probe.main(["--checkpoint", str(checkpoint_dir / "toy-a")])
    assert "text checkpoint" in str(e.value) and "\n" not in str(e.value)
