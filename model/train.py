"""Train an HM-LSTM: truncated BPTT with the state carried, Adam, clipping, slope annealing.

    python -m model.train --task text --out checkpoints/ptb-3x256 --max-minutes 60
    python -m model.train --task text --out checkpoints/ptb-3x256 --resume --max-minutes 60
    torchrun --nproc-per-node 2 -m model.train ...        (DistributedDataParallel)

A run keeps its state in --run-dir (default runs/NAME, not committed): weights, Adam's
moments, the state carried across windows, the position in the data and the schedule, in
safetensors and JSON, rewritten atomically every --save-minutes and at the end. A run
killed at any moment resumes from its last save with --resume, with the options it started
with unless given again. The checkpoint in --out
is the model with the best validation score so far.
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors import SafetensorError

from model import loops
from model.checkpoint import (CheckpointError, left_by_a_kill, left_over, load_checkpoint, read_config, save_checkpoint,
                              unwritable)
from model.cli import Parser, flag
from model.data import DataError, windows
from model.hmlstm import HMLSTMConfig, HMLSTMModel, slope_schedule
from model.ink import InkError
from model.priors import band_penalty, detector_rates, entropy_guide_loss, ratio_loss, steer_rates
from model.runs import (Run, RunStateError, first_line, load_run, one_process, read_trainer, run_dir_of, save_run,
                        target_problem)
from model.tasks import make_task
from model.typed import fits


# --- arguments ------------------------------------------------------------------------

def parse_args(argv=None):
    p = Parser(prog="python -m model.train", description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=["text", "ink"], default="text")
    p.add_argument("--data-dir", help="Penn Treebank folder (default ../shared/data/ptb), or IAM-OnDB for ink "
                                      "(default ../shared/data/iam-ondb)")
    p.add_argument("--text-file", help="train on any UTF-8 text file instead (split 90/5/5 by lines)")
    p.add_argument("--train-chars", type=int, default=0,
                   help="text: train on only the first N characters of the training split (small-data studies)")
    p.add_argument("--no-spaces", action="store_true",
                   help="text: read each line with its whitespace removed (DESIGN.md section 8); the alphabet "
                        "has no space and the checkpoint records \"spaces\": false")
    k = p.add_argument_group("ink")
    k.add_argument("--synthetic", type=int, default=0, help="ink: train on this many synthetic cursive lines")
    k.add_argument("--max-lines", type=int, default=0, help="ink: read only the first N training lines")
    k.add_argument("--stop-lines", type=int, default=300, help="ink: training lines held out for early stopping")
    k.add_argument("--mixtures", type=int, default=20, help="ink: Gaussians in the mixture density head")
    p.add_argument("--out", required=True, help="checkpoint folder to write, e.g. checkpoints/ptb-3x256")
    p.add_argument("--run-dir", help="where the resumable run state lives (default runs/NAME)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument("--replace-out", action="store_true",
                   help="a new run may write over the checkpoint already in --out (refused otherwise)")
    p.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (same model and data; a new run: fresh optimiser, "
                        "schedule and slope)")
    a = p.add_argument_group("model")
    a.add_argument("--arch", choices=["hmlstm", "lstm"], default="hmlstm",
                   help="lstm: the baseline, a plain LSTM stack with the same output module and head")
    a.add_argument("--layers", type=int, default=3)
    a.add_argument("--hidden", type=int, default=256)
    a.add_argument("--embed", type=int, default=128)
    a.add_argument("--output-size", type=int, default=0, help="width of h^e (default: --hidden)")
    # defaults chosen by the boundary study (reports/boundary-study.html): without layer norm valid
    # BPC was 0.09 worse and layer 2 collapsed to firing nearly always
    a.add_argument("--layer-norm", choices=["none", "gates", "all"], default="gates")
    a.add_argument("--top-detector", action="store_true")
    a.add_argument("--nested", action="store_true", help="z^l may fire only where z^{l-1} fired")
    a.add_argument("--z-bias", type=float, default=0.5)
    # the study: a 0.05-0.5 band cost 0.03 BPC and gained no boundary F1; with no guard at all a
    # 3 x 256 run saw layer 2 fire on every character within 140 updates; so a guard at the extremes
    a.add_argument("--z-band", default="0.02,0.98",
                   help="LO,HI: a guard against collapse, penalising a detector whose rate leaves [LO, HI] "
                        "(zero inside); LO,HI/LO,HI/...: one band per detector, layer 1 first; 'off': none")
    a.add_argument("--z-band-weight", type=float, default=1.0)
    a.add_argument("--z-rate", default="off",
                   help="a rate prior (beyond the paper): TARGET, or TARGET/TARGET/... per detector with 'none' "
                        "for no target; after each update a detector's threshold moves by gain x (rate - target)")
    a.add_argument("--z-rate-gain", type=float, default=0.1)
    a.add_argument("--ratio-target", default="off",
                   help="H-Net's ratio loss (beyond the paper): a target downsampling factor N > 1 (rate 1/N), or "
                        "N/N/... per detector with 'none' for no target")
    a.add_argument("--ratio-weight", type=float, default=0.03)
    a.add_argument("--entropy-guide", default="off",
                   help="beyond the paper: RATE, or RATE/RATE/... per detector with 'none': pull a detector "
                        "toward firing on the RATE of positions where the model's own uncertainty about the "
                        "next input is highest (the next character's entropy; for ink a bound on the next point's)")
    a.add_argument("--entropy-guide-weight", type=float, default=1.0)
    a.add_argument("--entropy-guide-lag", type=int, choices=[0, 1], default=0,
                   help="0: z_t follows the entropy after t; 1: z_{t+1} does (read at lag 1)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--batch", type=int, default=32)
    o.add_argument("--bptt", type=int, default=100)
    o.add_argument("--lr", type=float, default=2e-3)
    o.add_argument("--min-lr-ratio", type=float, default=0.05, help="cosine schedule's floor")
    o.add_argument("--warmup", type=int, default=100, help="linear warm-up updates")
    o.add_argument("--clip", type=float, default=1.0)
    o.add_argument("--weight-decay", type=float, default=0.0)
    o.add_argument("--optimizer", choices=["adam", "adamw"], default="adam",
                   help="adamw: weight decay decoupled from the gradient (Loshchilov & Hutter)")
    o.add_argument("--dropout", type=float, default=0.0,
                   help="dropout on the text embedding and on h before the output module")
    o.add_argument("--restarts", type=int, default=0,
                   help="restart the cosine this many times within the schedule (warm restarts)")
    o.add_argument("--epochs", type=float, default=10, help="planned epochs (the lr schedule spans them)")
    o.add_argument("--lr-minutes", type=float, default=0,
                   help="a time budget instead of --epochs: the lr schedule spans this many minutes of "
                        "training; the run ends there and validates its last weights too")
    o.add_argument("--slope-rate", type=float, default=0.04, help="a = min(cap, 1 + rate * epoch)")
    o.add_argument("--slope-cap", type=float, default=5.0)
    o.add_argument("--slope-delay", type=float, default=0.0, help="epochs before the slope grows")
    o.add_argument("--seed", type=int, default=1)
    r = p.add_argument_group("running")
    r.add_argument("--max-minutes", type=float, default=0, help="stop (resumably) after this long")
    r.add_argument("--max-updates", type=int, default=0, help="stop (resumably) after this many updates in all")
    r.add_argument("--save-minutes", type=float, default=5.0)
    r.add_argument("--valid-chars", type=int, default=0, help="score only this many valid characters")
    r.add_argument("--eval-batch", type=int, default=32, help="streams for validation")
    r.add_argument("--log-every", type=int, default=20)
    r.add_argument("--device", default="auto")
    r.add_argument("--threads", type=int, default=0,
                   help="CPU threads (0: torch's own choice, every core); given per call, not kept by --resume")
    r.add_argument("--no-progress", action="store_true")
    args = resumed_args(p, argv)
    if args.data_dir and args.text_file:
        p.error("give --data-dir or --text-file, not both")
    p.at_least(args, 1, "batch", "bptt", "layers", "hidden", "embed", "eval_batch", "log_every", "mixtures", "stop_lines")
    for name in ("output_size", "warmup", "restarts", "synthetic", "max_lines", "max_updates", "valid_chars",
                 "threads", "train_chars"):
        if getattr(args, name) < 0:
            p.error(f"{flag(name)} must be at least 0" + (" (0: the default)" if name in ZERO_IS_DEFAULT else ""))
    # NaN fails every comparison: each test is written so that NaN fails it
    for name in ("lr", "epochs", "clip", "save_minutes"):
        if not (0 < getattr(args, name) < math.inf):
            p.error(f"{flag(name)} must be a positive number")
    for name in ("weight_decay", "lr_minutes", "max_minutes", "slope_rate", "slope_delay", "z_band_weight",
                 "z_rate_gain", "ratio_weight", "entropy_guide_weight"):
        if not (0 <= getattr(args, name) < math.inf):
            p.error(f"{flag(name)} must be a number at least 0")
    for name, within, said in (("min_lr_ratio", lambda v: 0 <= v <= 1, "in [0, 1]"),
                               ("dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
                               ("slope_cap", lambda v: 1 <= v < math.inf, "a number at least 1")):
        if not within(getattr(args, name)):
            p.error(f"{flag(name)} must be {said}, not {getattr(args, name)}")
    if not math.isfinite(args.z_bias):
        p.error("--z-bias must be a number")
    if args.task == "ink" and args.text_file:
        p.error("--text-file is for text (ink reads IAM-OnDB from --data-dir, or --synthetic lines)")
    if args.task == "text" and (args.synthetic or args.max_lines):
        p.error("--synthetic and --max-lines are for ink (text: --train-chars)")
    detectors = 0 if args.arch == "lstm" else args.layers - (0 if args.top_detector else 1)
    if args.arch == "lstm":
        args.z_band = "off"                       # no detector: no guard
    try:
        args.band = per_detector(args.z_band, _band, detectors)
    except ValueError as e:
        p.error(f"--z-band (LO,HI with 0 <= LO <= HI <= 1): {e}")
    try:
        args.rate_targets = per_detector(args.z_rate, _rate_target, detectors)
    except ValueError as e:
        p.error(f"--z-rate (targets in [0, 1] or 'none'): {e}")
    try:
        args.ratio_targets = per_detector(args.ratio_target, _ratio_target, detectors)
    except ValueError as e:
        p.error(f"--ratio-target (factors N > 1 or 'none'): {e}")
    try:
        args.entropy_rates = per_detector(args.entropy_guide, _rate_target, detectors)
    except ValueError as e:
        p.error(f"--entropy-guide (rates in [0, 1] or 'none'): {e}")
    if args.task == "ink" and (args.no_spaces or args.train_chars):
        p.error("--no-spaces and --train-chars are for text (ink: --max-lines)")
    return args


# options whose 0 means "the default" (the whole split, --hidden's width, all the lines, no limit)
ZERO_IS_DEFAULT = {"output_size", "max_lines", "max_updates", "valid_chars", "threads", "train_chars"}


# what a run reads: a resume may not give other values (it continues on what it began on)
RUNS_DATA = ("task", "data_dir", "text_file", "no_spaces", "synthetic", "max_lines", "train_chars")
# what a resumed run takes from this command line only, never from the run it continues
PER_INVOCATION = {"resume", "max_minutes", "max_updates", "threads", "device", "no_progress", "save_minutes",
                  "log_every", "replace_out"}


def resumed_args(p: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """The command line; with --resume, an option it does not give is the run's (its trainer.json),
    so that a run continues as it started (a different --epochs, say, must be given)."""
    unset = object()
    given = p.parse_args(argv, namespace=argparse.Namespace(**{a.dest: unset for a in p._actions}))
    args = p.parse_args(argv)
    run_dir = run_dir_of(args)
    if not args.resume or not (run_dir / "trainer.json").is_file():
        return args
    try:
        saved = read_trainer(run_dir)["args"]
    except RunStateError as e:
        p.error(f"--resume: {e}")
    if given.init_from is not unset and given.init_from != saved.get("init_from"):
        p.error(f"--init-from starts a new run; the run in {run_dir} started from {saved.get('init_from')}")
    for name in RUNS_DATA:      # (--init-from takes a run's weights to other data)
        if getattr(given, name) is not unset and getattr(given, name) != saved.get(name):
            p.error(f"--resume continues the run in {run_dir} on its own data ({flag(name)} {saved.get(name)}, not "
                    f"{getattr(given, name)}); train on other data with --init-from")
    kinds = {a.dest: a for a in p._actions}
    for name, value in saved.items():
        if hasattr(args, name) and getattr(given, name) is unset and name not in PER_INVOCATION:
            if not _could_have_been_given(kinds[name], value):
                p.error(f"--resume: {run_dir / 'trainer.json'} gives {flag(name)} as {value!r}, which it cannot be")
            setattr(args, name, value)
    return args


def _could_have_been_given(action: argparse.Action, value) -> bool:
    """Whether a value read back from a trainer.json is one the option could have been given."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        kind = "bool"
    else:
        kind = {int: "int", float: "float"}.get(action.type, "str")
    return fits(value, kind + (" | None" if action.default is None else "")) and (
        value is None or action.choices is None or value in action.choices)


