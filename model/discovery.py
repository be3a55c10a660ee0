"""Word discovery without spaces (DESIGN.md section 8): scoring boundaries line by line, and the
baselines they stand beside.

A text is read without its whitespace (`data.Spaceless`); the newline stays and is a given
boundary. Boundaries are given as `after[t]`: a boundary falls after character t.

- token P/R/F1: a line's predicted words are the spans between consecutive boundaries (its start
  and end are boundaries); one is correct when a gold word has the same start and end; summed
  over all lines.
- boundary P/R/F1: over the gaps inside lines (after t when t is not its line's last character).
- a detector's z is read at lag 0 (z_t = 1: a boundary after t) or lag 1 (a boundary before t,
  once the detector has read the next word's first letter).

Baselines: random boundaries at a rate (the mean of 5 seeded draws), the model's own surprisal
(a boundary before t when -log2 p(x_t | x_<t) > theta) and entropy (after t when the entropy of
p(. | x_<=t) > theta), each theta chosen on valid for the best token F1 there (one supervised
number: say so); SentencePiece unigram and Morfessor Baseline trained on the spaceless training
lines (`SegmenterCache`).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model import boundaries
from model.data import UNKNOWN

log = logging.getLogger(__name__)
SENTENCEPIECE_VOCABS = (1000, 4000, 8000, 16000)


@dataclass(frozen=True)
class Lines:
    """The lines of a spaceless text: [start, end) of each non-empty line's characters (newlines
    left out), and the gold boundaries after each character."""
    spans: tuple[tuple[int, int], ...]
    gold: np.ndarray

    @classmethod
    def of(cls, text: str, gold: np.ndarray) -> "Lines":
        spans, start = [], 0
        for t, c in enumerate(text + "\n"):
            if c == "\n":
                if t > start:
                    spans.append((start, t))
                start = t + 1
        return cls(tuple(spans), np.asarray(gold, bool))

    @property
    def inner(self) -> np.ndarray:
        """True at t when the gap after t is inside its line (the gaps that are scored)."""
        mask = np.zeros(len(self.gold), bool)
        for a, b in self.spans:
            mask[a:b - 1] = True
        return mask

    @property
    def gold_rate(self) -> float:
        inner = self.inner
        return float(self.gold[inner].mean()) if inner.any() else 0.0


def prf(correct: float, predicted: float, gold: float) -> dict:
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def _words(cuts: np.ndarray, a: int, b: int) -> set[tuple[int, int]]:
    """The (start, end) spans of the words of line [a, b) cut after the positions in `cuts`."""
    ends = np.concatenate([np.flatnonzero(cuts[a:b - 1]) + a, [b - 1]])
    starts = np.concatenate([[a], ends[:-1] + 1])
    return set(zip(starts.tolist(), ends.tolist()))


def score(after: np.ndarray, lines: Lines) -> dict:
    """Token and boundary P/R/F1 of boundaries `after` (bool per character) against gold."""
    after = np.asarray(after, bool)
    inner = lines.inner
    boundary = prf(int((after & lines.gold & inner).sum()), int((after & inner).sum()), int((lines.gold & inner).sum()))
    correct = predicted = gold = 0
    for a, b in lines.spans:
        mine, true = _words(after, a, b), _words(lines.gold, a, b)
        correct += len(mine & true)
        predicted += len(mine)
        gold += len(true)
    return {"token": prf(correct, predicted, gold), "boundary": boundary}


def read_at_lag(z: np.ndarray, lag: int) -> np.ndarray:
    """Boundaries after each character from a detector's z: lag 0 as is, lag 1 one to the left."""
    z = np.asarray(z) > 0.5
    if lag == 0:
        return z
    return np.append(z[1:], False)


def layer_scores(z: np.ndarray, lines: Lines, lag: int | None = None) -> dict:
    """A layer's scores at both lags; `lag`, when given (chosen on valid), is the one reported."""
    by_lag = {str(k): score(read_at_lag(z, k), lines) for k in (0, 1)}
    chosen = lag if lag is not None else max((0, 1), key=lambda k: by_lag[str(k)]["token"]["f1"])
    rate = float((np.asarray(z) > 0.5)[lines.inner].mean()) if lines.inner.any() else 0.0
    return {"boundary_rate": rate, "lag": chosen, **by_lag[str(chosen)], "by_lag": by_lag,
            "random": random_scores(lines, rate)}


def random_scores(lines: Lines, rate: float, draws: int = 5) -> dict:
    """Random boundaries in each gap with probability `rate`: the mean of `draws` seeded draws."""
    inner = lines.inner
    runs = []
    for seed in range(draws):
        after = (np.random.default_rng(seed).random(len(lines.gold)) < rate) & inner
        runs.append(score(after, lines))
    mean = lambda part, key: float(np.mean([r[part][key] for r in runs]))  # noqa: E731
    return {part: {k: mean(part, k) for k in ("precision", "recall", "f1")} for part in ("token", "boundary")} | \
        {"rate": rate, "draws": draws}


# --- thresholded baselines ------------------------------------------------------------------

