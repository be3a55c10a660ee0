"""Analysis for the service: typed text or ink in, traces out.

Text continues from the longest prefix in the checkpoint's cache (`app.cache`), so typing costs
one model step per new character, whatever the length of the text.
"""
from __future__ import annotations

import numpy as np
import torch

from app.registry import Loaded
from model import boundaries, discovery
from model.ink import InkStats, preprocess
from model.loops.cpp import inference_threads
from model.traces import Trace, finite_or_none, layers_json, run_traces


def analyse_text(loaded: Loaded, text: str, threads: int = 1) -> dict:
    """The body of a POST /api/text answer for one checkpoint, its model run on `threads` threads. A
    spaceless checkpoint reads the text without its whitespace; the typed spaces are then the gold
    word ends."""
    if loaded.spaces:
        reading = loaded.vocab.read(text)
        gold = boundaries.gold_word_ends(reading.chars)
    else:
        reading, gold = loaded.vocab.read_without_spaces(text)
    ids = np.asarray(reading.ids, dtype=np.int32)
    key = ids.tobytes()
    cached, prefix = loaded.cache.longest_prefix(key)
    with inference_threads(threads):
        if cached == len(ids):
            trace = prefix
        elif prefix is not None:
            rest = run_traces(loaded.model, torch.from_numpy(ids[cached:]).long(), prefix.state, prefix.next_out)
            trace = Trace.concat(prefix, rest)
        else:
            trace = run_traces(loaded.model, torch.from_numpy(ids).long())
    loaded.cache.put(key, trace)
    peaks = _surprisal_row(loaded, trace, reading.chars) if loaded.spaces else None
    return {
        "model": loaded.name,
        "task": "text",
        "chars": reading.chars,
        "source_spans": reading.source_spans,
        "unknown": [i == 0 for i in reading.ids],
        "surprisal": finite_or_none(trace.loss),
        "layers": layers_json(trace, loaded.model.cfg),
        "spaces": loaded.spaces,
        "gold_word_ends": gold.astype(int).tolist(),
        "surprisal_boundaries": peaks,
        "baseline_rows": _with_spaces_rows(reading.chars, peaks) if loaded.spaces else
        _spaceless_rows(loaded, trace, reading.chars),
        "reused_prefix": cached,
    }


def _test_baselines(loaded: Loaded) -> dict:
    return loaded.config.get("metrics", {}).get("test", {}).get("baselines", {})


def _surprisal_row(loaded: Loaded, trace: Trace, chars) -> dict | None:
    """The surprisal-peak baseline at the threshold chosen on valid (when the checkpoint has one)."""
    base = _test_baselines(loaded).get("surprisal")
    if not base or base.get("threshold_bits") is None:
        return None
    thr = float(base["threshold_bits"])
    z = boundaries.surprisal_boundaries(trace.loss, chars, thr)
    return {"z": z.astype(int).tolist(), "threshold_bits": thr, "threshold_from": base.get("threshold_from")}


def _with_spaces_rows(chars, peaks: dict | None) -> list[dict]:
    """Beside the layers with spaces: the trivial rule and the surprisal peaks."""
    rows = [{"name": "whitespace", "z": boundaries.is_space(chars).astype(int).tolist(),
             "how": "fires on every whitespace character: with spaces in the input, this rule finds every word"}]
    if peaks is not None:
        rows.append({"name": "surprisal peaks", "z": peaks["z"],
                     "how": f"the next non-space character's surprisal above {peaks['threshold_bits']:.2f} bits "
                            f"(chosen on {peaks['threshold_from']})"})
    return rows


def _spaceless_rows(loaded: Loaded, trace: Trace, chars) -> list[dict]:
    """Beside the layers without spaces: the model's own surprisal and entropy peaks at the thresholds
    chosen on valid, and the unigram segmenter (when the checkpoint's test evaluation recorded them)."""
    base, rows = _test_baselines(loaded), []
    for name, key, at in (("surprisal peaks", "surprisal", discovery.surprisal_boundaries),
                          ("entropy peaks", "entropy", discovery.entropy_boundaries)):
        theta = base.get(key, {}).get("threshold_bits")
        if theta is not None:
            values = trace.loss if key == "surprisal" else trace.entropy
            rows.append({"name": name, "z": at(values, float(theta)).astype(int).tolist(),
                         "how": f"{key} above {float(theta):.2f} bits (chosen on valid for the best word-token F1)"})
    if loaded.unigram is not None:
        text = "".join(chars)
        lines = discovery.Lines.of(text, np.zeros(len(chars), bool))
        pieces = [loaded.unigram.encode(text[a:b], out_type=str) for a, b in lines.spans]
        rows.append({"name": "unigram pieces", "z": discovery.cuts_from_pieces(pieces, lines, len(chars)).astype(int).tolist(),
                     "how": f"SentencePiece unigram, {base.get('sentencepiece', {}).get('vocab_size', '?')} pieces, "
                            "trained on the spaceless training lines"})
    return rows


def analyse_ink(loaded: Loaded, strokes: list[list[tuple[float, float]]], threads: int = 1) -> dict:
    """The body of a POST /api/ink answer. The normalisation uses the whole line (its RMS step),
    so a new stroke changes every earlier point's input: ink is analysed whole each time."""
    x = preprocess(strokes, InkStats.from_dict(loaded.config["normalisation"]), from_browser=True)
    with inference_threads(threads):
        trace = run_traces(loaded.model, torch.from_numpy(x))
    points = [(float(px), float(py), k) for k, stroke in enumerate(strokes) for px, py in stroke]
    return {
        "model": loaded.name, "task": "ink", "points": points,
        "model_input": [(round(float(a), 5), round(float(b), 5), int(e)) for a, b, e in x],
        "pen_up": x[:, 2].astype(int).tolist(), "nll": finite_or_none(trace.loss),
        "layers": layers_json(trace, loaded.model.cfg),
    }
