"""Scoring boundaries against word ends (DESIGN.md section 6, "Metric definitions").

- strict: gold = a non-space character followed by whitespace or the end of the text.
- tolerant: a firing on that character or on the whitespace right after it credits the
  word end, once.
- token F1: whitespace taken out; a predicted word ends where z fired on a non-space
  character (or at the end of the text); it is right when both its ends match a gold word.
  Its tolerant reading (reported apart) first moves a firing on the whitespace right after a
  word onto the word's last character, as the tolerant boundary score credits it.
- random F1 = 2gr / (g + r) for gold rate g and firing rate r. Its tolerant reading: random
  firings at rate r credit a word end followed by whitespace with probability 1 - (1 - r)^2
  (either of its two positions), so precision and recall are expected counts over rN firings
  and the gold ends.
"""
from __future__ import annotations

import numpy as np


def prf(predicted: np.ndarray, gold: np.ndarray) -> dict:
    """Precision, recall and F1 of boolean boundaries against boolean gold, position by position."""
    predicted, gold = np.asarray(predicted, bool), np.asarray(gold, bool)
    return _prf(int((predicted & gold).sum()), int(predicted.sum()), int(gold.sum()))


def _prf(tp: int, predicted: int, gold: int) -> dict:
    p = tp / predicted if predicted else 0.0
    r = tp / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def tolerant_prf(fired: np.ndarray, gold: np.ndarray, tolerance: int, line: np.ndarray | None = None) -> dict:
    """P/R/F1 where a firing within `tolerance` positions of a gold position on the same line credits
    it, each gold position at most once and each firing at most once, as many pairs as can be made.
    `fired`, `gold`: boolean masks over the same positions; `line`: each position's line (None: one)."""
    f, g = _on_separate_lines(np.flatnonzero(fired), line, tolerance), _on_separate_lines(np.flatnonzero(gold),
                                                                                          line, tolerance)
    # windows of one width: gold in order, each taking the earliest unused firing in reach, make the most pairs
    tp, k = 0, 0
    for b in g:
        while k < len(f) and f[k] < b - tolerance:
            k += 1
        if k < len(f) and f[k] <= b + tolerance:
            tp += 1
            k += 1
    return _prf(tp, len(f), len(g))


def _on_separate_lines(positions: np.ndarray, line: np.ndarray | None, tolerance: int) -> np.ndarray:
    """The positions moved apart so that tolerance + 1 empty positions stand between lines: a firing on one
    line never credits a gold position on another (the first point of a line, after the last of the one before)."""
    return positions if line is None else positions + np.asarray(line)[positions] * (tolerance + 1)


def line_ids(lengths) -> np.ndarray:
    """Each position's line, for lines of these lengths laid end to end."""
    return np.repeat(np.arange(len(lengths)), lengths)


def random_tolerant_f1(candidates: np.ndarray, gold: np.ndarray, rate: float, tolerance: int,
                       line: np.ndarray | None = None, draws: int = 5) -> float:
    """The mean F1 of `draws` seeded random firings at `rate` over the candidate positions, scored
    with the same tolerance."""
    scores = []
    for seed in range(draws):
        fired = candidates & (np.random.default_rng(seed).random(len(candidates)) < rate)
        scores.append(tolerant_prf(fired, gold, tolerance, line)["f1"])
    return float(np.mean(scores))


# every code point that str.isspace() calls whitespace (the last is U+3000)
_SPACES = np.array([c for c in range(0x3001) if chr(c).isspace()], dtype=np.uint32)


def is_space(chars) -> np.ndarray:
    """Per position, whether it is whitespace: chars a str, or a list of one-character symbols."""
    joined = chars if isinstance(chars, str) else "".join(chars)
    if len(joined) != len(chars):                  # not one character per position
        return np.array([c.isspace() for c in chars], dtype=bool)
    return np.isin(np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32), _SPACES)


def gold_word_ends(chars) -> np.ndarray:
    """True at a non-space character followed by whitespace or the end of the text."""
    space = is_space(chars)
    after = np.append(space[1:], True)
    return ~space & after


def strict_scores(z: np.ndarray, chars) -> dict:
    return prf(np.asarray(z) > 0.5, gold_word_ends(chars))


def onto_word_ends(z: np.ndarray, chars) -> np.ndarray:
    """z with each firing on the whitespace right after a word also set on the word's last
    character: a causal detector learns that a word ended only when it reads the space."""
    z = np.asarray(z) > 0.5
    space = is_space(chars)
    next_fires_on_space = np.append(z[1:] & space[1:], False)
    return z | (next_fires_on_space & ~space)


