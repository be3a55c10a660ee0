"""Traces (DESIGN.md section 4): what one run of a checkpoint over one input shows.

`run_traces` is the one place that turns a model run into per-position, per-layer
boundary and gate/norm traces; the server, the evaluation and the study all call it.
It reads a single sequence in chunks with the state carried, so memory stays bounded
however long the input, and it can start from a saved state (the server's prefix cache).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model.boundaries import gold_word_ends
from model.checkpoint import CheckpointError, load_checkpoint
from model.cli import HelpWithDefaults, Parser
from model.data import DataError, Vocabulary, read_text_file
from model.ink import MAX_COORDINATE, InkError, InkStats, preprocess
from model.loops.cpp import inference_threads

LOG2E = 1.0 / np.log(2.0)


@dataclass
class Trace:
    """Per position t (rows) and layer l (columns)."""
    z: np.ndarray            # (T, L) 0/1, the boundary after position t
    z_soft: np.ndarray       # (T, L) z~ before the 0.5 threshold
    op: np.ndarray           # (T, L) "U", "C" or "F": the operation that produced step t
    h_norm: np.ndarray       # (T, L) ||h_t^l||
    gate: np.ndarray         # (T, L) g_t^l of the output module
    loss: np.ndarray         # (T,) text: surprisal in bits (NaN where unknown); ink: NLL in nats
    entropy: np.ndarray      # (T,) text: bits of p(. | x_<=t), the prediction made after t; ink: NaN
    state: tuple             # (h, c, z) after the last position, batch 1
    next_out: torch.Tensor   # the head's output at the last position (predicts position T)

    def __len__(self):
        return self.z.shape[0]

    def since(self, t: int) -> "Trace":
        """Positions t onwards (the state and prediction after the last stay)."""
        if t == 0:
            return self
        return Trace(self.z[t:], self.z_soft[t:], self.op[t:], self.h_norm[t:], self.gate[t:], self.loss[t:],
                     self.entropy[t:], self.state, self.next_out)

    @staticmethod
    def concat(a: "Trace", b: "Trace") -> "Trace":
        cat = lambda x, y: np.concatenate([x, y])  # noqa: E731
        return Trace(cat(a.z, b.z), cat(a.z_soft, b.z_soft), cat(a.op, b.op), cat(a.h_norm, b.h_norm),
                     cat(a.gate, b.gate), cat(a.loss, b.loss), cat(a.entropy, b.entropy), b.state, b.next_out)


def operations(z_prev_own: np.ndarray, z: np.ndarray, has_z: list[bool]) -> np.ndarray:
    """op_t^l: FLUSH if z_{t-1}^l = 1, UPDATE if z_t^{l-1} = 1 (z^0 = 1), COPY otherwise."""
    T, L = z.shape
    z_prev = np.concatenate([z_prev_own[None, :], z[:-1]], 0)
    below = np.concatenate([np.ones((T, 1)), z[:, :-1]], 1)
    op = np.where(below > 0.5, "U", "C").astype("<U1")
    flush = (z_prev > 0.5) & np.array(has_z)[None, :]
    op[flush] = "F"
    return op


@torch.no_grad()
def run_traces(model, inputs: torch.Tensor, state=None, prev_out: torch.Tensor | None = None,
               chunk: int = 1024) -> Trace:
    """Run `model` over one sequence: ids (T,) for text, offsets (T, 3) for ink.

    state / prev_out continue from an earlier run (e.g. a cached prefix): prev_out is that
    run's `next_out`, which scores the first position here. Without it the first position
    has no score (NaN).
    """
    cfg = model.cfg
    L = cfg.num_layers
    has_z = [cfg.has_detector(l) for l in range(L)]
    sizes = torch.tensor(cfg.hidden_sizes)
    if state is None:
        state = model.rnn.initial_state(1)
    z_start = state[2][0].numpy().copy()
    zs, softs, norms, gates, losses, entropies = [], [], [], [], [], []
    for a in range(0, inputs.shape[0], chunk):
        piece = inputs[a:a + chunk]
        out = model(piece.unsqueeze(1), state)
        state = out["state"]
        h = out["h"][:, 0]                                          # (n, sum H)
        norms.append(torch.stack([v.norm(dim=-1) for v in h.split(sizes.tolist(), -1)], -1))
        # copies: a view would keep the whole of the run's buffers (h, c, gates: kilobytes a position) alive
        zs.append(out["z"][:, 0].clone())
        softs.append(out["z_soft"][:, 0].clone())
        gates.append(out["gate"][:, 0].clone())
        preds = out["out"][:, 0]                                    # predicts positions a+1 .. a+n
        scored = torch.cat([prev_out[None], preds[:-1]]) if prev_out is not None else preds[:-1]
        targets = piece if prev_out is not None else piece[1:]
        losses.append(_position_loss(model, scored, targets, leading_nan=prev_out is None))
        entropies.append(_entropy_bits(model, preds))
        prev_out = preds[-1].clone()            # not a view: a cached trace would keep the whole chunk's output
    if not zs:                                   # nothing to read (a spaceless model given only spaces)
        return Trace(z=np.zeros((0, L), np.float32), z_soft=np.zeros((0, L), np.float32), op=np.zeros((0, L), "<U1"),
                     h_norm=np.zeros((0, L), np.float32), gate=np.zeros((0, L), np.float32), loss=np.zeros(0),
                     entropy=np.zeros(0), state=state, next_out=prev_out)
    z = torch.cat(zs).numpy()
    op = operations(z_start, z, has_z) if cfg.arch == "hmlstm" else np.full(z.shape, "U")  # an LSTM always updates
    return Trace(z=z, z_soft=torch.cat(softs).numpy(), op=op,
                 h_norm=torch.cat(norms).numpy(), gate=torch.cat(gates).numpy(),
                 loss=np.concatenate(losses), entropy=np.concatenate(entropies), state=state, next_out=prev_out)


def _position_loss(model, scored, targets, leading_nan: bool) -> np.ndarray:
    if model.cfg.task == "text":
        logp = F.log_softmax(scored.float(), -1)
        loss = (-logp.gather(-1, targets[:, None])[:, 0] * LOG2E).numpy()
    else:
        loss = model.head.nll(scored, targets).numpy()
    return np.concatenate([[np.nan], loss]) if leading_nan else loss


def _entropy_bits(model, preds) -> np.ndarray:
    if model.cfg.task != "text":
        return np.full(preds.shape[0], np.nan)
    logp = F.log_softmax(preds.float(), -1)
    return (-(logp.exp() * logp).sum(-1) * LOG2E).numpy()


def layers_json(trace: Trace, cfg) -> list[dict]:
    """The `layers` list of the HTTP responses: z and z_soft null for a layer without detector."""
    out = []
    for l in range(cfg.num_layers):
        has = cfg.has_detector(l)
        out.append({
            "layer": l + 1,
            "z": trace.z[:, l].astype(int).tolist() if has else None,
            "z_soft": _rounded(trace.z_soft[:, l]) if has else None,
            "op": trace.op[:, l].tolist(),
            "h_norm": _rounded(trace.h_norm[:, l]),
            "gate": _rounded(trace.gate[:, l]),
        })
    return out


def _rounded(a: np.ndarray, digits: int = 5) -> list:
    return np.round(a.astype(np.float64), digits).tolist()


def finite_or_none(a: np.ndarray, digits: int = 5) -> list:
    """Rounded values, with None (JSON null) where a value is NaN or infinite."""
    a = np.round(a.astype(np.float64), digits)
    return [v if v - v == 0 else None for v in a.tolist()]          # v - v is NaN for NaN and inf


# --- the command: a file's traces, without a server -----------------------------------------------

USAGE = """Every position's traces for a text file or a line of ink, as CSV (a row per position, the model run and
the rows written a block at a time: a whole corpus fits) or JSON (the API's lists, held whole), without a server
and without its length limits:

    python -m model.traces --checkpoint checkpoints/ptb-3x256 --text-file notes.txt --out notes.csv
    cat notes.txt | python -m model.traces --checkpoint checkpoints/ptb-nospace-3x256 --text-file - --format json
    python -m model.traces --checkpoint checkpoints/iam-3x128 --ink-file line.json --out line.csv

Text is read as the server reads it (a spaceless checkpoint without its whitespace, the typed spaces then
the gold word ends); ink is a JSON object {"strokes": [[[x, y], ...], ...]} (a POST /api/ink body) or an
/api/ink answer ({"points": [[x, y, stroke], ...]}), in any units up to 1e7."""

BLOCK = 65_536           # positions run and written at a time (the state carried from block to block)


class _Help(HelpWithDefaults, argparse.RawDescriptionHelpFormatter):
    """The usage's examples as written, one to a line."""


class Failed(Exception):
    """What is wrong with the command's input, in one line."""


def main(argv=None):
    p = Parser(prog="python -m model.traces", description=USAGE, formatter_class=_Help)
    p.add_argument("--checkpoint", required=True)
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--text-file", help="UTF-8 text ('-': standard input), for a text checkpoint")
    given.add_argument("--ink-file", help="strokes as JSON ('-': standard input), for an ink checkpoint")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--out", help="a file to write (default: standard output); written whole or not at all")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's own choice, every core)")
    args = p.parse_args(argv)
    p.at_least(args, 0, "threads")
    try:
        n, layers = _trace_file(args)
    except (Failed, CheckpointError, DataError) as e:
        sys.exit(f"model.traces: {e}")
    except KeyboardInterrupt:
        print("\nmodel.traces: stopped; nothing was written to --out", file=sys.stderr)
        sys.exit(130)
    if args.out:
        print(f"model.traces: {n} positions of {layers} layers written to {args.out}", file=sys.stderr)


