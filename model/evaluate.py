"""Evaluate a checkpoint: likelihood, and how its boundaries line up with words.

    python -m model.evaluate --checkpoint checkpoints/ptb-3x256 --split test --json
    python -m model.evaluate --checkpoint checkpoints/ptb-3x256 --text-file notes.txt --json
    python -m model.evaluate --checkpoint checkpoints/ptb-nospace-3x256 --no-spaces --split test --json

With spaces (DESIGN.md section 6): BPC over the split read as one contiguous stream (the state
carried, only the first character unscored), and per layer with a detector its boundary rate,
strict and tolerant word-boundary precision / recall / F1, word-token F1 and the F1 of random
boundaries at the same rate (strict, and tolerant in expectation); beside them the surprisal-peak
baseline of the same model (its threshold chosen on the valid split) and the trivial rule that
fires on every whitespace character.

Without spaces (section 8; the default for a checkpoint whose config says "spaces": false): each
line is read with its whitespace removed; per layer, token and boundary scores at lag 0 and lag 1,
the lag chosen on valid; beside them random boundaries, the model's own surprisal and entropy
peaks (thresholds chosen on valid), SentencePiece unigram and Morfessor Baseline (trained on the
spaceless training lines, cached in --cache-dir).

`--record` also writes the result into the checkpoint's config.json metrics.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from model import boundaries, discovery, hierarchy
from model.checkpoint import UNIGRAM, CheckpointError, load_checkpoint, read_config, unwritable, write_config
from model.cli import Parser
from model.data import DataError, Spaceless, Vocabulary, load_corpus, read_text_file
from model.ink import GRAVES, IamOnDB, InkError, InkStats, preprocess, synthetic_cursive, to_offsets
from model.tasks import ink_loglik
from model.traces import run_traces

HOW_TEXT = ("layers: those with a boundary detector (the top layer has none unless trained with --top-detector); "
            "one contiguous stream, state carried, first character unscored; strict gold = non-space char "
            "followed by whitespace or end; tolerant also credits a firing on the whitespace right after; token "
            "F1 on the text without whitespace; random_f1(_tolerant): boundaries fired at random at the layer's "
            "rate; whitespace: the trivial rule z = 1 on every whitespace character")
HOW_SPACELESS = ("each line read with its whitespace removed, the newline kept (a given boundary), the stream "
                 "carried across lines; gold: a word ends after each character that whitespace followed in its "
                 "line and at the line's end; token and boundary P/R/F1 line by line (boundary: gaps inside "
                 "lines); lag 0: z_t = 1 is a boundary after t, lag 1: before t; a layer's lag and every "
                 "baseline's threshold or vocabulary size chosen on valid (supervised choices; the detectors "
                 "themselves use no label)")


def text_report(model, vocab: Vocabulary, text: str, threshold: float | None = None,
                threshold_from: str = "the same text", exact: bool = True,
                layers_from: tuple[int, int | None] | None = None) -> dict:
    """Scores of one text with its spaces. exact: the text is in the corpus's alphabet already (a
    split); otherwise it is read as typed text (DESIGN.md section 7). layers_from: the word and
    phrase layers chosen on valid (else on this text)."""
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
    layers = [{"layer": l + 1, **boundaries.layer_scores(trace.z[:, l], chars)}
              for l in range(cfg.num_layers) if cfg.has_detector(l)]
    gold_rate = float(boundaries.gold_word_ends(chars).mean())
    if threshold is None:
        threshold = boundaries.rate_matching_threshold(surprisal, chars, gold_rate)
    peaks = boundaries.surprisal_boundaries(surprisal, chars, threshold)
    surprisal_baseline = {**boundaries.strict_scores(peaks, chars), "word_token_f1": boundaries.token_f1(peaks, chars),
                          "word_token_f1_tolerant": boundaries.token_f1(peaks, chars, tolerant=True),
                          "boundary_rate": float(peaks.mean()), "threshold_bits": threshold,
                          "threshold_from": threshold_from}
    has_detector = [cfg.has_detector(l) for l in range(cfg.num_layers)]
    word, phrase = layers_from or (hierarchy.choose_layers(layers, has_detector) if layers else (None, None))
    return {"spaces": True, "bpc": float(np.nanmean(surprisal)), "chars": len(chars),
            "scored_chars": int(np.isfinite(surprisal).sum()), "gold_word_end_rate": gold_rate,
            "layers": layers,
            "hierarchy": None if word is None else {
                **hierarchy.hierarchy(trace.z, chars, word, phrase),
                "chosen_on": "valid split" if layers_from else "this text",
                "phrase_proxy": hierarchy.phrase_proxy(run_traces, model, vocab, phrase)},
            "baselines": {"surprisal": surprisal_baseline,
                          "whitespace": boundaries.layer_scores(boundaries.is_space(chars), chars),
                          "random": "per layer: random_f1"}}


def valid_choices(model, vocab, corpus, max_chars) -> tuple[float, tuple[int, int | None]]:
    """What test takes from valid: the surprisal threshold that matches its gold word-end rate, and
    the word and phrase layers."""
    text = corpus["valid"][:max_chars] if max_chars else corpus["valid"]
    chars = list(text)
    trace = run_traces(model, vocab.encode(text))
    cfg = model.cfg
    layers = [{"layer": l + 1, **boundaries.layer_scores(trace.z[:, l], chars)}
              for l in range(cfg.num_layers) if cfg.has_detector(l)]
    threshold = boundaries.rate_matching_threshold(trace.loss, chars, float(boundaries.gold_word_ends(chars).mean()))
    has_detector = [cfg.has_detector(l) for l in range(cfg.num_layers)]
    return threshold, (hierarchy.choose_layers(layers, has_detector) if layers else (None, None))


# --- without spaces -----------------------------------------------------------------------------

class SpacelessRun:
    """One spaceless text run through the model: its lines, gold and traces."""

    def __init__(self, model, chars: list[str], ids: torch.Tensor, gold: np.ndarray):
        if len(chars) < 2:
            raise DataError("the text needs at least two characters")
        self.model, self.chars = model, chars
        self.text = "".join(chars)
        self.lines = discovery.Lines.of(self.text, gold)
        self.trace = run_traces(model, ids)

    @classmethod
    def of_split(cls, model, vocab: Vocabulary, text: str) -> "SpacelessRun":
        spaceless = Spaceless.of(text)
        return cls(model, list(spaceless.text), vocab.encode(spaceless.text), spaceless.word_ends)

    @classmethod
    def of_typed(cls, model, vocab: Vocabulary, text: str) -> "SpacelessRun":
        reading, gold = vocab.read_without_spaces(text)
        return cls(model, reading.chars, torch.tensor(reading.ids, dtype=torch.long), gold)

    def detector_layers(self) -> list[int]:
        cfg = self.model.cfg
        return [l for l in range(cfg.num_layers) if cfg.has_detector(l)]

    def segmenter_input(self) -> tuple[list[str], discovery.Lines, int]:
        return [self.text[a:b] for a, b in self.lines.spans], self.lines, len(self.text)


def spaceless_report(test: SpacelessRun, valid: SpacelessRun | None, chosen_on: str,
                     segmenters: discovery.SegmenterCache | None = None, morfessor_lines: int = 0) -> dict:
    """DESIGN.md section 8's JSON for `test`; lags and thresholds chosen on `valid` (or on `test`
    itself when there is no valid, as `chosen_on` says)."""
    pick = valid or test
    layers = []
    for l in test.detector_layers():
        lag = discovery.layer_scores(pick.trace.z[:, l], pick.lines)["lag"]
        layers.append({"layer": l + 1, **discovery.layer_scores(test.trace.z[:, l], test.lines, lag=lag)})
    theta_s = discovery.best_threshold(pick.trace.loss, lambda th: discovery.surprisal_boundaries(pick.trace.loss, th),
                                       pick.lines)
    theta_e = discovery.best_threshold(pick.trace.entropy,
                                       lambda th: discovery.entropy_boundaries(pick.trace.entropy, th), pick.lines)
    base = {
        "random": discovery.random_scores(test.lines, test.lines.gold_rate),
        "surprisal": discovery.thresholded(test.trace.loss, lambda th: discovery.surprisal_boundaries(test.trace.loss, th),
                                           test.lines, theta_s, chosen_on),
        "entropy": discovery.thresholded(test.trace.entropy, lambda th: discovery.entropy_boundaries(test.trace.entropy, th),
                                         test.lines, theta_e, chosen_on),
    }
    if segmenters is not None and valid is not None:
        base["sentencepiece"] = discovery.sentencepiece_baseline(segmenters, valid.segmenter_input(),
                                                                 test.segmenter_input())
        if morfessor_lines:
            base["morfessor"] = discovery.morfessor_baseline(segmenters, test.segmenter_input(), morfessor_lines)
    loss = test.trace.loss
    return {"spaces": False, "bpc": float(np.nanmean(loss)), "chars": len(test.chars),
            "scored_chars": int(np.isfinite(loss).sum()), "lines": len(test.lines.spans),
            "gold_boundary_rate": test.lines.gold_rate, "layers": layers, "baselines": base,
            "chosen_on": chosen_on, "how": HOW_SPACELESS}


# --- ink -----------------------------------------------------------------------------------

CHAR_TOLERANCE = 2          # points either side (DESIGN.md section 10)
UNDECIDED = 0.05            # a z~ within this of 0.5 is undecided (issue 16: fewer than 20% of points)


class SyntheticDraw(NamedTuple):
    """Which synthetic cursive lines: their sentences, in turn, and the seed of the first line."""
    texts: tuple[str, ...]
    first_seed: int


SCORED = SyntheticDraw(("the quick brown fox", "a small house by the river", "letters join in cursive",
                        "hierarchical boundaries", "minimum of words and ink"), 10_000)
# the surprisal's threshold is chosen on other sentences, drawn with other seeds
CHOICE = SyntheticDraw(("jumping over the lazy dog", "we write what we mean", "pens move in joined strokes",
                        "every word has its shape", "vexing quiz of mixed glyphs"), 20_000)


class SyntheticSet(NamedTuple):
    """Synthetic cursive as the model reads it, and where it is scored."""
    inputs: list[np.ndarray]    # per line, preprocessed like browser ink: scaled to the training lines' RMS step
    inner: np.ndarray           # per point of all lines: inside a stroke (not a pen-up)
    char_end: np.ndarray        # gold: the last point of a character, inside a stroke
    line: np.ndarray            # per point: its line (a firing credits a character end on its own line only)


def synthetic_set(stats: InkStats, lines: int, draw: SyntheticDraw) -> SyntheticSet:
    """The font's units are not the corpus's (a step of about 4 against 55), so the lines are scaled
    as browser ink is: the model sees them as the page shows them."""
    synth = [synthetic_cursive(draw.texts[i % len(draw.texts)], seed=draw.first_seed + i, connected=True)
             for i in range(lines)]
    offsets = [to_offsets(s.strokes) for s in synth]
    inner = np.concatenate([o[:, 2] for o in offsets]) < 0.5
    return SyntheticSet([preprocess(s.strokes, stats, own_units=True) for s in synth], inner,
                        (np.concatenate([s.char_ends() for s in synth]) > 0) & inner,
                        boundaries.line_ids([len(o) for o in offsets]))


def following_surprisal(surprisal: list[np.ndarray]) -> np.ndarray:
    """Per point of all lines, the next point's surprisal (NaN at each line's last point)."""
    return np.concatenate([np.append(s[1:], np.nan) for s in surprisal])


def surprisal_char_ends(following: np.ndarray, inner: np.ndarray, threshold: float) -> np.ndarray:
    """The model's own surprisal as a segmenter inside strokes: a boundary after point t where point
    t + 1 surprises it more than the threshold (as for text, section 6)."""
    return inner & (following > threshold)


def best_char_threshold(surprisal: list[np.ndarray], synth: SyntheticSet) -> float:
    """The threshold with the best character-end F1 on these lines (one grid over the upper half of the values)."""
    following = following_surprisal(surprisal)
    f1 = lambda th: boundaries.tolerant_prf(surprisal_char_ends(following, synth.inner, th),  # noqa: E731
                                            synth.char_end, CHAR_TOLERANCE, synth.line)["f1"]
    return boundaries.best_threshold(np.concatenate(surprisal), f1, quantiles=(0.5, 0.995), refine=False)


def char_scores(fired: np.ndarray, synth: SyntheticSet) -> dict:
    """Firings inside strokes against character ends, beside random firings at the same rate there."""
    fired = fired & synth.inner
    rate = float(fired.sum() / max(1, synth.inner.sum()))
    return {"char_boundary": boundaries.tolerant_prf(fired, synth.char_end, CHAR_TOLERANCE, synth.line),
            "rate_inside_strokes": rate,
            "char_random_f1": boundaries.random_tolerant_f1(synth.inner, synth.char_end, rate, CHAR_TOLERANCE,
                                                            synth.line)}


def ink_report(model, config, lines, synthetic: int = 50) -> dict:
    """Ink: log-likelihood per validation line, and each layer's boundaries against pen-ups (beside
    the trivial rule that fires at every pen-up) and, inside strokes on synthetic cursive, against
    character ends with a tolerance of CHAR_TOLERANCE points, beside random firings at its rate and
    the model's own surprisal (its threshold chosen on synthetic lines of other sentences)."""
    if not lines:
        raise InkError("no validation lines to evaluate")
    stats = InkStats.from_dict(config["normalisation"])
    res = ink_loglik(model, [preprocess(s, stats) for s in lines])
    offsets = [to_offsets(s) for s in lines]
    pen_up, line = np.concatenate([o[:, 2] for o in offsets]) > 0.5, boundaries.line_ids([len(o) for o in offsets])
    z, z_soft = np.concatenate(res["z"]), np.concatenate(res["z_soft"])
    synth, choice = synthetic_set(stats, synthetic, SCORED), synthetic_set(stats, synthetic, CHOICE)
    s_res = ink_loglik(model, synth.inputs)
    sz = np.concatenate(s_res["z"])
    layers = []
    for l in range(model.cfg.num_layers):
        if model.cfg.has_detector(l):
            fired = z[:, l] > 0.5
            rate = float(fired.mean())
            layers.append({
                "layer": l + 1, "boundary_rate": rate, "undecided": float((abs(z_soft[:, l] - 0.5) < UNDECIDED).mean()),
                "penup": boundaries.prf(fired, pen_up),
                "penup_gold_rate": float(pen_up.mean()),
                "penup_random_f1": boundaries.random_f1(float(pen_up.mean()), rate),
                # a detector that fires as the pen lands, a point after the pen-up, marks the same gap
                "penup_tolerant": boundaries.tolerant_prf(fired, pen_up, CHAR_TOLERANCE, line),
                "penup_random_f1_tolerant": boundaries.random_tolerant_f1(np.ones_like(pen_up), pen_up, rate,
                                                                          CHAR_TOLERANCE, line),
                **char_scores(sz[:, l] > 0.5, synth),
                "char_gold_rate": float(synth.char_end.sum() / max(1, synth.inner.sum()))})
    theta = best_char_threshold(ink_loglik(model, choice.inputs)["surprisal"], choice)
    surprisal_fired = surprisal_char_ends(following_surprisal(s_res["surprisal"]), synth.inner, theta)
    scored = sum(len(x) - 1 for x in res["z"])
    result = {"protocol": stats.protocol, "loglik_per_sequence": res["loglik_per_sequence"],
              "sequences": len(lines), "points": int(sum(len(s_) for s_ in res["z"])), "layers": layers,
              "baselines": {"penup_rule": {"penup": {"precision": 1.0, "recall": 1.0, "f1": 1.0},
                                           "char_boundary": {"precision": 0.0, "recall": 0.0, "f1": 0.0}},
                            "surprisal": {**char_scores(surprisal_fired, synth),
                                          "threshold_nats": theta,
                                          "threshold_from": f"{synthetic} synthetic lines of other sentences, "
                                                            "drawn with other seeds"}},
              "synthetic_lines": synthetic, "synthetic_joined": True, "synthetic_scaled": True,
              "char_tolerance_points": CHAR_TOLERANCE}
    if stats.protocol == GRAVES:
        result["jacobian_nats_per_point"] = stats.jacobian_nats()
        result["loglik_per_sequence_whiteboard"] = res["loglik_per_sequence"] + stats.jacobian_nats() * scored / len(lines)
    result["how"] = (f"log-likelihood: per line, the sum over its points after the first of log p(offset, "
                     f"end-of-stroke | earlier points) in nats, in the standardised offset space ({stats.to_dict()['scale']}), "
                     "the mean over lines; the Jacobian to whiteboard units is stated (jacobian_nats_per_point), "
                     "not added, except in loglik_per_sequence_whiteboard; pen-up gold: the last point of each "
                     "stroke; char_boundary: synthetic cursive with the letters of each word joined (pen down), "
                     "scaled as browser ink is (its RMS step to the training lines' median), the last point of "
                     f"each character that does not end a stroke, a firing within {CHAR_TOLERANCE} points credits it "
                     f"once (pen-up points left out); penup_tolerant: a firing within {CHAR_TOLERANCE} points "
                     "credits a pen-up, once; undecided: the share of validation points whose z~ is within "
                     "0.05 of 0.5; random_f1: random firings at the layer's rate (5 draws where scored with a "
                     "tolerance); "
                     "penup_rule: fires at every pen-up; surprisal: a boundary after a point where the next point's "
                     "surprisal is above a threshold, the threshold with the best character F1 on synthetic lines "
                     "of other sentences, drawn with other seeds")
    return result