def surprisal_boundaries(surprisal: np.ndarray, theta: float) -> np.ndarray:
    """A boundary before t (after t - 1) when x_t's surprisal exceeds theta."""
    s = np.nan_to_num(np.asarray(surprisal, float), nan=-np.inf)
    return np.append(s[1:] > theta, False) if s.size else np.zeros(0, bool)


def entropy_boundaries(entropy: np.ndarray, theta: float) -> np.ndarray:
    """A boundary after t when the entropy of the next character's distribution exceeds theta."""
    return np.nan_to_num(np.asarray(entropy, float), nan=-np.inf) > theta


def best_threshold(values: np.ndarray, boundaries_at, lines: Lines) -> float:
    """The threshold with the best token F1 on these lines (a coarse grid over the values'
    quantiles, then a finer one around the best)."""
    return boundaries.best_threshold(values, lambda th: score(boundaries_at(th), lines)["token"]["f1"])


def thresholded(values: np.ndarray, boundaries_at, lines: Lines, theta: float, chosen_on: str) -> dict:
    return {**score(boundaries_at(theta), lines), "threshold_bits": float(theta), "threshold_from": chosen_on}


# --- trained segmenters: SentencePiece unigram and Morfessor Baseline ---------------------------

def cuts_from_pieces(pieces_per_line: list[list[str]], lines: Lines, length: int) -> np.ndarray:
    """Boundaries after each character where a line's pieces meet."""
    after = np.zeros(length, bool)
    for (a, b), pieces in zip(lines.spans, pieces_per_line):
        t = a
        for piece in pieces[:-1]:
            t += len(piece)
            after[t - 1] = True
        if pieces and t + len(pieces[-1]) != b:
            raise ValueError(f"the pieces do not spell the line {a}..{b}")
    return after


def unigram_cuts(sp, text_lines: list[str], lines: Lines, length: int) -> np.ndarray:
    """The cuts of a SentencePiece model's pieces. Its normaliser drops U+FFFD, the symbol of a character
    the model cannot read, and its pieces would no longer spell the line: it reads "?" there instead (an
    unknown of one character to it too)."""
    return cuts_from_pieces([sp.encode(line.replace(UNKNOWN, "?"), out_type=str) for line in text_lines], lines, length)


class SegmenterCache:
    """Segmenters trained on the spaceless training lines, kept in a folder outside any checkpoint
    (keyed by a hash of the lines) so that evaluating again does not train them again."""

    def __init__(self, folder: Path, train_lines: list[str]):
        digest = hashlib.sha256("\n".join(train_lines).encode()).hexdigest()[:16]
        self.folder = Path(folder) / digest
        self.folder.mkdir(parents=True, exist_ok=True)
        self.train_lines = train_lines

    def sentencepiece(self, vocab_size: int):
        import sentencepiece as spm
        prefix = self.folder / f"unigram-{vocab_size}"
        if not (prefix.with_suffix(".model")).is_file():
            log.info("training SentencePiece unigram, vocabulary %d", vocab_size)
            text = self.folder / "train-lines.txt"
            if not text.is_file():
                text.write_text("\n".join(self.train_lines) + "\n")
            spm.SentencePieceTrainer.train(
                input=str(text), model_prefix=str(prefix), model_type="unigram", vocab_size=vocab_size,
                split_by_whitespace=False, add_dummy_prefix=False, character_coverage=1.0,
                normalization_rule_name="identity", hard_vocab_limit=False, max_sentencepiece_length=16,
                num_threads=1, minloglevel=2, input_sentence_size=0, shuffle_input_sentence=False)
        return spm.SentencePieceProcessor(model_file=str(prefix.with_suffix(".model")))

    def morfessor(self, max_lines: int):
        import morfessor
        path = self.folder / f"morfessor-{max_lines}.json"
        model = morfessor.BaselineModel()
        if path.is_file():
            model.load_segmentations([(count, compound, tuple(parts)) for count, compound, parts
                                      in json.loads(path.read_text())])
            return model
        log.info("training Morfessor Baseline on %d lines (slow: minutes)", max_lines)
        model.load_data([(1, line) for line in self.train_lines[:max_lines]])
        model.train_batch()
        path.write_text(json.dumps([(count, compound, list(parts)) for count, compound, parts
                                    in model.get_segmentations()]))
        return model


def sentencepiece_baseline(cache: SegmenterCache, valid: tuple[list[str], Lines, int],
                           test: tuple[list[str], Lines, int]) -> dict:
    """Unigram SentencePiece with the vocabulary size of the best valid token F1, on test."""
    scores = {v: score(unigram_cuts(cache.sentencepiece(v), *valid), valid[1])["token"]["f1"] for v in SENTENCEPIECE_VOCABS}
    best = max(scores, key=scores.get)
    return {**score(unigram_cuts(cache.sentencepiece(best), *test), test[1]), "vocab_size": best,
            "valid_token_f1_by_vocab": {str(v): f for v, f in scores.items()}}


def morfessor_baseline(cache: SegmenterCache, test: tuple[list[str], Lines, int], max_lines: int) -> dict:
    model = cache.morfessor(max_lines)
    text_lines, lines, length = test
    pieces = [model.viterbi_segment(line, maxlen=40)[0] for line in text_lines]
    return {**score(cuts_from_pieces(pieces, lines, length), lines), "train_lines": max_lines}