def tolerant_scores(z: np.ndarray, chars) -> dict:
    z = np.asarray(z) > 0.5
    gold = gold_word_ends(chars)
    credited = gold & onto_word_ends(z, chars)
    return _prf(int(credited.sum()), int(z.sum()), int(gold.sum()))


def token_f1(z: np.ndarray, chars, tolerant: bool = False) -> float:
    """Word-token F1 on the text with the whitespace taken out (tolerant: after `onto_word_ends`)."""
    z = onto_word_ends(z, chars) if tolerant else np.asarray(z) > 0.5
    keep = ~is_space(chars)
    if not keep.any():
        return 0.0
    gold_end = gold_word_ends(chars)[keep]
    pred_end = z[keep].copy()
    pred_end[-1] = True                              # the text's end closes the last word
    return _prf(len(_spans(gold_end) & _spans(pred_end)), int(pred_end.sum()), int(gold_end.sum()))["f1"]


def _spans(ends: np.ndarray) -> set[tuple[int, int]]:
    idx = np.flatnonzero(ends)
    starts = np.concatenate([[0], idx[:-1] + 1])
    return set(zip(starts.tolist(), idx.tolist()))


def random_f1(gold_rate: float, rate: float) -> float:
    return 2 * gold_rate * rate / (gold_rate + rate) if gold_rate + rate else 0.0


def random_f1_tolerant(chars, rate: float) -> float:
    """The tolerant F1 that boundaries fired at random at this rate score on these characters, in
    expectation: a fair bar for a detector scored tolerantly."""
    gold = gold_word_ends(chars)
    two_chances = gold & np.append(is_space(chars)[1:], False)
    credited = two_chances.sum() * (1 - (1 - rate) ** 2) + (gold & ~two_chances).sum() * rate
    return _prf(float(credited), rate * len(chars), int(gold.sum()))["f1"]


def layer_scores(z: np.ndarray, chars) -> dict:
    """Everything `model.evaluate` reports for one layer's boundaries."""
    z = np.asarray(z) > 0.5
    rate = float(z.mean()) if z.size else 0.0
    gold_rate = float(gold_word_ends(chars).mean()) if len(chars) else 0.0
    return {"boundary_rate": rate, "word_boundary": strict_scores(z, chars),
            "word_boundary_tolerant": tolerant_scores(z, chars), "word_token_f1": token_f1(z, chars),
            "word_token_f1_tolerant": token_f1(z, chars, tolerant=True), "random_f1": random_f1(gold_rate, rate),
            "random_f1_tolerant": random_f1_tolerant(chars, rate)}


# --- the surprisal-peak baseline ---------------------------------------------------------

def next_nonspace_surprisal(surprisal: np.ndarray, chars) -> np.ndarray:
    """For each non-space position t, the surprisal of the next non-space character
    (NaN on spaces and where there is none). In PTB the space after a word is easy to
    predict: the surprise sits on the next word's first letter, one past the space."""
    words = np.flatnonzero(~is_space(chars))
    out = np.full(len(chars), np.nan)
    out[words[:-1]] = np.asarray(surprisal, dtype=float)[words[1:]]
    return out


def surprisal_boundaries(surprisal: np.ndarray, chars, threshold: float) -> np.ndarray:
    """z = 1 after non-space character t when the next non-space character's surprisal
    exceeds the threshold."""
    s = next_nonspace_surprisal(surprisal, chars)
    return np.nan_to_num(s, nan=-np.inf) > threshold


def rate_matching_threshold(surprisal: np.ndarray, chars, rate: float) -> float:
    """The threshold at which the baseline fires on `rate` of all positions."""
    s = next_nonspace_surprisal(surprisal, chars)
    s = s[np.isfinite(s)]
    k = int(round(rate * len(chars)))
    if k <= 0 or s.size == 0:
        return float("inf")
    k = min(k, s.size)
    return float(np.sort(s)[::-1][k - 1] - 1e-9)


def best_threshold(values: np.ndarray, f1, quantiles: tuple[float, float] = (0.02, 0.98), candidates: int = 60,
                   refine: bool = True) -> float:
    """The threshold with the best f1(threshold): a grid over the finite values' quantiles, then, with
    `refine`, a finer one between the best's neighbours. inf (nothing fires) when no value is finite."""
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return float("inf")
    grid = np.unique(np.quantile(finite, np.linspace(*quantiles, candidates)))
    best = max(grid, key=f1)
    if refine:
        k = int(np.searchsorted(grid, best))
        best = max(np.linspace(grid[max(0, k - 1)], grid[min(len(grid) - 1, k + 1)], 11), key=f1)
    return float(best)