# --- the command ------------------------------------------------------------------------------

def parse_args(argv=None):
    p = Parser(prog="python -m model.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data-dir", help="the data folder: Penn Treebank for a text checkpoint (default ../shared/data/ptb), "
                     "IAM-OnDB for an ink one (default ../shared/data/iam-ondb)")
    src.add_argument("--text-file", help="evaluate any UTF-8 text, read as typed text")
    p.add_argument("--split", choices=["test", "valid"], help="text: the split scored (default test); ink is "
                                                                "scored on the validation lines")
    p.add_argument("--max-chars", type=int, default=0, help="only the first N characters")
    p.add_argument("--no-spaces", action="store_true",
                   help="read the text without its whitespace (the default for a spaceless checkpoint)")
    p.add_argument("--cache-dir", default=".cache/segmenters",
                   help="spaceless: where the trained SentencePiece and Morfessor baselines are kept")
    p.add_argument("--morfessor-lines", type=int, default=5000,
                   help="spaceless: training lines for Morfessor (0: leave it out; 5,000 take minutes)")
    p.add_argument("--json", action="store_true", help="print one JSON object (the default prints it indented)")
    p.add_argument("--record", action="store_true", help="write the result into the checkpoint's metrics")
    p.add_argument("--max-lines", type=int, default=0, help="ink: only the first N validation lines")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's own choice, every core)")
    args = p.parse_args(argv)
    if args.max_chars < 0 or args.max_lines < 0 or args.morfessor_lines < 0:
        p.error("--max-chars, --max-lines and --morfessor-lines must be at least 0 (0: all)")
    return args, p


