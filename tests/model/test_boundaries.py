"""Boundary scores exactly as DESIGN.md section 6 defines them."""
import numpy as np
import pytest

from model import boundaries as B


def test_the_design_example():
    chars = list("ab cd\n")
    z = np.array([0, 1, 0, 0, 0, 1])
    assert B.strict_scores(z, chars) == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert B.tolerant_scores(z, chars) == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0})


def test_tolerant_credits_each_word_end_once():
    chars = list("ab cd")
    z = np.array([0, 1, 1, 0, 1])          # fires on b and on the space after it
    s = B.tolerant_scores(z, chars)
    assert s["recall"] == 1.0 and s["precision"] == pytest.approx(2 / 3)


def test_gold_word_ends():
    assert B.gold_word_ends(list("a bc  d\n")).tolist() == [1, 0, 0, 1, 0, 0, 1, 0]


def test_token_f1():
    chars = list("ab cd ef")
    perfect = np.array([0, 1, 0, 0, 1, 0, 0, 1])
    assert B.token_f1(perfect, chars) == 1.0
    on_spaces = np.array([0, 0, 1, 0, 0, 1, 0, 0])   # spaces vanish with the whitespace: one word
    assert B.token_f1(on_spaces, chars) == 0.0
    # "ab" right, "cdef" wrong: P = 1/2, R = 1/3
    partial = np.array([0, 1, 0, 0, 0, 0, 0, 0])
    assert B.token_f1(partial, chars) == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


def test_tolerant_token_f1_reads_a_firing_on_the_space_as_the_word_end():
    chars = list("ab cd ef")
    on_spaces = np.array([0, 0, 1, 0, 0, 1, 0, 0])
    assert B.token_f1(on_spaces, chars, tolerant=True) == 1.0
    both = np.array([0, 1, 1, 0, 0, 1, 0, 0])         # the letter and the space: one word end
    assert B.token_f1(both, chars, tolerant=True) == 1.0
    inside = np.array([1, 0, 1, 0, 0, 0, 0, 0])       # "a" | "b" | "cdef": only the space is read tolerantly
    assert B.token_f1(inside, chars, tolerant=True) == pytest.approx(0.0)
    assert B.token_f1(inside, chars, tolerant=False) == 0.0


def test_random_f1():
    assert B.random_f1(0.2, 0.2) == pytest.approx(0.2)
    assert B.random_f1(0.2, 1.0) == pytest.approx(2 * 0.2 / 1.2)
    assert B.random_f1(0.0, 0.0) == 0.0


def test_random_boundaries_score_near_random_f1():
    rng = np.random.default_rng(0)
    words = ["".join("x" * rng.integers(1, 9)) for _ in range(4000)]
    chars = list(" ".join(words))
    z = rng.random(len(chars)) < 0.3
    gold_rate = B.gold_word_ends(chars).mean()
    assert B.strict_scores(z, chars)["f1"] == pytest.approx(B.random_f1(gold_rate, z.mean()), abs=0.02)


@pytest.mark.parametrize("rate", [0.05, 0.3, 0.9])
def test_random_boundaries_score_near_random_f1_tolerant(rate):
    rng = np.random.default_rng(1)
    chars = list(" ".join("x" * rng.integers(1, 9) for _ in range(4000)) + "\n")
    scores = [B.tolerant_scores(rng.random(len(chars)) < rate, chars)["f1"] for _ in range(5)]
    expected = B.random_f1_tolerant(chars, rate)
    assert np.mean(scores) == pytest.approx(expected, abs=0.01)
    # two chances per word end: the tolerant bar sits above the strict one
    assert expected > B.random_f1(B.gold_word_ends(chars).mean(), rate) + 0.02


def test_surprisal_baseline_looks_past_the_space():
    chars = list("ab cd")
    # the surprise sits on 'c', the first letter after the space
    surprisal = np.array([np.nan, 1.0, 0.1, 9.0, 1.0])
    z = B.surprisal_boundaries(surprisal, chars, threshold=5.0)
    assert z.tolist() == [False, True, False, False, False]     # after 'b', never on the space
    thr = B.rate_matching_threshold(surprisal, chars, 0.2)
    assert B.surprisal_boundaries(surprisal, chars, thr).sum() == 1


