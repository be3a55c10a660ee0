"""Hierarchy with spaces (DESIGN.md section 9): a layer that marks words, and a sparser one above it.

- word layer: the detector layer with the best tolerant word-end F1 (on valid where there is one);
- phrase layer: a detector layer above it, the top layer when its detector is on (else the nearest);
- `phrase_on_word_ends`: the share of the phrase layer's firings that the tolerant rule credits
  to a word end; `rate_ratio`: its rate over the word layer's; `words_per_phrase`: the mean number
  of words between its firings;
- the phrase proxy: our own sentences with punctuation (`phrases.txt`), read Penn Treebank style
  (lower case, punctuation removed); gold phrase ends are the word ends that a comma, semicolon,
  colon or dash followed. The phrase layer's firings, moved onto word ends by the tolerant rule,
  are scored against them beside random word ends at the same rate.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from model import boundaries

PHRASES = Path(__file__).with_name("phrases.txt")
PHRASE_MARKS = ",;:-"
_PUNCTUATION = re.compile(r"[,;:.!?\"()-]")


def choose_layers(layer_scores: list[dict], has_detector: list[bool]) -> tuple[int, int | None]:
    """(word layer, phrase layer or None), 1-based, from `model.evaluate`'s per-layer scores."""
    word = max(layer_scores, key=lambda s: s["word_boundary_tolerant"]["f1"])["layer"]
    above = [l + 1 for l in range(word, len(has_detector)) if has_detector[l]]
    if not above:
        return word, None
    return word, (len(has_detector) if has_detector[-1] else above[0])


def hierarchy(z: np.ndarray, chars, word: int, phrase: int | None) -> dict:
    """DESIGN.md section 9's `hierarchy` object for z (T, L) over these characters."""
    result = {"word_layer": word, "phrase_layer": phrase, "phrase_on_word_ends": None, "rate_ratio": None,
              "words_per_phrase": None}
    if phrase is None:
        return result
    fired = np.asarray(z[:, phrase - 1]) > 0.5
    word_rate = float((np.asarray(z[:, word - 1]) > 0.5).mean())
    ends = boundaries.gold_word_ends(chars)
    credited = boundaries.onto_word_ends(fired, chars) & ends
    result.update(phrase_on_word_ends=boundaries.tolerant_scores(fired, chars)["precision"],
                  rate_ratio=float(fired.mean()) / word_rate if word_rate else None,
                  words_per_phrase=float(ends.sum() / max(1, credited.sum())))
    return result


def read_phrase_text(text: str) -> tuple[str, np.ndarray]:
    """Punctuated text read Penn Treebank style, and per character whether a phrase ends after it
    (a word end that , ; : or a dash followed in the original)."""
    out: list[str] = []
    ends: list[bool] = []
    for line in text.splitlines():
        last_letter = None                            # index of the last character of the last word
        for token in line.lower().split():
            word = _PUNCTUATION.sub("", token)
            trailing = token[len(token.rstrip(PHRASE_MARKS + '.!?"()')):]
            if word:
                if last_letter is not None:
                    out.append(" ")
                    ends.append(False)
                out.extend(word)
                ends.extend([False] * len(word))
                last_letter = len(out) - 1
            if last_letter is not None and (any(c in PHRASE_MARKS for c in trailing) or (not word and set(token) <= {"-"})):
                ends[last_letter] = True              # "word," or a free-standing dash after it
        out.append("\n")
        ends.append(False)
    return "".join(out), np.array(ends, dtype=bool)


def phrase_proxy(run_traces, model, vocab, phrase: int | None, path: Path = PHRASES) -> dict | None:
    """The phrase layer against punctuation on our own sentences, beside random word ends."""
    if phrase is None:
        return None
    text, gold = read_phrase_text(path.read_text(encoding="utf-8"))
    reading = vocab.read(text)
    trace = run_traces(model, torch.tensor(reading.ids, dtype=torch.long))
    chars = reading.chars
    word_ends = boundaries.gold_word_ends(chars)
    fired = trace.z[:, phrase - 1] > 0.5
    predicted = boundaries.onto_word_ends(fired, chars) & word_ends
    rate = float(predicted.sum() / max(1, word_ends.sum()))         # the share of word ends it marks
    share = float(gold.sum() / max(1, word_ends.sum()))             # the share of word ends that are phrase ends
    return {"sentences": text.count("\n"), "phrase_ends": int(gold.sum()), "word_ends": int(word_ends.sum()),
            "scores": boundaries.prf(predicted, gold),
            "random_word_ends": {"precision": share, "recall": rate,
                                 "f1": 2 * share * rate / (share + rate) if share + rate else 0.0},
            "how": "the phrase layer's firings moved onto word ends (tolerant rule) against the word ends that "
                   ", ; : or a dash followed, in our own sentences read lower case without punctuation; random: "
                   "word ends chosen at the same rate (expected precision and recall)"}