def open_checkpoint(args, prog: str):
    """A command's --checkpoint (with its --threads set first), or an exit with one line saying what is wrong."""
    if args.threads < 0:
        sys.exit(f"{prog}: --threads must be at least 0 (0: torch's own choice)")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return load_checkpoint(args.checkpoint)
    except CheckpointError as e:
        sys.exit(f"{prog}: {e}")


def main(argv=None):
    args, parser = parse_args(argv)
    if args.record and (args.max_chars or args.max_lines):
        sys.exit("model.evaluate: --record keeps a whole split's figures in the checkpoint: leave out --max-chars "
                 "and --max-lines (or leave out --record to look at a part)")
    model, config = open_checkpoint(args, "model.evaluate")
    t0 = time.time()
    if model.cfg.task == "ink":
        if args.text_file or args.split == "test" or args.no_spaces or args.max_chars:
            parser.error("--text-file, --split test, --no-spaces and --max-chars are for text checkpoints (ink is "
                         "scored on the validation lines, --split valid; --max-lines takes fewer)")
        try:
            lines = [s for _, s in IamOnDB(args.data_dir).lines("validation", limit=args.max_lines)]
            result = ink_report(model, config, lines)
        except InkError as e:
            sys.exit(f"model.evaluate: {e}")
        result.update(split="valid", checkpoint=str(args.checkpoint), seconds=round(time.time() - t0, 1))
        return finish(args, result, "valid")
    if args.max_lines or (args.text_file and args.split):
        parser.error("--max-lines is for ink checkpoints (text: --max-chars), and --split for the corpus, not a --text-file")
    args.split = args.split or "test"
    vocab = Vocabulary(config["vocabulary"])
    spaceless = args.no_spaces or config.get("spaces") is False
    try:
        result, files = (evaluate_spaceless if spaceless else evaluate_with_spaces)(args, model, vocab)
    except DataError as e:
        sys.exit(f"model.evaluate: {e}")
    result.update(split=args.split if not args.text_file else None, checkpoint=str(args.checkpoint),
                  seconds=round(time.time() - t0, 1))
    key = "eval_text_file" if args.text_file else args.split
    finish(args, result, key + ("_spaceless" if spaceless and config.get("spaces") is not False else ""), files)


