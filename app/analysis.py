"""Analysis for the service: typed text or ink in, traces out.

Text continues from the longest prefix in the checkpoint's cache (`app.cache`), so typing costs
one model step per new character, whatever the length of the text. An answer names its analysis
by a digest; a client that sends back the digest of the answer it holds (`since`) gets every
per-position list from `offset` on only, where the two texts' values may differ, and puts the
two together (static/js/lib/api.js): an answer as small as the edit, whatever the length.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from app.cache import Analysed
from app.registry import Loaded
from model import boundaries, discovery
from model.ink import InkStats, preprocess
from model.loops.cpp import inference_threads
from model.traces import Trace, finite_or_none, layers_json, run_traces


def analyse_text(loaded: Loaded, text: str, threads: int = 1, since: str | None = None, client: str = "") -> dict:
    """The body of a POST /api/text answer for one checkpoint, its model run on `threads` threads. A
    spaceless checkpoint reads the text without its whitespace; the typed spaces are then the gold
    word ends. `since`: the digest of an answer the client holds (see the module's docstring); `client`:
    who asks (the cache finds only what that client analysed, `app.cache`)."""
    if loaded.spaces:
        reading = loaded.vocab.read(text)
        gold = boundaries.gold_word_ends(reading.chars)
    else:
        reading, gold = loaded.vocab.read_without_spaces(text)
    ids = np.asarray(reading.ids, dtype=np.int32)
    spans = np.asarray(reading.source_spans, dtype=np.int32).reshape(-1, 2)
    key = ids.tobytes()
    base = loaded.cache.with_digest(client, since) if since else None
    cached, prefix = loaded.cache.longest_prefix(client, key)
    with inference_threads(threads):
        if prefix is not None and cached == len(ids):
            trace = prefix.trace
        elif prefix is not None:
            rest = run_traces(loaded.model, torch.from_numpy(ids[cached:]).long(), prefix.trace.state,
                              prefix.trace.next_out)
            trace = Trace.concat(prefix.trace, rest)
        else:
            trace = run_traces(loaded.model, torch.from_numpy(ids).long())
    digest = digest_of(loaded, ids, spans)
    loaded.cache.put(client, key, Analysed(trace, spans, digest))
    chars = reading.chars
    alike = 0 if base is None else read_alike(base, ids, spans)
    offset = 0 if base is None else resend_from(alike, chars, by_line=loaded.unigram is not None)
    peaks = _surprisal_row(loaded, trace, chars) if loaded.spaces else None
    rows = _with_spaces_rows(chars, peaks) if loaded.spaces else _spaceless_rows(loaded, trace, chars)
    tail = trace.since(offset)
    return {
        "model": loaded.name,
        "task": "text",
        "offset": offset,
        "length": len(chars),
        "digest": digest,
        "chars": chars[offset:],
        "source_spans": reading.source_spans[offset:],
        "unknown": [i == 0 for i in reading.ids[offset:]],
        "surprisal": finite_or_none(tail.loss),
        "layers": layers_json(tail, loaded.model.cfg),
        "spaces": loaded.spaces,
        "gold_word_ends": gold[offset:].astype(int).tolist(),
        "surprisal_boundaries": peaks and {**peaks, "z": peaks["z"][offset:]},
        "baseline_rows": [{**row, "z": row["z"][offset:]} for row in rows],
        # clients behind one address share their part of the cache: how much of it served this text is said only
        # as far as this text agrees with the answer the client holds (else one could read what another typed)
        "reused_prefix": min(cached, alike),
    }


def digest_of(loaded: Loaded, ids: np.ndarray, spans: np.ndarray) -> str:
    """What an answer is of: the checkpoint (its files), the ids it read and where each came from."""
    h = hashlib.blake2b(loaded.fingerprint.encode(), digest_size=12)
    h.update(ids.tobytes())
    h.update(spans.tobytes())
    return h.hexdigest()


def read_alike(base: tuple[np.ndarray, Analysed], ids: np.ndarray, spans: np.ndarray) -> int:
    """How many leading positions this text reads as the answer for `base` (its ids and analysis) did:
    the same id from the same span."""
    base_ids, entry = base
    n = min(len(base_ids), len(ids))
    same = (base_ids[:n] == ids[:n]) & (entry.spans[:n] == spans[:n]).all(1)
    return int(np.argmin(same)) if not same.all() else n


def resend_from(alike: int, chars, by_line: bool) -> int:
    """The first position of this text whose values may differ from those of the held answer, which reads
    its first `alike` positions as this text does (`read_alike`): from the first position read differently,
    one back (the gold word end and a peak at t look at position t + 1), then back over whitespace to the
    character before it (a surprisal peak with spaces reads the next non-space character); with a segmenter
    of whole lines, back to the start of that line."""
    t = max(0, alike - 1)
    while t > 0 and chars[t].isspace():
        t -= 1
    if by_line:
        while t > 0 and chars[t - 1] != "\n":
            t -= 1
    return t


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
        cuts = discovery.unigram_cuts(loaded.unigram, [text[a:b] for a, b in lines.spans], lines, len(chars))
        rows.append({"name": "unigram pieces", "z": cuts.astype(int).tolist(),
                     "how": f"SentencePiece unigram, {base.get('sentencepiece', {}).get('vocab_size', '?')} pieces, "
                            "trained on the spaceless training lines"})
    return rows


def analyse_ink(loaded: Loaded, strokes: list[list[tuple[float, float]]], threads: int = 1) -> dict:
    """The body of a POST /api/ink answer. The normalisation uses the whole line (its RMS step),
    so a new stroke changes every earlier point's input: ink is analysed whole each time."""
    x = preprocess(strokes, InkStats.from_dict(loaded.config["normalisation"]), own_units=True)
    with inference_threads(threads):
        trace = run_traces(loaded.model, torch.from_numpy(x))
    points = [(float(px), float(py), k) for k, stroke in enumerate(strokes) for px, py in stroke]
    return {
        "model": loaded.name, "task": "ink", "points": points,
        "model_input": [(round(float(a), 5), round(float(b), 5), int(e)) for a, b, e in x],
        "pen_up": x[:, 2].astype(int).tolist(), "nll": finite_or_none(trace.loss),
        "layers": layers_json(trace, loaded.model.cfg),
    }