def per_detector(text: str, parse, detectors: int):
    """One value for every detector, or one each separated by '/'; None for 'off'."""
    if text == "off":
        return None
    if detectors == 0:
        raise ValueError("this model has no boundary detector")
    try:
        values = [parse(part) for part in text.split("/")]
    except ValueError:
        raise ValueError(f"cannot read {text!r}") from None
    if len(values) not in (1, detectors):
        raise ValueError(f"{len(values)} values given; this model has {detectors} boundary detectors")
    return values * detectors if len(values) == 1 else values


def _band(part: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in part.split(","))
    if not 0 <= lo <= hi <= 1:
        raise ValueError
    return lo, hi


def _rate_target(part: str) -> float | None:
    if part.strip() == "none":
        return None
    t = float(part)
    if not 0 <= t <= 1:
        raise ValueError
    return t


def _ratio_target(part: str) -> float | None:
    if part.strip() == "none":
        return None
    n = float(part)
    if not 1 < n < math.inf:
        raise ValueError
    return n


def config_from_args(args, task) -> HMLSTMConfig:
    """The model these arguments describe, for this task's data (its vocabulary or input)."""
    return HMLSTMConfig(**task.model_config(args), hidden_sizes=[args.hidden] * args.layers,
                        output_size=args.output_size or args.hidden, top_detector=args.top_detector,
                        layer_norm=args.layer_norm, nested=args.nested, z_bias=args.z_bias, dropout=args.dropout,
                        arch=args.arch)


