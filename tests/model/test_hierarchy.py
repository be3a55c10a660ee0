"""Hierarchy with spaces (DESIGN.md section 9): the word and phrase layers, and the punctuation proxy."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from model import boundaries, hierarchy
from model.hmlstm import HMLSTMConfig, HMLSTMModel
from model.data import Vocabulary
from model.traces import run_traces


def test_punctuated_text_is_read_like_the_corpus_with_phrase_ends_where_punctuation_was():
    text, ends = hierarchy.read_phrase_text("When it rained, we stayed in; later - much later - we left.\n")
    assert text == "when it rained we stayed in later much later we left\n"
    marked = [text[:k + 1].split()[-1] for k in np.flatnonzero(ends)]
    assert marked == ["rained", "in", "later", "later"]


def test_the_layers_and_the_numbers_of_the_hierarchy():
    chars = list("ab cd ef gh\n")
    z = np.zeros((len(chars), 3))
    z[[1, 4, 7, 10], 0] = 1              # layer 1 fires on every word's last letter
    z[[2, 8], 1] = 1                     # layer 2 on the space after every second word
    scores = [{"layer": 1, "word_boundary_tolerant": {"f1": 1.0}}, {"layer": 2, "word_boundary_tolerant": {"f1": 0.6}}]
    word, phrase = hierarchy.choose_layers(scores, [True, True, False])
    assert (word, phrase) == (1, 2)
    h = hierarchy.hierarchy(z, chars, word, phrase)
    assert h["phrase_on_word_ends"] == 1.0 and h["rate_ratio"] == pytest.approx(0.5)
    assert h["words_per_phrase"] == pytest.approx(2.0)
    assert hierarchy.choose_layers(scores[:1], [True, False])[1] is None
    # the top layer is the phrase layer when its detector is on (DESIGN.md section 9), else the nearest above
    assert hierarchy.choose_layers(scores, [True, True, True]) == (1, 3)
    assert hierarchy.choose_layers(scores, [True, True, True, False]) == (1, 2)


def test_the_phrase_proxy_scores_a_layer_beside_random_word_ends(tmp_path):
    torch.manual_seed(0)
    symbols = sorted(set("abcdefghijklmnopqrstuvwxyz \n"))
    vocab = Vocabulary(["\ufffd"] + symbols)
    model = HMLSTMModel(HMLSTMConfig(vocab_size=len(vocab), input_size=4, hidden_sizes=[8, 8], output_size=8,
                                     top_detector=True)).eval()
    f = tmp_path / "p.txt"
    f.write_text("the cat, the dog; a bird - a fish\nthe end: now\n")
    r = hierarchy.phrase_proxy(run_traces, model, vocab, phrase=2, path=f)
    assert r["sentences"] == 2 and r["phrase_ends"] == 4 and r["word_ends"] == 11
    assert set(r["scores"]) == {"precision", "recall", "f1"}
    assert r["random_word_ends"]["precision"] == pytest.approx(4 / 11)
    # scored against the punctuation: a layer that fires on exactly the phrase ends, then on every word end
    text, gold = hierarchy.read_phrase_text(f.read_text())
    assert len(vocab.read(text).chars) == len(gold)

    def firing(column):
        return lambda model, ids: SimpleNamespace(z=np.stack([np.zeros(len(ids)), column], 1))
    exact = hierarchy.phrase_proxy(firing(gold.astype(float)), model, vocab, phrase=2, path=f)
    assert exact["scores"] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0})
    assert exact["random_word_ends"]["recall"] == pytest.approx(4 / 11)      # it marks 4 of the 11 word ends
    every = boundaries.gold_word_ends(vocab.read(text).chars).astype(float)
    loose = hierarchy.phrase_proxy(firing(every), model, vocab, phrase=2, path=f)
    assert loose["scores"]["precision"] == pytest.approx(4 / 11) and loose["scores"]["recall"] == pytest.approx(1.0)
    assert loose["random_word_ends"]["recall"] == pytest.approx(1.0)
