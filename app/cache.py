"""The prefix cache: one more character typed at the end must not re-run the whole text.

Each checkpoint keeps its last few analyses (the ids read, their traces and final state) in a
small LRU cache; a new text continues from the longest cached prefix of what the model reads.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from model.traces import Trace


class PrefixCache:
    """Analyses keyed by the ids the model read; bounded by entry count."""

    def __init__(self, entries: int):
        self.entries = entries
        self._items: OrderedDict[bytes, Trace] = OrderedDict()
        self._lock = threading.Lock()

    def longest_prefix(self, key: bytes) -> tuple[int, Trace | None]:
        """(number of ids covered, trace) of the longest cached prefix of `key`."""
        best, found = b"", None
        with self._lock:
            for k, trace in self._items.items():
                if len(k) > len(best) and key.startswith(k):
                    best, found = k, trace
            if found is not None:
                self._items.move_to_end(best)
        return len(best) // 4, found

    def put(self, key: bytes, trace: Trace) -> None:
        with self._lock:
            self._items[key] = trace
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def __len__(self):
        return len(self._items)
