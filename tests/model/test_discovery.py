"""Word discovery without spaces: the scores of DESIGN.md section 8, and the baselines beside them."""
import numpy as np
import pytest

from model import discovery
from model.data import Spaceless


def lines_of(text):
    s = Spaceless.of(text)
    return s.text, discovery.Lines.of(s.text, s.word_ends)


def test_the_design_example():
    """"the cat" read as "thecat"; z at lag 0 firing at t = 2 and t = 4."""
    text, lines = lines_of("the cat")
    z = np.array([0, 0, 1, 0, 1, 0])
    s = discovery.score(discovery.read_at_lag(z, 0), lines)
    assert s["boundary"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3})
    assert s["token"]["precision"] == pytest.approx(1 / 3) and s["token"]["recall"] == pytest.approx(1 / 2)
    # read at lag 1 the same firings predict the gaps after 1 and 3
    after = discovery.read_at_lag(z, 1)
    assert np.flatnonzero(after).tolist() == [1, 3]
    assert discovery.score(after, lines)["boundary"]["precision"] == 0.0


def test_lines_are_scored_apart_and_their_ends_are_given():
    text, lines = lines_of("ab c\nde f\n")
    assert lines.spans == ((0, 3), (4, 7))
    gold = lines.gold
    perfect = discovery.score(gold, lines)
    assert perfect["token"]["f1"] == 1.0 and perfect["boundary"]["f1"] == 1.0
    nothing = discovery.score(np.zeros(len(text), bool), lines)          # each line one word
    assert nothing["token"]["precision"] == 0.0 and nothing["boundary"]["recall"] == 0.0
    assert lines.inner.tolist() == [True, True, False, False, True, True, False, False]


def test_a_layer_is_read_at_the_lag_chosen_on_valid():
    text, lines = lines_of("ab cd ef gh")
    z_late = np.roll(lines.gold, 1).astype(int)            # fires on the next word's first letter
    free = discovery.layer_scores(z_late, lines)
    assert free["lag"] == 1 and free["token"]["f1"] == 1.0
    forced = discovery.layer_scores(z_late, lines, lag=0)
    assert forced["lag"] == 0 and forced["token"]["f1"] < 1.0
    assert set(forced["by_lag"]) == {"0", "1"} and forced["random"]["draws"] == 5


def test_random_boundaries_score_about_their_rate():
    text, lines = lines_of(" ".join(["abcd"] * 400))
    r = discovery.random_scores(lines, 0.25)
    assert r["boundary"]["recall"] == pytest.approx(0.25, abs=0.05)
    assert r["boundary"]["precision"] == pytest.approx(lines.gold_rate, abs=0.05)


def test_thresholds_are_chosen_for_the_best_token_f1():
    text, lines = lines_of("ab cde f ghij kl")
    entropy = np.where(lines.gold, 3.0, 1.0) + np.linspace(0, 0.1, len(text))
    theta = discovery.best_threshold(entropy, lambda th: discovery.entropy_boundaries(entropy, th), lines)
    assert discovery.score(discovery.entropy_boundaries(entropy, theta), lines)["token"]["f1"] == 1.0
    # surprisal sits on the next word's first letter: a boundary before it
    surprisal = np.roll(entropy, 1)
    before = discovery.surprisal_boundaries(surprisal, 2.0)
    assert np.array_equal(before[:-1], (entropy > 2.0)[:-1]) and not before[-1]


def test_pieces_cut_lines_where_they_meet():
    text, lines = lines_of("abc de\nfg")
    after = discovery.cuts_from_pieces([["ab", "cd", "e"], ["fg"]], lines, len(text))
    assert np.flatnonzero(after).tolist() == [1, 3]


@pytest.mark.slow
def test_sentencepiece_and_morfessor_baselines_train_once_and_are_cached(tmp_path):
    words = "the of and to in is was he that it for on are with as his they be at one have".split()
    rng = np.random.default_rng(0)
    train = ["".join(rng.choice(words, 6)) for _ in range(400)]
    raw = "\n".join(" ".join(rng.choice(words, 6)) for _ in range(40)) + "\n"
    s = Spaceless.of(raw)
    lines = discovery.Lines.of(s.text, s.word_ends)
    part = ([s.text[a:b] for a, b in lines.spans], lines, len(s.text))
    cache = discovery.SegmenterCache(tmp_path, train)
    sp = discovery.sentencepiece_baseline(cache, part, part)
    assert sp["vocab_size"] in discovery.SENTENCEPIECE_VOCABS and 0 < sp["token"]["f1"] <= 1
    morf = discovery.morfessor_baseline(cache, part, max_lines=100)
    assert 0 <= morf["token"]["f1"] <= 1 and morf["train_lines"] == 100
    kept = sorted(p.name for p in cache.folder.iterdir())
    assert "morfessor-100.json" in kept and "unigram-1000.model" in kept
    again = discovery.SegmenterCache(tmp_path, train)
    assert discovery.morfessor_baseline(again, part, max_lines=100) == morf      # read back, not trained again