def _cut(text: str, max_chars: int) -> str:
    return text[:max_chars] if max_chars else text


def evaluate_with_spaces(args, model, vocab) -> dict:
    if args.text_file:
        result = text_report(model, vocab, _cut(read_text_file(args.text_file), args.max_chars), exact=False)
        result["data"] = str(args.text_file)
    else:
        corpus = load_corpus(args.data_dir)
        text = _cut(corpus[args.split], args.max_chars)
        if args.split == "valid":
            result = text_report(model, vocab, text, threshold_from="valid (this split)")
        else:
            thr, chosen = valid_choices(model, vocab, corpus, args.max_chars)
            result = text_report(model, vocab, text, threshold=thr, threshold_from="valid split", layers_from=chosen)
        result["data"] = f"Penn Treebank {args.split} split" + (f", first {args.max_chars} chars" if args.max_chars else "")
    result["how"] = HOW_TEXT
    return result, {}


def evaluate_spaceless(args, model, vocab) -> tuple[dict, dict]:
    """The report, and the files that --record keeps beside the checkpoint (the unigram baseline
    chosen on valid, which the page draws as a row)."""
    if args.text_file:
        test = SpacelessRun.of_typed(model, vocab, _cut(read_text_file(args.text_file), args.max_chars))
        result = spaceless_report(test, None, "the same text")
        result["data"] = f"{args.text_file}, read without spaces"
        return result, {}
    if args.split == "test" and unwritable(Path(args.cache_dir)):             # found now, not after the model ran
        raise DataError(f"--cache-dir {args.cache_dir} cannot be made there (a file is in the way, or no "
                        "permission to write)")
    corpus = load_corpus(args.data_dir)
    valid = SpacelessRun.of_split(model, vocab, _cut(corpus["valid"], args.max_chars))
    files = {}
    if args.split == "valid":
        result = spaceless_report(valid, None, "valid (this split)")
    else:
        test = SpacelessRun.of_split(model, vocab, _cut(corpus["test"], args.max_chars))
        train_lines = [line for line in Spaceless.of(corpus["train"]).text.split("\n") if line]
        segmenters = discovery.SegmenterCache(Path(args.cache_dir), train_lines)
        result = spaceless_report(test, valid, "valid split", segmenters, args.morfessor_lines)
        chosen = result["baselines"]["sentencepiece"]["vocab_size"]
        files[UNIGRAM] = segmenters.folder / f"unigram-{chosen}.model"
    result["data"] = (f"Penn Treebank {args.split} split without spaces"
                      + (f", first {args.max_chars} chars" if args.max_chars else ""))
    return result, files


