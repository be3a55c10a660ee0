"""Handwriting: reading IAM-OnDB, the shared preprocessing, the mixture density head, synthetic
cursive, and POST /api/ink with its limits."""
import math

import numpy as np
import pytest
import torch

from model.checkpoint import load_checkpoint
from model.ink import (InkError, InkStats, IamOnDB, MixtureDensityHead, parse_line_strokes, preprocess,
                       synthetic_cursive, to_offsets)
from tests.helpers import IAM_XML as XML, make_iam



def test_parse_and_offsets():
    strokes = parse_line_strokes(XML)
    assert strokes == [[(10.0, 20.0), (13.0, 24.0)], [(30.0, 20.0)]]
    o = to_offsets(strokes)
    np.testing.assert_array_equal(o, [[0, 0, 0], [3, 4, 1], [17, -4, 1]])


def test_iam_reader_reads_the_split_from_the_archive(tmp_path):
    names = [f"lineStrokes/a01/a01-000/a01-000u-0{i}.xml" for i in range(1, 4)]
    make_iam(tmp_path, names)
    d = IamOnDB(tmp_path)
    assert [n for n, _ in d.lines("training")] == names[:2]
    assert d.lines("validation")[0][1][1] == [(30.0, 20.0)]
    with pytest.raises(InkError, match="line lists"):
        IamOnDB(tmp_path / "nowhere")
    archive = tmp_path / "iamondb_lineStrokes_ascii.tar.gz"
    archive.write_bytes(archive.read_bytes()[:40])                      # a download cut short
    with pytest.raises(InkError, match="cannot be read whole"):
        IamOnDB(tmp_path).lines("training")


def test_preprocessing_is_scale_free_keeps_every_point_and_clips():
    line = synthetic_cursive("hello", seed=3)
    stats = InkStats.fit([to_offsets(line.strokes)])
    assert stats.protocol == "graves2013"
    a = preprocess(line.strokes, stats, own_units=True)
    big = [[(x * 7 + 100, y * 7 - 50) for x, y in s] for s in line.strokes]       # pixels vs whiteboard units
    np.testing.assert_allclose(preprocess(big, stats, own_units=True), a, atol=1e-4)
    assert len(a) == sum(len(s) for s in line.strokes)
    wild = [[(0, 0), (1, 1), (1e6, -1e6), (2, 2)]]
    b = preprocess(wild, stats, own_units=True)
    assert len(b) == 4 and np.abs(b[:, :2]).max() <= stats.clip
    assert b[0, 0] == 0 and b[0, 1] == 0


def test_graves2013_standardises_the_corpus_lines_with_the_set_statistics_nothing_per_line():
    lines = [synthetic_cursive(w, seed=i).strokes for i, w in enumerate(["ink", "lines", "more words"])]
    offsets = [to_offsets(s) for s in lines]
    stats = InkStats.fit(offsets)
    steps = np.concatenate([o[1:, :2] for o in offsets])
    np.testing.assert_allclose(stats.mean, steps.mean(0))
    np.testing.assert_allclose(stats.std, steps.std(0))
    x = preprocess(lines[1], stats)
    expected = np.clip((offsets[1][1:, :2] - stats.mean) / stats.std, -stats.clip, stats.clip)
    np.testing.assert_allclose(x[1:, :2], expected, rtol=1e-5, atol=1e-5)
    doubled = [[(2 * px, 2 * py) for px, py in s] for s in lines[1]]
    assert not np.allclose(preprocess(doubled, stats), x)          # a corpus line keeps its own scale
    assert stats.jacobian_nats() == pytest.approx(-np.log(stats.std[0] * stats.std[1]))
    legacy = InkStats.from_dict({"mean": [0, 0], "std": [1, 1]})    # checkpoints made before: per line
    assert legacy.protocol == "line-rms"
    np.testing.assert_allclose(preprocess(doubled, legacy), preprocess(lines[1], legacy), atol=1e-5)


def test_mixture_density_nll_matches_a_direct_computation():
    torch.manual_seed(0)
    head = MixtureDensityHead(5, 2)
    out = head(torch.randn(1, 5))
    target = torch.tensor([[0.3, -0.2, 1.0]])
    log_pi, mx, my, lsx, lsy, rho, e = head.split(out)
    p = 0.0
    for k in range(2):
        sx, sy, r = math.exp(lsx[0, k]), math.exp(lsy[0, k]), float(rho[0, k])
        zx, zy = (0.3 - float(mx[0, k])) / sx, (-0.2 - float(my[0, k])) / sy
        dens = math.exp(-(zx * zx + zy * zy - 2 * r * zx * zy) / (2 * (1 - r * r))) / (2 * math.pi * sx * sy * math.sqrt(1 - r * r))
        p += math.exp(float(log_pi[0, k])) * dens
    expected = -math.log(p) - math.log(torch.sigmoid(e[0]).item())
    assert head.nll(out, target).item() == pytest.approx(expected, rel=1e-5)


def _sample(head, out, n):
    """n draws of (dx, dy, eos) from the head's distribution at one position."""
    log_pi, mx, my, lsx, lsy, rho, e = (t[0] for t in head.split(out))
    k = torch.multinomial(log_pi.exp(), n, replacement=True)
    a, b = torch.randn(n), torch.randn(n)
    sx, sy, r = lsx.exp()[k], lsy.exp()[k], rho[k]
    x = mx[k] + sx * a
    y = my[k] + sy * (r * a + torch.sqrt(1 - r ** 2) * b)
    eos = torch.bernoulli(torch.sigmoid(e).expand(n))
    return torch.stack([x, y, eos], -1)