def test_whitespace_is_found_as_str_isspace_finds_it():
    every = [chr(c) for c in range(0x3100)] + ["\ud800", "x"]            # a lone surrogate too
    assert B.is_space(every).tolist() == [c.isspace() for c in every]
    assert B.is_space("".join(every)).tolist() == [c.isspace() for c in every]
    assert B.is_space(["ab", " ", "  "]).tolist() == [False, True, True]    # positions of several characters
    assert B.is_space([]).tolist() == []


def test_a_firing_near_a_gold_point_credits_it_once():
    fired, gold = np.zeros(30, bool), np.zeros(30, bool)
    gold[[5, 12, 20]] = True
    fired[[4, 6, 14, 27]] = True             # two near 5 (one credited), one 2 from 12, one far away
    s = B.tolerant_prf(fired, gold, tolerance=2)
    assert s["recall"] == pytest.approx(2 / 3) and s["precision"] == pytest.approx(2 / 4)
    assert B.tolerant_prf(fired, gold, tolerance=0)["recall"] == 0.0


def test_the_tolerant_score_makes_as_many_pairs_as_can_be_made():
    fired, gold = np.zeros(8, bool), np.zeros(8, bool)
    fired[[2, 5]] = True
    gold[[0, 3]] = True                      # nearest first would pair 2 with 3 and leave 0 without a firing
    assert B.tolerant_prf(fired, gold, tolerance=2)["f1"] == 1.0


def test_a_firing_never_credits_a_gold_point_on_another_line():
    fired, gold = np.zeros(10, bool), np.zeros(10, bool)
    gold[4] = True                           # the last point of line 0 (points 0..4)
    fired[5] = True                          # the first point of line 1
    line = B.line_ids([5, 5])
    assert line.tolist() == [0] * 5 + [1] * 5
    assert B.tolerant_prf(fired, gold, tolerance=2)["recall"] == 1.0
    assert B.tolerant_prf(fired, gold, tolerance=2, line=line)["recall"] == 0.0
    fired[3] = True                          # on the same line it still credits
    assert B.tolerant_prf(fired, gold, tolerance=2, line=line)["recall"] == 1.0
    only_line_start = np.arange(10) == 5     # random firings there (rate 1) are held to the lines too
    assert B.random_tolerant_f1(only_line_start, gold, 1.0, 2) == 1.0
    assert B.random_tolerant_f1(only_line_start, gold, 1.0, 2, line=line) == 0.0


def test_random_firings_under_the_tolerance_score_above_their_plain_rate():
    candidates, gold = np.ones(2000, bool), np.zeros(2000, bool)
    gold[::10] = True
    tolerant = B.random_tolerant_f1(candidates, gold, rate=0.1, tolerance=2)
    assert 0.1 < tolerant < 0.6 and tolerant > B.random_tolerant_f1(candidates, gold, rate=0.1, tolerance=0)


def test_best_threshold_searches_the_quantile_grid_then_refines_between_its_neighbours():
    values = np.arange(1000.0)
    peak = lambda th: -abs(th - 373.3)  # noqa: E731
    coarse = B.best_threshold(values, peak, refine=False)
    fine = B.best_threshold(values, peak)
    assert coarse in np.quantile(values, np.linspace(0.02, 0.98, 60))
    assert abs(fine - 373.3) < abs(coarse - 373.3) and abs(fine - 373.3) < 2.0
    # the grid stays inside the quantiles asked for, whatever f1 would prefer below them
    assert B.best_threshold(values, peak, quantiles=(0.5, 0.995), refine=False) == pytest.approx(
        np.quantile(values, 0.5))


def test_best_threshold_of_no_finite_value_fires_nowhere():
    assert B.best_threshold(np.array([np.nan, np.inf]), lambda th: 0.0) == float("inf")
