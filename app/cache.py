"""The prefix cache: one more character typed at the end must not re-run the whole text.

Each checkpoint keeps its last few analyses (the ids read, the spans they came from, their traces
and final state) in a small LRU cache; a new text continues from the longest cached prefix of what
the model reads. Each analysis is also found by its digest: a client that holds the answer for it
is sent only what changed (`app.analysis`).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from model.traces import Trace


@dataclass(frozen=True)
class Analysed:
    """One text's analysis as the cache keeps it."""
    trace: Trace
    spans: np.ndarray        # (T, 2) the input span each position came from
    digest: str              # of the checkpoint, the ids and the spans (`app.analysis.digest_of`)


class PrefixCache:
    """Analyses keyed by the ids the model read; bounded by entry count."""

    def __init__(self, entries: int):
        self.entries = entries
        self._items: OrderedDict[bytes, Analysed] = OrderedDict()
        self._lock = threading.Lock()

    def longest_prefix(self, key: bytes) -> tuple[int, Analysed | None]:
        """(number of ids covered, analysis) of the longest cached prefix of `key`."""
        best, found = b"", None
        with self._lock:
            for k, entry in self._items.items():
                if len(k) > len(best) and key.startswith(k):
                    best, found = k, entry
            if found is not None:
                self._items.move_to_end(best)
        return len(best) // 4, found

    def with_digest(self, digest: str) -> tuple[np.ndarray, Analysed] | None:
        """(ids, analysis) of the cached analysis with this digest, if there is one."""
        with self._lock:
            for k, entry in self._items.items():
                if entry.digest == digest:
                    return np.frombuffer(k, dtype=np.int32), entry
        return None

    def put(self, key: bytes, entry: Analysed) -> None:
        with self._lock:
            self._items[key] = entry
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def __len__(self):
        return len(self._items)
