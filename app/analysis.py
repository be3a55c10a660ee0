"""Analysis for the service: typed text or ink in, traces out.

Text continues from the longest prefix in the checkpoint's cache (`app.cache`), so typing costs
one model step per new character, whatever the length of the text.
"""
from __future__ import annotations

import numpy as np
import torch

from app.registry import Loaded
from model import boundaries
from model.ink import InkStats, preprocess
from model.traces import Trace, finite_or_none, layers_json, run_traces


def analyse_text(loaded: Loaded, text: str) -> dict:
    """The body of a POST /api/text answer for one checkpoint."""
    reading = loaded.vocab.read(text)
    ids = np.asarray(reading.ids, dtype=np.int32)
    key = ids.tobytes()
    cached, prefix = loaded.cache.longest_prefix(key)
    if cached == len(ids):
        trace = prefix
    elif prefix is not None:
        rest = run_traces(loaded.model, torch.from_numpy(ids[cached:]).long(), prefix.state, prefix.next_out)
        trace = Trace.concat(prefix, rest)
    else:
        trace = run_traces(loaded.model, torch.from_numpy(ids).long())
    loaded.cache.put(key, trace)
    return {
        "model": loaded.name,
        "task": "text",
        "chars": reading.chars,
        "source_spans": reading.source_spans,
        "unknown": [i == 0 for i in reading.ids],
        "surprisal": finite_or_none(trace.loss),
        "layers": layers_json(trace, loaded.model.cfg),
        "gold_word_ends": boundaries.gold_word_ends(reading.chars).astype(int).tolist(),
        "surprisal_boundaries": _surprisal_row(loaded, trace, reading.chars),
        "reused_prefix": cached,
    }


def _surprisal_row(loaded: Loaded, trace: Trace, chars) -> dict | None:
    """The surprisal-peak baseline at the threshold chosen on valid (when the checkpoint has one)."""
    base = loaded.config.get("metrics", {}).get("test", {}).get("baselines", {}).get("surprisal")
    if not base or base.get("threshold_bits") is None:
        return None
    thr = float(base["threshold_bits"])
    z = boundaries.surprisal_boundaries(trace.loss, chars, thr)
    return {"z": z.astype(int).tolist(), "threshold_bits": thr, "threshold_from": base.get("threshold_from")}


def analyse_ink(loaded: Loaded, strokes: list[list[tuple[float, float]]]) -> dict:
    """The body of a POST /api/ink answer. The normalisation uses the whole line (its RMS step),
    so a new stroke changes every earlier point's input: ink is analysed whole each time."""
    x = preprocess(strokes, InkStats.from_dict(loaded.config["normalisation"]))
    trace = run_traces(loaded.model, torch.from_numpy(x))
    points = [(float(px), float(py), k) for k, stroke in enumerate(strokes) for px, py in stroke]
    return {
        "model": loaded.name, "task": "ink", "points": points,
        "model_input": [(round(float(a), 5), round(float(b), 5), int(e)) for a, b, e in x],
        "pen_up": x[:, 2].astype(int).tolist(), "nll": finite_or_none(trace.loss),
        "layers": layers_json(trace, loaded.model.cfg),
    }