def model_differences(theirs: HMLSTMConfig, mine: HMLSTMConfig) -> str:
    """How two configs make different models ('' if they make the same one). z_bias only shapes an
    init and dropout only training: neither makes another model."""
    theirs = dataclasses.replace(theirs, z_bias=mine.z_bias, dropout=mine.dropout).to_dict()
    return ", ".join(f"{k} {theirs.get(k)} -> {v}" for k, v in mine.to_dict().items() if theirs.get(k) != v)


def init_from(model: HMLSTMModel, task, folder) -> None:
    """Copy a checkpoint's weights into `model`; the architecture and data must be the same."""
    try:
        source, config = load_checkpoint(folder)
    except CheckpointError as e:
        sys.exit(f"model.train: --init-from: {e}")
    differ = model_differences(source.cfg, model.cfg)
    if differ:
        sys.exit(f"model.train: --init-from {folder}: its model is not this one ({differ}); give the same "
                 "--layers, --hidden, --embed, --layer-norm...")
    mine = task.meta()
    for key in ("vocabulary", "normalisation"):
        if config.get(key) != mine.get(key):
            sys.exit(f"model.train: --init-from {folder}: its {key} differs from this data's")
    model.load_state_dict(source.state_dict())


# --- processes ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Processes:
    """This process among those of a torchrun (rank 0 of 1 without one), and its device."""
    rank: int
    world: int
    device: torch.device

    @classmethod
    def start(cls, device_flag: str) -> "Processes":
        rank, world = 0, 1
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            rank, world = dist.get_rank(), dist.get_world_size()
        if device_flag == "auto":
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            try:
                device = torch.device(device_flag)
            except RuntimeError:
                sys.exit(f"model.train: --device {device_flag}: not a device (auto, cpu, cuda or cuda:N)")
            if device.type not in ("cpu", "cuda"):
                sys.exit(f"model.train: --device {device_flag}: this trainer runs on cpu or cuda")
            if device.type == "cuda" and not torch.cuda.is_available():
                sys.exit(f"model.train: --device {device_flag}: this machine's torch sees no CUDA device")
        if device.type == "cuda" and world > 1:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        return cls(rank, world, device)

    def agree(self, flag: bool) -> bool:
        """True on every process when it is true on any: a rank alone in a collective (the save's
        gather, DDP's next step) would hang."""
        if self.world == 1:
            return bool(flag)
        t = torch.tensor([int(bool(flag))], device="cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def gather_rows(self, tensors):
        """Every rank's rows of these (B_local, ...) tensors, in global stream order."""
        if self.world == 1 or tensors is None:
            return tensors
        gathered = []
        for t in tensors:
            parts = [torch.empty_like(t) for _ in range(self.world)]
            dist.all_gather(parts, t.contiguous())
            gathered.append(torch.cat(parts))
        return tuple(gathered)

    def end(self) -> None:
        if self.world == 1:
            return
        dist.barrier()              # no rank closes its connections while another still uses them
        dist.destroy_process_group()
        # Everything is written and flushed. Leave now: about one exit in ten, a thread of torch's
        # gloo teardown is still joinable when the interpreter's static destructors run, which
        # aborts the process ("terminate called without an active exception") after a good run.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


# --- training -----------------------------------------------------------------------------

class StopReason(enum.Enum):
    FINISHED = "finished"                                   # the planned epochs are done
    BUDGET = "finished its --lr-minutes"                    # the lr schedule's time is spent
    LIMIT = "stopped at --max-minutes/--max-updates"        # resumable
    INTERRUPTED = "stopped by Ctrl-C or SIGTERM, and saved"  # resumable
    DIVERGED = "stopped: the loss was not finite"           # resumable, with other settings


class Interrupt:
    """Ctrl-C (SIGINT) or SIGTERM asks the run to stop after the update under way, and save: a run is
    never saved halfway through an update. A second one stops it at once (what is on disk stays
    whole, as after a kill)."""

    def __init__(self):
        self.asked = False
        self.code = 130                             # the shell's code for a run stopped by this signal: 128 + it

    def __enter__(self):
        main = threading.current_thread() is threading.main_thread()      # where Python lets a handler be set
        self.before = {sig: signal.signal(sig, self._ask) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
        return self

    def _ask(self, sig, frame):
        self.asked, self.code = True, 128 + sig
        for s in self.before:
            signal.signal(s, self._at_once)
        print("\nmodel.train: stopping after this update, and saving (again to stop at once)", file=sys.stderr)

    @staticmethod
    def _at_once(sig, frame):
        print("\nmodel.train: stopped at once; the last save stands (--resume continues from it)", file=sys.stderr)
        os._exit(128 + sig)                         # as a kill would: nothing half-written (saves are swapped in)

    def __exit__(self, *exc):
        for s, handler in self.before.items():
            signal.signal(s, handler)


NONFINITE_LIMIT = 10        # windows in a row whose loss or gradient is not finite before a run stops


def clip_gradients(parameters, max_norm: float) -> torch.Tensor:
    """Scale the gradients to a norm of at most max_norm, and return their norm before (torch's
    clip_grad_norm_), save that gradients too large for their squares in float32 (from about 1e19: an
    exploding gradient, such as the straight-through path's at a steep slope) are clipped like any other
    rather than taken for infinite: their norm is taken again, scaled down by the largest of them."""
    params = [p for p in parameters if p.grad is not None]
    grads = [p.grad for p in params]
    norm = torch.nn.utils.get_total_norm(grads)
    if not bool(torch.isfinite(norm)):       # a read of the norm (on a GPU a sync), which the guard makes anyway
        peak = torch.stack([g.abs().max() for g in grads]).max()
        if bool(torch.isfinite(peak)):
            norm = torch.nn.utils.get_total_norm([g / peak for g in grads]) * peak
    if bool(torch.isfinite(norm)):
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
    return norm


def learning_rate(args, step: int, fraction: float) -> float:
    """Linear warm-up, then cosine from --lr to --lr * --min-lr-ratio; `fraction` of the schedule done.
    With --restarts R the cosine runs R + 1 times over the schedule, each from --lr again."""
    warm = min(1.0, (step + 1) / max(1, args.warmup))
    fraction = min(1.0, fraction)
    cycles = getattr(args, "restarts", 0) + 1
    within = 1.0 if fraction >= 1.0 else (fraction * cycles) % 1.0
    cos = 0.5 * (1 + math.cos(math.pi * within))
    return args.lr * warm * (args.min_lr_ratio + (1 - args.min_lr_ratio) * cos)


class Trainer:
    """The pieces of a training run that the loop in `main` goes through."""

    def __init__(self, args, argv, procs: Processes):
        self.args, self.procs = args, procs
        self.out_dir = Path(args.out)
        self.run_dir = run_dir_of(args)
        for folder in (self.run_dir, self.out_dir):
            kept = left_by_a_kill(folder)
            if kept is not None:                 # a save killed between its two renames: put it back
                os.rename(kept, folder)
                print(f"model.train: {folder} restored from {kept.name}, where a killed save left it", file=sys.stderr)
            for stale in left_over(folder):      # a save killed while writing: its half-written copy
                shutil.rmtree(stale, ignore_errors=True)
        if args.resume and not (self.run_dir / "trainer.json").is_file():
            sys.exit(f"model.train: nothing to resume in {self.run_dir} (no trainer.json)")
        if not args.resume and (self.run_dir / "trainer.json").is_file():
            sys.exit(f"model.train: {self.run_dir} holds a run: add --resume to continue it, or remove the "
                     "folder (or give another --run-dir) to start afresh")
        problem = (target_problem(self.out_dir, self.run_dir, args.resume, args.replace_out)
                   or unwritable(self.out_dir) or unwritable(self.run_dir))
        if problem:
            sys.exit(f"model.train: {problem}")
        if args.batch % procs.world:
            sys.exit(f"model.train: --batch {args.batch} does not split over {procs.world} processes")
        torch.manual_seed(args.seed)
        try:
            saved = read_trainer(self.run_dir) if args.resume else None
            data = None if saved is None else saved.get("data", {})
            self.task = make_task(args, data)
            if data and data.get("fingerprint") not in (None, self.task.fingerprint):     # (runs saved before: none)
                raise DataError(f"--resume: the run began on other data: {self.task.data} has changed since; train "
                                "on it with --init-from")
            streams = self.task.train_streams(args.batch)
            self.task.validation_ready(args.eval_batch)
        except (DataError, InkError, RunStateError) as e:
            sys.exit(f"model.train: {e}")
        self.model = HMLSTMModel(config_from_args(args, self.task)).to(procs.device)
        optimiser = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.Adam
        self.opt = optimiser(self.model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        try:
            self.run = self._start_run(saved)
        except (RunStateError, CheckpointError) as e:
            sys.exit(f"model.train: --resume: {e}")
        self.ddp = torch.nn.parallel.DistributedDataParallel(self.model) if procs.world > 1 else self.model
        local = args.batch // procs.world
        self.streams = streams[:, procs.rank * local:(procs.rank + 1) * local]
        self.streams = self.streams.to(procs.device)
        if self.run.position > self.streams.shape[0]:
            sys.exit(f"model.train: --resume: {self.run_dir / 'trainer.json'}: its position {self.run.position} is past "
                     f"the end of the data ({self.streams.shape[0]} rows)")
        self.run.commands.append("python -m model.train " + " ".join(argv if argv is not None else sys.argv[1:]))
        self.meta = self._checkpoint_meta()
        self.amp = procs.device.type == "cuda"
        if self.amp:     # the recurrence stays float32 under autocast: let its products use TF32
            torch.backends.cuda.matmul.allow_tf32 = True
        self.started = self.last_save = time.time()
        self.seconds_before = self.run.seconds
        self.progress = Progress(args, self.run_dir, self.model.cfg, self.task, procs, self.steps_per_epoch, self.run)

    def _start_run(self, saved: dict | None) -> Run:
        """A new run, or (`saved`: its trainer.json) the run resumed, its weights and Adam's moments loaded."""
        args, procs = self.args, self.procs
        if saved is None:
            if args.init_from:
                init_from(self.model, self.task, args.init_from)
            return Run()
        try:
            theirs = HMLSTMConfig.from_dict(saved["model"])
        except (TypeError, ValueError) as e:
            raise RunStateError(f"{self.run_dir / 'trainer.json'}: its model cannot be read ({e})") from None
        differ = model_differences(theirs, self.model.cfg)
        if differ:
            sys.exit(f"model.train: --resume: the options given make another model than the run's ({differ})")
        run = load_run(self.run_dir, saved, self.model, self.opt)
        for g in self.opt.param_groups:      # the optimiser's saved groups hold the decay the run started with
            g["weight_decay"] = args.weight_decay
        run.nonfinite_in_row = 0             # a resumed run (perhaps with a lower --lr) starts the count afresh
        on_disk = self._best_on_disk()
        if on_disk is not None and (run.best_valid is None or on_disk < run.best_valid):
            run.best_valid = on_disk         # a kill between writing --out and saving the run: keep the better one
        saved_batch = saved.get("args", {}).get("batch", args.batch)
        if not fits(saved_batch, "int") or saved_batch < 1:
            raise RunStateError(f"{self.run_dir / 'trainer.json'}: its batch is {saved_batch!r}, not a number of streams")
        if saved_batch != args.batch:
            # the streams are laid out again, rows = positions / batch: keep the share of the epoch done
            run.position = run.position * saved_batch // args.batch
            print(f"--batch changed ({saved_batch} -> {args.batch}): the carried state starts afresh, "
                  f"at the same share of the epoch", file=sys.stderr)
            run.carried = None
        if run.carried is not None:          # this rank's streams
            local = args.batch // procs.world
            run.carried = tuple(t[procs.rank * local:(procs.rank + 1) * local].to(procs.device) for t in run.carried)
        return run

    def _best_on_disk(self) -> float | None:
        """The score of the checkpoint in --out, as its metrics record it (None if there is none)."""
        try:
            metrics = read_config(self.out_dir).get("metrics", {})
        except (CheckpointError, OSError, ValueError):
            return None
        return self.task.score_of(metrics)

    def _checkpoint_meta(self) -> dict:
        args, commands = self.args, self.run.commands
        return {**self.task.meta(), "training": {
            "data": self.task.data,
            "command": commands[0], **({"resumed_with": commands[1:]} if len(commands) > 1 else {}),
            "batch": args.batch, "bptt": args.bptt, "lr": args.lr, "clip": args.clip,
            "optimizer": args.optimizer, "weight_decay": args.weight_decay, "dropout": args.dropout,
            "restarts": args.restarts,
            "slope": {"rate": args.slope_rate, "cap": args.slope_cap, "delay": args.slope_delay},
            "rate_band": {"band": [list(b) for b in args.band], "weight": args.z_band_weight} if args.band else None,
            "rate_prior": ({"targets": args.rate_targets, "gain": args.z_rate_gain} if args.rate_targets else None),
            "ratio_loss": ({"targets": args.ratio_targets, "weight": args.ratio_weight} if args.ratio_targets else None),
            "entropy_guide": ({"rates": args.entropy_rates, "weight": args.entropy_guide_weight,
                               "lag": args.entropy_guide_lag} if args.entropy_rates else None),
            "seed": args.seed, "device": str(self.procs.device), "processes": self.procs.world,
            "init_from": Path(args.init_from).name if args.init_from else None}}

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil((self.streams.shape[0] - 1) / self.args.bptt)

    def seconds(self) -> float:
        return self.seconds_before + time.time() - self.started

    def epochs_at(self, position: int) -> float:
        """Epochs done when the next window starts at `position` of this epoch."""
        return self.run.epoch + position / self.streams.shape[0]

    def train_step(self, position: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """One update on one window: slope and lr from the schedule, the loss and the priors."""
        args, run, model = self.args, self.run, self.model
        progress = self.epochs_at(position)
        model.set_slope(slope_schedule(progress, args.slope_rate, 1.0, args.slope_cap, args.slope_delay))
        fraction = self.seconds() / (60 * args.lr_minutes) if args.lr_minutes else progress / args.epochs
        lr = learning_rate(args, run.step, fraction)
        for g in self.opt.param_groups:
            g["lr"] = lr
        with torch.autocast(self.procs.device.type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.ddp(x, run.carried)
            loss = self.task.loss(model, out, y)
            objective = loss
            if args.band:
                objective = objective + band_penalty(detector_rates(out, model.cfg), args.band, args.z_band_weight)
            if args.ratio_targets:
                objective = objective + args.ratio_weight * ratio_loss(out, model.cfg, args.ratio_targets)
            if args.entropy_rates:
                objective = objective + args.entropy_guide_weight * entropy_guide_loss(
                    out, model.cfg, self.task.uncertainty(model, out, x), args.entropy_rates, args.entropy_guide_lag)
        run.carried = out["state"]
        self.opt.zero_grad(set_to_none=True)
        objective.backward()
        norm = clip_gradients(model.parameters(), args.clip)
        if self.procs.agree(not bool(torch.isfinite(norm))):     # NaN or inf in the loss or any gradient
            self.skip_window(position, x)
            return
        run.nonfinite_in_row = 0
        self.opt.step()
        if args.rate_targets:
            steer_rates(out, model, args.rate_targets, args.z_rate_gain, self.procs.world)
        run.step += 1
        run.positions_seen += y.numel() * self.procs.world
        run.position = position + x.shape[0]
        self.progress.update(out, loss, y.numel(), lr, model, run)

    def skip_window(self, position: int, x: torch.Tensor) -> None:
        """A window whose loss or gradient is not finite changes no weight and no optimiser moment: its
        update is left out, the carried state starts afresh (it may hold the NaN) and the run goes on
        with the next window. NONFINITE_LIMIT such windows in a row stop the run (stop_reason)."""
        run = self.run
        self.opt.zero_grad(set_to_none=True)
        run.carried = None
        run.skipped_updates += 1
        run.nonfinite_in_row += 1
        run.position = position + x.shape[0]
        if self.procs.rank == 0:
            print(f"model.train: update {run.step + 1} left out, its loss or gradient not finite "
                  f"({run.skipped_updates} so far)", file=sys.stderr)

    def stop_reason(self, interrupt: Interrupt | None = None) -> StopReason | None:
        args, run = self.args, self.run
        if run.nonfinite_in_row >= NONFINITE_LIMIT:
            return StopReason.DIVERGED
        if interrupt is not None and self.procs.agree(interrupt.asked):
            return StopReason.INTERRUPTED
        if not args.lr_minutes and self.epochs_at(run.position) >= args.epochs:    # (--epochs 2.5: mid-epoch)
            return StopReason.FINISHED
        if self.procs.agree(args.lr_minutes and self.seconds() > args.lr_minutes * 60):
            return StopReason.BUDGET
        if self.procs.agree((args.max_minutes and time.time() - self.started > args.max_minutes * 60)
                            or (args.max_updates and run.step >= args.max_updates)):
            return StopReason.LIMIT
        return None

    def next_epoch(self) -> None:
        self.run.epoch += 1
        self.run.position = 0
        self.run.carried = None
        self.progress.new_epoch(self.run)

    def validate(self) -> None:
        """Score the weights as they are; keep them as the checkpoint when they are the best so far."""
        run = self.run
        score, metrics = self.task.validate(self.model, self.procs.device)
        epochs = round(self.epochs_at(run.position), 3)
        minutes = self.seconds() / 60
        record = {"epoch": epochs, "step": run.step, **metrics, "slope": float(self.model.rnn.slope),
                  "minutes": minutes}
        run.history.append(record)
        self.progress.valid(record, metrics)
        if self.procs.rank == 0 and (run.best_valid is None or score < run.best_valid):
            try:
                save_checkpoint(self.out_dir, self.model, {**self.meta, "metrics": {
                    **metrics, "epochs": epochs, "updates": run.step, "train_positions": run.positions_seen,
                    "train_minutes": round(minutes, 1),
                    **({"skipped_updates": run.skipped_updates} if run.skipped_updates else {})}})
            except (OSError, SafetensorError) as e:     # (the disk filled, say): the run is kept to resume from
                self.save_if_due(now=True)
                sys.exit(f"model.train: cannot write the checkpoint to {self.out_dir} ({first_line(e)}); the run "
                         f"is saved in {self.run_dir}: make room and add --resume")
            run.best_valid = score

    def save_if_due(self, now: bool = False) -> None:
        if now or self.procs.agree(time.time() - self.last_save > self.args.save_minutes * 60):
            self.run.seconds = self.seconds()
            carried = self.procs.gather_rows(self.run.carried)
            if self.procs.rank == 0:
                try:
                    save_run(self.run_dir, self.model, self.opt, self.run, self.args,
                             {**self.task.meta(), "fingerprint": self.task.fingerprint}, carried)
                except (OSError, SafetensorError) as e:      # the last save is still whole (write_atomic)
                    sys.exit(f"model.train: cannot save the run to {self.run_dir} ({first_line(e)}); its last "
                             "save stands: make room and add --resume")
            self.last_save = time.time()


def main(argv=None) -> None:
    args = parse_args(argv)
    procs = Processes.start(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    with one_process(run_dir_of(args)) if procs.rank == 0 else nullcontext():
        train_until_stopped(args, argv, procs)


def train_until_stopped(args, argv, procs: Processes) -> None:
    """The run: epochs of windows, validation at each epoch's end, saves along the way (`main`)."""
    try:
        trainer = Trainer(args, argv, procs)
        # the C++ loops built now where they are not yet, before Ctrl-C is taken over: a Ctrl-C during the
        # build then stops the run, rather than leave it on the Python loops
        loops.select(procs.device)
    except KeyboardInterrupt:
        print("\nmodel.train: stopped before the first update; nothing was written", file=sys.stderr)
        sys.exit(130)
    with Interrupt() as interrupt:
        stop = trainer.stop_reason(interrupt)
        while stop is None:
            for position, x, y in windows(trainer.streams, args.bptt, trainer.run.position):
                trainer.train_step(position, x, y)
                trainer.save_if_due()
                stop = trainer.stop_reason(interrupt)
                if stop is not None:
                    break
            if stop in (StopReason.DIVERGED, StopReason.INTERRUPTED) or (stop is StopReason.LIMIT and not args.lr_minutes):
                break             # resumable; a run on a time budget validates what it has (a lease's last minutes)
            if stop is None:
                trainer.next_epoch()
            trainer.validate()
            trainer.save_if_due(now=True)
            stop = stop or trainer.stop_reason(interrupt)
        trainer.save_if_due(now=True)
    trainer.progress.close(stop, trainer.run)
    procs.end()
    if stop is StopReason.INTERRUPTED:
        sys.exit(interrupt.code)
    if stop is StopReason.DIVERGED:
        sys.exit(f"model.train: the loss or its gradient was not finite on {NONFINITE_LIMIT} windows in a row "
                 f"(update {trainer.run.step}); no update was made from them, and the run is saved: resume it "
                 "with a lower --lr or --clip, or look at the priors")


# --- what a person watching sees ------------------------------------------------------------

class Progress:
    """The progress bar, the JSONL log (runs/NAME.jsonl) and the warnings, on rank 0; the running
    figures of the last --log-every updates stay on the device (reading them every step would
    wait for the GPU every step)."""

    def __init__(self, args, run_dir: Path, cfg: HMLSTMConfig, task, procs: Processes, steps_per_epoch: int,
                 run: Run):
        self.args, self.cfg, self.task, self.procs = args, cfg, task, procs
        self.steps_per_epoch = steps_per_epoch
        self.shown = procs.rank == 0
        self.log = None
        if self.shown:
            path = run_dir.parent / f"{run_dir.name}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.log = open(path, "a")
        self.bar, self.next_bar = None, None
        if self.shown and not args.no_progress:
            from tqdm import tqdm
            self.bar = tqdm(total=steps_per_epoch, initial=run.position // args.bptt, dynamic_ncols=True,
                            desc=f"epoch {run.epoch + 1}")
        if len(run.outside_band) != cfg.num_layers:     # a new run (or one saved before it was kept)
            run.outside_band = [0] * cfg.num_layers
        self.outside = run.outside_band         # the run's own list: a resumed run warns as an unbroken one would
        if self.shown:                          # where the log's runs begin, and with what command
            self._write({"event": "resume" if args.resume else "start", "command": run.commands[-1],
                         "step": run.step, "epoch": run.epoch})
        self._reset()

    def _reset(self):
        self.nll, self.n, self.started = 0.0, 0, time.time()
        self.fired = torch.zeros(self.cfg.num_layers, device=self.procs.device)

    def update(self, out: dict, loss: torch.Tensor, n: int, lr: float, model, run: Run) -> None:
        self.nll += loss.detach().float() * n
        self.n += n
        self.fired += out["z"].detach().float().sum((0, 1))
        if self.bar is not None:
            if self.next_bar is not None:
                self.bar.reset(total=self.steps_per_epoch)
                self.bar.set_description(f"epoch {self.next_bar}")
                self.next_bar = None
            self.bar.update(1)
        if run.step % self.args.log_every == 0 and self.shown:
            self._write_window(lr, model, run)

    def _write_window(self, lr: float, model, run: Run) -> None:
        rates = (self.fired / max(self.n, 1)).tolist()
        shown = self.task.shown(float(self.nll) / max(self.n, 1))
        per_s = self.n * self.procs.world / max(time.time() - self.started, 1e-9)       # positions per second
        for l in range(self.cfg.num_layers):
            if self.cfg.has_detector(l):
                self.outside[l] = self.outside[l] + 1 if rates[l] < 0.01 or rates[l] > 0.99 else 0
                if self.outside[l] == 10:       # ten logged windows in a row: say so, once per episode
                    print(f"warning: layer {l + 1}'s boundary rate is {rates[l]:.3f}, outside 1%..99% for "
                          f"the last 10 logged windows: its detector may have collapsed", file=sys.stderr)
                    self._write({"event": "collapse", "layer": l + 1, "rate": rates[l], "step": run.step})
        slope = float(model.rnn.slope)
        if self.bar is not None:
            zs = "/".join(f"{r:.2f}" for l, r in enumerate(rates) if self.cfg.has_detector(l))
            boundaries = f" z {zs} a {slope:.2f}" if zs else ""            # a plain LSTM has no detector
            self.bar.set_postfix_str(f"{per_s / 1000:.1f}k pos/s {self.task.unit} {shown:.3f}{boundaries}")
        self._write({"event": "train", "step": run.step, "epoch": run.epoch, "position": run.position,
                     self.task.unit: shown, "boundary_rate": rates, "lr": lr, "slope": slope,
                     "positions_per_s": per_s})
        self._reset()

    def _write(self, record: dict) -> None:
        self.log.write(json.dumps(record) + "\n")
        self.log.flush()

    def say(self, line: str) -> None:
        """A line on its own, above the progress bar (not glued to the end of it)."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def valid(self, record: dict, metrics: dict) -> None:
        if self.shown:
            self.say(f"epoch {record['epoch']}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                                              if isinstance(v, float)))
            self._write({"event": "valid", **record})

    def new_epoch(self, run: Run) -> None:
        """The bar starts the next epoch with its first update (after the last epoch, none is shown)."""
        self.next_bar = run.epoch + 1

    def close(self, stop: StopReason, run: Run) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.shown:
            best = self.task.best_said(run.best_valid) if run.best_valid is not None else "no validation yet"
            then = ("; to train on, --resume with more --epochs" if stop is StopReason.FINISHED
                    else "" if stop is StopReason.BUDGET else "; resume with --resume")
            print(f"{stop.value}: {run.step} updates, {run.positions_seen / 1e6:.1f}M positions, {best}{then}",
                  file=sys.stderr)
            self._write({"event": "stop", "reason": stop.name.lower(), "step": run.step, "epoch": run.epoch,
                         "best_valid_score": run.best_valid})
            self.log.close()


if __name__ == "__main__":
    main()
