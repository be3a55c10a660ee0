"""Evaluate a checkpoint: likelihood, and how its boundaries line up with words.

    python -m model.evaluate --checkpoint checkpoints/ptb-3x256 --split test --json
    python -m model.evaluate --checkpoint checkpoints/ptb-3x256 --text-file notes.txt --json

Text prints one JSON object (DESIGN.md section 6): BPC over the split read as one
contiguous stream (the state carried, only the first character unscored), and per layer
with a detector its boundary rate, strict and tolerant word-boundary precision / recall /
F1, word-token F1 and the F1 of random boundaries at the same rate (strict, and tolerant in
expectation); beside them the surprisal-peak baseline of the same model, its threshold chosen
on the valid split.
`--record` also writes the result into the checkpoint's config.json metrics.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from model import boundaries
from model.checkpoint import CheckpointError, load_checkpoint, read_config, write_config
from model.data import DataError, Vocabulary, load_corpus, read_text_file
from model.ink import IamOnDB, InkError, InkStats, preprocess, synthetic_cursive, to_offsets
from model.tasks import ink_loglik
from model.traces import run_traces


def text_report(model, vocab: Vocabulary, text: str, threshold: float | None = None,
                threshold_from: str = "the same text", exact: bool = True) -> dict:
    """Scores of one text. exact: the text is in the corpus's alphabet already (a split);
    otherwise it is read as typed text (DESIGN.md section 7)."""
    if exact:
        chars = list(text)
        ids = vocab.encode(text)
    else:
        reading = vocab.read(text)
        chars, ids = reading.chars, torch.tensor(reading.ids, dtype=torch.long)
    if len(chars) < 2:
        raise DataError("the text needs at least two characters")
    trace = run_traces(model, ids)
    cfg = model.cfg
    surprisal = trace.loss
    layers = []
    for l in range(cfg.num_layers):
        if cfg.has_detector(l):
            layers.append({"layer": l + 1, **boundaries.layer_scores(trace.z[:, l], chars)})
    if threshold is None:
        threshold = boundaries.rate_matching_threshold(surprisal, chars, float(boundaries.gold_word_ends(chars).mean()))
    base_z = boundaries.surprisal_boundaries(surprisal, chars, threshold)
    baseline = {**boundaries.strict_scores(base_z, chars), "word_token_f1": boundaries.token_f1(base_z, chars),
                "word_token_f1_tolerant": boundaries.token_f1(base_z, chars, tolerant=True),
                "boundary_rate": float(base_z.mean()), "threshold_bits": threshold,
                "threshold_from": threshold_from}
    return {"bpc": float(np.nanmean(surprisal)), "chars": len(chars),
            "scored_chars": int(np.isfinite(surprisal).sum()),
            "gold_word_end_rate": float(boundaries.gold_word_ends(chars).mean()),
            "layers": layers, "baselines": {"surprisal": baseline, "random": "per layer: random_f1"}}


def ink_report(model, config, lines, synthetic: int = 50) -> dict:
    """Ink: log-likelihood per validation line, and each layer's boundaries against pen-ups and,
    on synthetic cursive, against character ends inside strokes."""
    stats = InkStats.from_dict(config["normalisation"])
    res = ink_loglik(model, [preprocess(s, stats) for s in lines])
    pen_up = np.concatenate([to_offsets(s)[:, 2] for s in lines]) > 0.5
    z = np.concatenate(res["z"])
    synth = [synthetic_cursive(SYNTHETIC_TEXTS[i % len(SYNTHETIC_TEXTS)], seed=10_000 + i) for i in range(synthetic)]
    sz = np.concatenate(ink_loglik(model, [preprocess(s.strokes, stats) for s in synth])["z"])
    s_end = np.concatenate([s.char_ends() for s in synth]) > 0
    s_up = np.concatenate([to_offsets(s.strokes)[:, 2] for s in synth]) > 0.5
    layers = []
    for l in range(model.cfg.num_layers):
        if model.cfg.has_detector(l):
            fired, inner = z[:, l] > 0.5, ~s_up
            layers.append({"layer": l + 1, "boundary_rate": float(fired.mean()),
                           "penup": boundaries.prf(fired, pen_up),
                           "char_boundary": boundaries.prf(sz[inner, l] > 0.5, s_end[inner])})
    return {"loglik_per_sequence": res["loglik_per_sequence"], "sequences": len(lines),
            "points": int(sum(len(s_) for s_ in res["z"])), "layers": layers,
            "synthetic_lines": synthetic,
            "how": ("log-likelihood: per line, the sum over its points after the first of log p(offset, "
                    "end-of-stroke | earlier points) in nats, in the normalised offset space (offsets / the "
                    "line's RMS step, standardised; no Jacobian), the mean over lines; pen-up gold: the last "
                    "point of each stroke; char_boundary: synthetic cursive, character ends inside strokes "
                    "(pen-up points left out)")}


SYNTHETIC_TEXTS = ["the quick brown fox", "a small house by the river", "letters join in cursive",
                   "hierarchical boundaries", "minimum of words and ink"]


def valid_threshold(model, vocab, corpus, max_chars) -> float:
    """The surprisal threshold that matches the valid split's gold word-end rate."""
    text = corpus["valid"][:max_chars] if max_chars else corpus["valid"]
    chars = list(text)
    trace = run_traces(model, vocab.encode(text))
    return boundaries.rate_matching_threshold(trace.loss, chars, float(boundaries.gold_word_ends(chars).mean()))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m model.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data-dir", help="Penn Treebank folder (default ../shared/data/ptb)")
    src.add_argument("--text-file", help="evaluate any UTF-8 text, read as typed text")
    p.add_argument("--split", choices=["test", "valid"], default="test")
    p.add_argument("--max-chars", type=int, default=0, help="only the first N characters")
    p.add_argument("--json", action="store_true", help="print one JSON object (the default prints it indented)")
    p.add_argument("--record", action="store_true", help="write the result into the checkpoint's metrics")
    p.add_argument("--max-lines", type=int, default=0, help="ink: only the first N validation lines")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.max_chars < 0:
        p.error("--max-chars must be positive")
    try:
        model, config = load_checkpoint(args.checkpoint)
    except CheckpointError as e:
        sys.exit(f"model.evaluate: {e}")
    t0 = time.time()
    if model.cfg.task == "ink":
        if args.text_file:
            p.error("--text-file is for text checkpoints")
        try:
            lines = [s for _, s in IamOnDB(args.data_dir).lines("validation", limit=args.max_lines)]
        except InkError as e:
            sys.exit(f"model.evaluate: {e}")
        result = ink_report(model, config, lines)
        result.update(split="valid", checkpoint=str(args.checkpoint), seconds=round(time.time() - t0, 1))
        return finish(args, model, result, "valid")
    vocab = Vocabulary(config["vocabulary"])
    try:
        if args.text_file:
            text = read_text_file(args.text_file)
            if args.max_chars:
                text = text[:args.max_chars]
            result = text_report(model, vocab, text, exact=False)
            result["data"] = str(args.text_file)
        else:
            corpus = load_corpus(args.data_dir)
            text = corpus[args.split][:args.max_chars] if args.max_chars else corpus[args.split]
            if args.split == "valid":
                result = text_report(model, vocab, text, threshold_from="valid (this split)")
            else:
                thr = valid_threshold(model, vocab, corpus, args.max_chars)
                result = text_report(model, vocab, text, threshold=thr, threshold_from="valid split")
            result["data"] = f"Penn Treebank {args.split} split" + (f", first {args.max_chars} chars" if args.max_chars else "")
    except DataError as e:
        sys.exit(f"model.evaluate: {e}")
    result["split"] = args.split if not args.text_file else None
    result["checkpoint"] = str(args.checkpoint)
    result["seconds"] = round(time.time() - t0, 1)
    result["how"] = ("one contiguous stream, state carried, first character unscored; strict gold = "
                     "non-space char followed by whitespace or end; tolerant also credits a firing on the "
                     "whitespace right after; token F1 on the text without whitespace; random_f1(_tolerant): "
                     "boundaries fired at random at the layer's rate")
    finish(args, model, result, "eval_text_file" if args.text_file else args.split)


def finish(args, model, result, key):
    """Print the result; with --record also keep it in the checkpoint's metrics."""
    if args.record:
        config = read_config(args.checkpoint)
        config.setdefault("metrics", {})[key] = result
        if key == "test" and "bpc" in result:
            config["metrics"]["test_bpc"] = result["bpc"]
        if "loglik_per_sequence" in result:
            config["metrics"]["valid_loglik_per_sequence"] = result["loglik_per_sequence"]
        write_config(args.checkpoint, config)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
