"""The prefix cache: one more character typed at the end must not re-run the whole text.

Each checkpoint keeps its last few analyses (the ids read, the spans they came from, their traces
and final state) in a small LRU cache; a new text continues from the longest cached prefix of what
the model reads. Each analysis is also found by its digest: a client that holds the answer for it
is sent only what changed (`app.analysis`).

Each client (`app.deps.client_identity`) finds only what it analysed itself: a cache shared between
clients tells one what another typed, by how fast an answer comes or by a digest of a guessed text
sent as `since`. The space is shared (one LRU bound); what is found in it is not.
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
    """Analyses keyed by who asked and the ids the model read (int32 bytes); bounded by entry count."""

    def __init__(self, entries: int):
        self.entries = entries
        self._items: OrderedDict[tuple[str, bytes], Analysed] = OrderedDict()
        self._lock = threading.Lock()

    def longest_prefix(self, client: str, ids: bytes) -> tuple[int, Analysed | None]:
        """(number of ids covered, analysis) of the longest prefix of `ids` this client has cached."""
        best, found = b"", None
        with self._lock:
            for (who, k), entry in self._items.items():
                if who == client and len(k) > len(best) and ids.startswith(k):
                    best, found = k, entry
            if found is not None:
                self._items.move_to_end((client, best))
        return len(best) // 4, found

    def with_digest(self, client: str, digest: str) -> tuple[np.ndarray, Analysed] | None:
        """(ids, analysis) of this client's cached analysis with this digest, if there is one."""
        with self._lock:
            for (who, k), entry in self._items.items():
                if who == client and entry.digest == digest:
                    return np.frombuffer(k, dtype=np.int32), entry
        return None

    def put(self, client: str, ids: bytes, entry: Analysed) -> None:
        with self._lock:
            self._items[client, ids] = entry
            self._items.move_to_end((client, ids))
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def __len__(self):
        return len(self._items)
