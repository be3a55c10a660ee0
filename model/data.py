"""Text data: the Penn Treebank characters, any UTF-8 file, and what people type.

The alphabet is the corpus's own (stored in the checkpoint), plus one unknown symbol at
index 0. Typed text is mapped the way the corpus was made (DESIGN.md section 7):
lower case, a number becomes `N`, and whatever remains outside the alphabet is read as
the unknown symbol, so nothing typed is ever rejected.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

UNKNOWN = "\ufffd"             # shown for characters the model cannot read
DEFAULT_PTB_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ptb"
SPLITS = ("train", "valid", "test")
MEMO_LIMIT = 4096              # typed characters whose mapping a vocabulary remembers


class DataError(ValueError):
    """Data that cannot be read: the message says what and where."""


def _read_utf8(path: Path, newline: str | None = None) -> str:
    """A file's text, or a DataError saying why it cannot be read as UTF-8 (`newline` as `open` takes it)."""
    try:
        with open(path, encoding="utf-8", newline=newline) as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DataError(f"{path} cannot be read ({e.strerror})") from None


def read_ptb_split(path: Path) -> str:
    """Mikolov's character files: characters separated by spaces, `_` between words."""
    lines = _read_utf8(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "".join("".join(" " if c == "_" else c for c in line.split()) + "\n" for line in lines)


@dataclass
class Spaceless:
    """A text read without its whitespace (DESIGN.md section 8): each line with its spaces taken
    out, the newline kept (a given boundary between lines). `word_ends[t]`: a word ends after
    character t, where whitespace followed it in its line and at the line's end (gold); never on a
    newline, which is not scored."""
    text: str
    word_ends: np.ndarray

    @classmethod
    def of(cls, text: str) -> "Spaceless":
        kept: list[str] = []
        ends: list[bool] = []
        line_start = 0                      # index in `kept` where the current line begins
        for c in text:
            if c == "\n" or c.isspace():
                if len(kept) > line_start:
                    ends[-1] = True          # whitespace or the line's end after a character: a word ends
                if c == "\n":
                    kept.append(c)
                    ends.append(False)
                    line_start = len(kept)
            else:
                kept.append(c)
                ends.append(False)
        if len(kept) > line_start:
            ends[-1] = True                  # a last line without its newline
        return cls("".join(kept), np.array(ends, dtype=bool))


def read_text_file(path: str | Path, newlines_as_written: bool = False) -> str:
    """A UTF-8 text file's contents, or a DataError saying what is wrong with it. Newlines become "\n",
    unless `newlines_as_written` (then a position counts the file's own characters, "\r\n" two)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"text file not found: {path}")
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    text = _read_utf8(path, "" if newlines_as_written else None)
    if not text:
        raise DataError(f"{path} is empty")
    return text


def load_corpus(data_dir: str | Path | None = None, text_file: str | Path | None = None) -> dict[str, str]:
    """{"train", "valid", "test"} -> text, with its whitespace. A plain text file is split 90/5/5
    by lines."""
    if text_file is not None:
        text = read_text_file(text_file)
        lines = text.splitlines(keepends=True)
        a, b = int(len(lines) * 0.9), int(len(lines) * 0.95)
        if min(a, b - a, len(lines) - b) == 0:
            return {"train": text, "valid": text, "test": text}
        return {"train": "".join(lines[:a]), "valid": "".join(lines[a:b]), "test": "".join(lines[b:])}
    d = Path(data_dir) if data_dir is not None else DEFAULT_PTB_DIR
    files = {s: d / f"ptb.char.{s}.txt" for s in SPLITS}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise DataError(f"Penn Treebank files not found: {', '.join(missing)} (give --data-dir or --text-file)")
    return {s: read_ptb_split(p) for s, p in files.items()}


@dataclass
class Vocabulary:
    symbols: list[str]                   # symbols[0] is UNKNOWN

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        return cls([UNKNOWN] + sorted(set(text) - {UNKNOWN}))

    def __post_init__(self):
        if not self.symbols or self.symbols[0] != UNKNOWN or len(set(self.symbols)) != len(self.symbols):
            raise DataError("a vocabulary starts with the unknown symbol and repeats no symbol")
        if not all(isinstance(c, str) and len(c) == 1 for c in self.symbols):
            raise DataError("every symbol of a vocabulary is one character")
        self.index = {c: i for i, c in enumerate(self.symbols)}
        self._memo: dict[int, str] = {}       # code point -> symbol: a str.translate table, filled as typed

    def __len__(self):
        return len(self.symbols)

    def encode(self, text: str) -> torch.Tensor:
        """Corpus text to ids, exactly (unknown characters become id 0)."""
        return torch.tensor([self.index.get(c, 0) for c in text], dtype=torch.long)

    def _symbols(self, piece: str) -> str:
        """Each character of typed text as the symbol it maps to (one character each): lower case, accents
        dropped, any space a space. One str.translate over the piece, its table remembered between calls."""
        memo = self._memo
        for c in set(piece):
            if ord(c) in memo:
                continue
            if len(memo) >= MEMO_LIMIT:               # typed text can hold any code point: stay bounded
                return "".join(memo.get(ord(c)) or self._map(c) for c in piece)
            memo[ord(c)] = self._map(c)
        return piece.translate(memo)

    def _map(self, c: str) -> str:
        if c.isupper() and c.lower() in self.index:      # `N` is PTB's number, not a capital n
            return c.lower()
        if c in self.index:
            return c
        base = unicodedata.normalize("NFKD", c)[:1].lower()
        if base in self.index:
            return base
        if c.isspace() and " " in self.index:
            return " "
        return UNKNOWN

    @property
    def has_space(self) -> bool:
        """Whether this alphabet has the space: a spaceless model's (DESIGN.md section 8) does not."""
        return " " in self.index

    def read_without_spaces(self, text: str) -> tuple["ModelReading", np.ndarray]:
        """Typed text read the spaceless way: mapped as `read` maps it, its whitespace then taken out
        (newlines kept); the typed spaces become the gold word ends (`Spaceless`)."""
        full = self.read(text)
        blank = [c != "\n" and text[a:b].isspace() for c, (a, b) in zip(full.chars, full.source_spans)]
        gold = Spaceless.of("".join(" " if w else c for c, w in zip(full.chars, blank))).word_ends
        keep = [i for i, w in enumerate(blank) if not w]
        reading = ModelReading([full.chars[i] for i in keep], [full.ids[i] for i in keep],
                               [full.source_spans[i] for i in keep])
        return reading, gold

    def read(self, text: str) -> "ModelReading":
        """What the model reads of typed text: symbols, ids and the span each came from."""
        chars, spans = [], []

        def plain(a: int, b: int):
            chars.extend(self._symbols(text[a:b]))
            spans.extend(zip(range(a, b), range(a + 1, b + 1)))
        at = 0
        for m in _SPECIAL.finditer(text):
            plain(at, m.start())
            if m.lastgroup == "number" and "N" in self.index:
                chars.append("N")                  # the corpus writes a number as N
                spans.append(m.span())
            elif m.lastgroup == "newline":
                chars.append("\n" if "\n" in self.index else UNKNOWN)
                spans.append(m.span())
            else:
                plain(*m.span())
            at = m.end()
        plain(at, len(text))
        index = self.index
        return ModelReading(chars, [index[c] for c in chars], spans)


# a number as the corpus's tokenizer saw one: digits with inner separators ("1,000.5"); a newline
_SPECIAL = re.compile(r"(?P<number>\d+(?:[.,:/]\d+)*)|(?P<newline>\r\n|\r|\n)")


@dataclass
class ModelReading:
    chars: list[str]
    ids: list[int]
    source_spans: list[tuple[int, int]]


def stream_batches(ids: torch.Tensor, batch: int, length: int, start: int = 0):
    """Truncated-BPTT windows over `batch` contiguous streams of `ids` (see `windows`)."""
    return windows(batchify(ids, batch), length, start)


def windows(streams: torch.Tensor, length: int, start: int = 0):
    """Yield (position, inputs (n, B), targets (n, B)) over streams (N, B), n <= length.

    The state is carried from one window to the next; `position` lets a resumed run
    start at the window where it stopped.
    """
    for pos in range(start, streams.shape[0] - 1, length):
        n = min(length, streams.shape[0] - 1 - pos)
        yield pos, streams[pos:pos + n], streams[pos + 1:pos + 1 + n]


def batchify(data: torch.Tensor, batch: int) -> torch.Tensor:
    """(N, ...) -> (N // batch, batch, ...): column b is the b-th contiguous slice of the data."""
    n = data.shape[0] // batch
    if n < 2:
        raise DataError(f"{data.shape[0]} positions are too few for {batch} streams")
    return data[:n * batch].reshape(batch, n, *data.shape[1:]).transpose(0, 1).contiguous()