def significant(value, digits: int = 6):
    """Every float in a JSON-like value to `digits` significant digits: more would claim a precision
    that no figure here has, and the 17 of a double only make the JSON hard to read."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: significant(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [significant(v, digits) for v in value]
    return value


def finish(args, result, key, files: dict | None = None, prog: str = "model.evaluate"):
    """Print the result; with --record also keep it in the checkpoint's metrics (and `files`, name ->
    path, beside it)."""
    result = significant(result)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2), flush=True)   # first: kept if recording fails
    if args.record:
        try:
            for name, path in (files or {}).items():
                shutil.copyfile(path, Path(args.checkpoint) / name)
            config = read_config(args.checkpoint)
            # the folder's name, not the path it was read from: the metrics travel with the folder (and are served)
            config.setdefault("metrics", {})[key] = {**result, "checkpoint": Path(args.checkpoint).resolve().name}
            if key == "test" and "bpc" in result:
                config["metrics"]["test_bpc"] = result["bpc"]
            if "loglik_per_sequence" in result:
                config["metrics"]["valid_loglik_per_sequence"] = result["loglik_per_sequence"]
            write_config(args.checkpoint, config)
        except (OSError, CheckpointError) as e:
            sys.exit(f"{prog}: cannot record in {args.checkpoint} ({getattr(e, 'strerror', None) or e}); "
                     "the result is printed above")
        print(f"{prog}: recorded as metrics.{key} in {Path(args.checkpoint) / 'config.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