def _trace_file(args) -> tuple[int, int]:
    model, config = load_checkpoint(args.checkpoint)
    task = model.cfg.task
    if (task == "text") != bool(args.text_file):
        raise Failed(f"{args.checkpoint} is {'a text' if task == 'text' else 'an ink'} checkpoint: give it "
                     + ("--text-file" if task == "text" else "--ink-file"))
    if args.out and Path(args.checkpoint).resolve() in Path(args.out).resolve().parents:
        raise Failed(f"--out {args.out} is inside the checkpoint it reads: give a file elsewhere")
    inputs, columns = (_read_text if task == "text" else _read_ink)(args, config)
    try:
        _write(args, model, task, inputs, columns)
    except OSError as e:                                  # standard output closed (a pipe to `head`), say
        raise Failed(f"cannot write {args.out or 'to standard output'} ({e.strerror or e})") from None
    return len(inputs), model.cfg.num_layers


def _write(args, model, task: str, inputs: torch.Tensor, columns: dict) -> None:
    with _output(args.out) as f, inference_threads(args.threads):
        if args.format == "json":
            trace = run_traces(model, inputs)
            _add_losses(columns, trace, task)
            json.dump({"checkpoint": str(args.checkpoint), "task": task, **columns,
                       "layers": layers_json(trace, model.cfg)}, f)
            f.write("\n")
        else:
            writer = csv.writer(f, lineterminator="\n")
            state = prev_out = None
            for a in range(0, len(inputs), BLOCK):
                trace = run_traces(model, inputs[a:a + BLOCK], state, prev_out)
                state, prev_out = trace.state, trace.next_out
                block = {k: v[a:a + BLOCK] for k, v in columns.items()}
                _add_losses(block, trace, task)
                _write_rows(writer, a, block, trace, model.cfg, header=a == 0)


