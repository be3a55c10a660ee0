"""Reading the corpus, and reading what people type."""
import pytest
import torch

from model.data import UNKNOWN, DataError, Vocabulary, batchify, load_corpus, read_ptb_split, stream_batches

PTB_SYMBOLS = [UNKNOWN] + list("\n #$&'*-./0123456789<>N\\abcdefghijklmnopqrstuvwxyz")


def test_ptb_format(tmp_path):
    (tmp_path / "f.txt").write_text(" a _ b c _ N \n d - e _ < u n k > \n")
    assert read_ptb_split(tmp_path / "f.txt") == "a bc N\nd-e <unk>\n"


def test_load_corpus_from_a_ptb_folder(tmp_path):
    for s in ("train", "valid", "test"):                  # each split's file says which it is
        (tmp_path / f"ptb.char.{s}.txt").write_text(f" {' '.join(s)} _ x \n")
    assert load_corpus(tmp_path) == {"train": "train x\n", "valid": "valid x\n", "test": "test x\n"}


def test_missing_data_says_where(tmp_path):
    with pytest.raises(DataError, match="ptb.char.train.txt"):
        load_corpus(tmp_path)
    with pytest.raises(DataError, match="not found"):
        load_corpus(text_file=tmp_path / "nope.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(DataError, match="UTF-8"):
        load_corpus(text_file=bad)
    for split in ("train", "valid", "test"):                          # a Penn Treebank file that is not text
        (tmp_path / f"ptb.char.{split}.txt").write_bytes(b" a _ b \n" if split != "valid" else b"\xff\xfe a")
    with pytest.raises(DataError, match="ptb.char.valid.txt is not UTF-8 text"):
        load_corpus(tmp_path)


def test_text_file_splits_by_lines(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("".join(f"line {i}\n" for i in range(100)))
    c = load_corpus(text_file=f)
    lines = lambda a, b: "".join(f"line {i}\n" for i in range(a, b))   # noqa: E731
    assert (c["train"], c["valid"], c["test"]) == (lines(0, 90), lines(90, 95), lines(95, 100))


def test_typed_text_is_read_the_way_the_corpus_was_made():
    v = Vocabulary(PTB_SYMBOLS)
    r = v.read("New York, 1,250.5 Dollars\r\nÉté")
    assert "".join(r.chars) == f"new york{UNKNOWN} N dollars\nete"
    n = r.chars.index("N")
    assert r.source_spans[n] == (10, 17)                 # the number's whole span
    nl = r.chars.index("\n")
    assert r.source_spans[nl] == (25, 27)                # \r\n is one newline
    assert r.ids == [v.index[c] for c in r.chars]


def test_nothing_typed_is_rejected():
    v = Vocabulary(PTB_SYMBOLS)
    text = "emoji 🙂, tab\t, control \x07 and ∑"
    r = v.read(text)
    assert len(r.chars) == len(r.source_spans) and all(0 <= i < len(v) for i in r.ids)
    assert r.chars[r.source_spans.index((6, 7))] == UNKNOWN
    assert r.chars[text.index("\t")] == " "


def test_vocabulary_validation():
    with pytest.raises(DataError):
        Vocabulary(["a", "b"])                          # no unknown symbol first
    with pytest.raises(DataError):
        Vocabulary([UNKNOWN, "a", "a"])


def test_streams_are_contiguous_and_windows_cover_them():
    ids = torch.arange(103)
    s = batchify(ids, 4)
    assert s.shape == (25, 4) and s[:, 1].tolist() == list(range(25, 50))
    seen = []
    for pos, x, y in stream_batches(ids, 4, 10):
        assert torch.equal(y[:-1], x[1:])
        seen.append(pos)
    assert seen == [0, 10, 20] and x.shape[0] == 4      # the last window is short
    assert [p for p, *_ in stream_batches(ids, 4, 10, start=10)] == [10, 20]


def test_the_reading_memo_stays_bounded():
    from model.data import MEMO_LIMIT
    v = Vocabulary(PTB_SYMBOLS)
    text = "".join(chr(0x4E00 + i) for i in range(MEMO_LIMIT + 500))      # more distinct characters than the bound
    r = v.read(text + "a")
    assert len(v._memo) == MEMO_LIMIT
    assert r.chars[-1] == "a" and r.chars[0] == UNKNOWN                  # mapped all the same
    assert v.read("Ab\u00e9 \u3000c").chars == ["a", "b", "e", " ", " ", "c"]      # and known ones as before


def test_spaceless_reading_keeps_newlines_and_marks_word_ends():
    from model.data import Spaceless
    s = Spaceless.of("the cat  sat\n a b\n\nxy")
    assert s.text == "thecatsat\nab\n\nxy"
    #                      t  h  e  c  a  t  s  a  t  \n a  b  \n \n x  y
    assert s.word_ends.astype(int).tolist() == [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1]


def test_typed_text_without_spaces_keeps_where_each_symbol_came_from():
    v = Vocabulary.from_text("abcdefghijklmnopqrstuvwxyzN\n")
    assert not v.has_space
    reading, gold = v.read_without_spaces("The cat 1,200\nok")
    assert "".join(reading.chars) == "thecatN\nok"
    assert gold.astype(int).tolist() == [0, 0, 1, 0, 0, 1, 1, 0, 0, 1]
    assert reading.source_spans[3] == (4, 5) and reading.source_spans[6] == (8, 13)    # "c", then "1,200"