@pytest.mark.parametrize("components", [1, 3])
def test_the_entropy_bound_is_exact_for_one_component_and_an_upper_bound_for_a_mixture(components):
    torch.manual_seed(components)
    head = MixtureDensityHead(5, components)
    with torch.no_grad():
        out = head(torch.randn(1, 5) * 2)
        draws = _sample(head, out, 40_000)
        nll = head.nll(out.expand(len(draws), -1), draws)
    entropy, stderr = nll.mean().item(), nll.std().item() / len(draws) ** 0.5
    bound = head.entropy_bound(out).item()
    if components == 1:
        assert bound == pytest.approx(entropy, abs=4 * stderr)
    else:
        assert bound > entropy + 4 * stderr          # these components overlap little: the bound is loose


def test_synthetic_cursive_labels_every_point():
    line = synthetic_cursive("ab cd", seed=0)
    labels = [c for s in line.chars for c in s]
    assert len(labels) == sum(len(s) for s in line.strokes)
    assert sorted(set(labels)) == [0, 1, 3, 4]                     # the space draws nothing
    assert line.char_ends().sum() == 4
    assert len(line.strokes) < 4 + 1                                # joined letters share strokes
    other = synthetic_cursive("ab cd", seed=1)
    assert other.strokes != line.strokes                            # jitter, slant, speed vary


def test_joined_synthetic_cursive_keeps_the_pen_down_between_the_letters_of_a_word():
    """Joined, most character ends fall inside strokes (the font's glyphs are mostly separate strokes)."""
    from model.ink import to_offsets
    texts = ["the quick brown fox", "letters join in cursive"]

    def inner_char_ends(connected):
        lines = [synthetic_cursive(t, seed=4, connected=connected) for t in texts]
        ends = [(l.char_ends() > 0) & (to_offsets(l.strokes)[:, 2] < 0.5) for l in lines]
        return sum(len(l.strokes) for l in lines), sum(int(e.sum()) for e in ends), lines
    loose, loose_ends, _ = inner_char_ends(False)
    joined, joined_ends, lines = inner_char_ends(True)
    assert joined < loose and joined_ends > 1.5 * loose_ends
    for line in lines:
        word_of = [line.text[:i].count(" ") for i in range(len(line.text))]
        assert all(len({word_of[c] for c in stroke}) == 1 for stroke in line.chars)   # never across a space
        labels = [c for s in line.chars for c in s]                 # still one label per point, in text order
        assert len(labels) == sum(len(s) for s in line.strokes) and labels == sorted(labels)


def test_api_ink(client, checkpoint_dir):
    line = synthetic_cursive("dog", seed=2)
    strokes = [[list(p) for p in s] for s in line.strokes]
    r = client.post("/api/ink", json={"strokes": strokes, "model": "toy-ink"})
    assert r.status_code == 200, r.text
    body = r.json()
    n = sum(len(s) for s in strokes)
    assert body["task"] == "ink" and len(body["points"]) == len(body["nll"]) == len(body["pen_up"]) == n
    assert body["nll"][0] is None and body["points"][0][:2] == strokes[0][0]
    assert sum(body["pen_up"]) == len(strokes)
    assert [p[2] for p in body["points"]] == [k for k, s in enumerate(strokes) for _ in s]   # a stroke's number: 0, 1, ...
    assert all(type(p[2]) is int for p in body["points"])                                  # as an integer, not 0.0
    assert body["model_input"][0][:2] == [0, 0]
    # each layer's z and the NLL are the model's on the ink normalised as it was trained
    model, config = load_checkpoint(checkpoint_dir / "toy-ink")
    x = preprocess(strokes, InkStats.from_dict(config["normalisation"]), own_units=True)
    with torch.no_grad():
        out = model(torch.from_numpy(x).unsqueeze(1))
    for l, layer in enumerate(body["layers"]):
        if layer["z"] is not None:
            assert layer["z"] == out["z"][:, 0, l].int().tolist()
    assert body["layers"][0]["z"] is not None


def test_api_ink_default_model_and_example(client):
    ex = client.get("/api/ink/example", params={"text": "hi"}).json()
    assert client.post("/api/ink", json=ex).json()["model"] == "toy-ink"


@pytest.mark.parametrize("payload,status,message", [
    ({"strokes": []}, 422, "at least 1"),
    ({"strokes": [[]]}, 422, "at least 1"),
    ({"strokes": [[[1, 2, 3]]]}, 422, "strokes"),
    ({"strokes": [[["a", 2]]]}, 422, "valid number"),
    ({"strokes": [[[True, 2]]]}, 422, "valid number"),             # not read as 1
    ({"strokes": [[["3", 2]]]}, 422, "valid number"),              # a number, not a string of one
    ({"strokes": [[[1e9, 2]]]}, 422, "less than or equal"),
    ({"strokes": [[[0, 0]]] * 201}, 413, "limit is 200"),
    ({"strokes": [[[i, i] for i in range(5001)]]}, 413, "limit is 5000"),
    ({"strokes": [[[0, 0]]], "model": "toy-a"}, 400, "is for text, not for ink"),
    ({"strokes": [[[0, 0]]], "model": "../toy-ink"}, 404, "unknown model"),
])
def test_bad_ink_gets_a_4xx_with_a_message(client, payload, status, message):
    r = client.post("/api/ink", json=payload)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


@pytest.mark.parametrize("raw", [b'{"strokes": [[[NaN, 1]]]}', b'{"strokes": [[[Infinity, 1]]]}'])
def test_nan_and_infinite_coordinates_are_refused(client, raw):
    r = client.post("/api/ink", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]


@pytest.mark.parametrize("text", ["   ", "ü", "x" * 41])
def test_an_example_needs_something_to_draw(client, text):
    r = client.get("/api/ink/example", params={"text": text})
    assert r.status_code == 422 and "text" in r.json()["detail"]