@contextmanager
def _output(out: str | None):
    """Standard output, or a file written beside `out` and put in its place once whole (a failed or stopped
    run leaves what was there before)."""
    if not out:
        yield sys.stdout
        return
    target = Path(out)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as e:
        raise Failed(f"cannot write {out} ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(tmp, target)
    except OSError as e:
        raise Failed(f"cannot write {out} ({e.strerror or e})") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _add_losses(columns: dict, trace: Trace, task: str) -> None:
    columns["surprisal_bits" if task == "text" else "nll_nats"] = finite_or_none(trace.loss)
    if task == "text":
        columns["entropy_bits"] = finite_or_none(trace.entropy)


def _read_text(args, config) -> tuple[torch.Tensor, dict]:
    """The ids the model reads and the per-position columns that say what they are."""
    if args.text_file == "-":
        try:
            raw = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as e:
            raise Failed(f"standard input is not UTF-8 text ({e.reason} at byte {e.start})") from None
    else:
        raw = read_text_file(args.text_file, newlines_as_written=True)   # typed_from/to: the file's positions
    vocab = Vocabulary(config["vocabulary"])
    if config.get("spaces") is False:
        reading, gold = vocab.read_without_spaces(raw)
    else:
        reading = vocab.read(raw)
        gold = gold_word_ends(reading.chars)
    if not reading.ids:
        raise Failed(f"{args.text_file} holds nothing for the model to read")
    return torch.tensor(reading.ids, dtype=torch.long), {
        "char": reading.chars, "typed_from": [a for a, _ in reading.source_spans],
        "typed_to": [b for _, b in reading.source_spans], "unknown": [int(i == 0) for i in reading.ids],
        "gold_word_end": gold.astype(int).tolist()}


def _read_ink(args, config) -> tuple[torch.Tensor, dict]:
    """The model's input for the ink (normalised as the checkpoint was trained) and its points."""
    try:
        raw = sys.stdin.buffer.read() if args.ink_file == "-" else Path(args.ink_file).read_bytes()
        strokes = _strokes(json.loads(raw))
        model_input = preprocess(strokes, InkStats.from_dict(config["normalisation"]), own_units=True)
    except OSError as e:
        raise Failed(f"{args.ink_file} cannot be read ({e.strerror})") from None
    except RecursionError:
        raise Failed(f"{args.ink_file}: its JSON is nested too deep") from None
    except (ValueError, InkError) as e:                      # json.JSONDecodeError and UnicodeDecodeError are too
        raise Failed(f"{args.ink_file}: {e}") from None
    return torch.from_numpy(model_input), {
        "x": [x for s in strokes for x, _ in s], "y": [y for s in strokes for _, y in s],
        "stroke": [k for k, s in enumerate(strokes) for _ in s], "pen_up": model_input[:, 2].astype(int).tolist()}


def _write_rows(writer, first: int, columns: dict, trace: Trace, cfg, header: bool) -> None:
    """A row per position: the columns, then each layer's z, z_soft (where it has a detector), op, h_norm
    and gate, rounded as the API rounds them."""
    table = {"position": np.arange(first, first + len(trace)), **columns}
    for l in range(cfg.num_layers):
        per_layer = {"z": trace.z[:, l].astype(int), "z_soft": trace.z_soft[:, l]} if cfg.has_detector(l) else {}
        per_layer.update(op=trace.op[:, l], h_norm=trace.h_norm[:, l], gate=trace.gate[:, l])
        for key, values in per_layer.items():
            table[f"{key}{l + 1}"] = np.round(values.astype(np.float64), 5) if values.dtype.kind == "f" else values
    if header:
        writer.writerow(table)
    writer.writerows(zip(*(v.tolist() if isinstance(v, np.ndarray) else v for v in table.values())))


def _coordinate(v) -> bool:
    """A point's x or y: a JSON number within the API's bounds (not true/false, not 1e400)."""
    try:
        return type(v) in (int, float) and abs(float(v)) <= MAX_COORDINATE
    except OverflowError:
        return False


def _strokes(body) -> list[list[tuple[float, float]]]:
    """Strokes from a POST /api/ink body or an /api/ink answer, or a ValueError saying what is wrong."""
    if isinstance(body, dict) and isinstance(body.get("points"), list) and "strokes" not in body:
        grouped: dict[int, list] = {}
        for point in body["points"]:
            if not (isinstance(point, list) and len(point) == 3 and type(point[2]) is int and point[2] >= 0):
                raise ValueError("each of 'points' must be [x, y, stroke]")
            grouped.setdefault(point[2], []).append(point[:2])
        body = {"strokes": [grouped[k] for k in sorted(grouped)]}
    if not (isinstance(body, dict) and isinstance(body.get("strokes"), list) and body["strokes"]):
        raise ValueError('expected {"strokes": [[[x, y], ...], ...]} with at least one stroke')
    for k, stroke in enumerate(body["strokes"]):
        if not (isinstance(stroke, list) and stroke):
            raise ValueError(f"stroke {k} is not a list of points")
        for point in stroke:
            if not (isinstance(point, list) and len(point) == 2 and all(_coordinate(v) for v in point)):
                shown = json.dumps(point)
                raise ValueError(f"stroke {k}: a point must be [x, y], numbers within ±{MAX_COORDINATE:g}, "
                                 f"not {shown[:60]}")
    return [[(float(x), float(y)) for x, y in stroke] for stroke in body["strokes"]]


if __name__ == "__main__":
    main()
