"""What a training run keeps on disk, and the rules for its folders.

A run's state (its trainer.json, and the tensors of state.safetensors: weights, Adam's moments, the carried
state, the random streams) is written whole or not at all (`model.checkpoint.write_atomic`); `--resume`
reads it back. A run never writes over what is not its own, says before training what it could not write,
and trains in one process at a time.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.checkpoint import write_atomic
from model.hmlstm import HMLSTMConfig, HMLSTMModel
from model.typed import check_fields, fits


def run_dir_of(args) -> Path:
    """Where a run keeps its state: --run-dir, or runs/NAME for --out NAME."""
    return Path(args.run_dir) if args.run_dir else Path("runs") / Path(args.out).name


class RunStateError(ValueError):
    """A run folder whose saved state cannot be read back (damaged, half copied, edited by hand)."""


def read_trainer(run_dir: Path) -> dict:
    """A run's trainer.json, with the parts a resume reads first checked."""
    path = Path(run_dir) / "trainer.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunStateError(f"{path} cannot be read ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict) or not isinstance(meta.get("args"), dict):
        raise RunStateError(f"{path} is not a run's state (it has no 'model' and 'args' objects)")
    if not isinstance(meta.get("data", {}), dict):
        raise RunStateError(f"{path}: its 'data' (what the run reads, and how) must be an object")
    return meta


@contextmanager
def one_process(run_dir: Path):
    """One process at a time trains a run (two at once would write over each other's saves): a lock beside
    its folder, held while the block runs. An exit with one line where another process holds it."""
    try:
        import fcntl
    except ImportError:                          # (not on Windows)
        yield
        return
    path = run_dir.parent / f".{run_dir.name}.lock"
    if not path.parent.is_dir():                 # nothing there yet to train (and nothing made before the checks)
        yield
        return
    try:
        f = open(path, "w")
    except OSError as e:
        sys.exit(f"model.train: cannot write {run_dir} ({e.strerror or e})")
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(f"model.train: another process is training the run in {run_dir} now: wait for it, or stop it first")
        yield


def first_line(e: BaseException) -> str:
    return (getattr(e, "strerror", None) or str(e) or type(e).__name__).splitlines()[0]


def target_problem(out: Path, run_dir: Path, resume: bool, replace_out: bool) -> str | None:
    """Why --out and --run-dir cannot take this run (None: they can). Each save replaces its folder whole,
    so neither may be a file, hold the other, or hold anything but what this run writes there."""
    o, r = out.resolve(), run_dir.resolve()
    if o == r or o in r.parents or r in o.parents:
        return f"--out {out} and --run-dir {run_dir} must be two folders, neither inside the other"
    for name, folder in (("--out", out), ("--run-dir", run_dir)):
        if folder.exists() and not folder.is_dir():
            return f"{name} {folder} is a file, not a folder"
    if not resume and run_dir.is_dir() and any(run_dir.iterdir()):
        return f"--run-dir {run_dir} holds other files: give a new or empty folder"
    if out.is_dir() and any(out.iterdir()):
        if not (out / "config.json").is_file():
            return f"--out {out} holds files that are not a checkpoint: give a new or empty folder"
        if not resume and not replace_out:
            return (f"--out {out} holds a checkpoint: give another --out, or add --replace-out to write over it "
                    "once this run validates")
    return None


@dataclass
class Run:
    """A training run's progress: trainer.json, beside the tensors of state.safetensors."""
    epoch: int = 0                  # finished epochs
    position: int = 0               # where in the streams the next window starts
    step: int = 0                   # updates done
    positions_seen: int = 0         # training positions read, over all processes
    seconds: float = 0.0            # training time, over every session of this run
    best_valid: float | None = None
    history: list[dict] = field(default_factory=list)   # a record per validation
    carried: tuple | None = None    # (h, c, z) carried from window to window (safetensors, not JSON)
    skipped_updates: int = 0        # windows whose loss or gradient was not finite: no update made
    nonfinite_in_row: int = 0
    outside_band: list[int] = field(default_factory=list)  # per layer: logged windows in a row its rate was outside 1%..99%
    commands: list[str] = field(default_factory=list)      # the command that started the run, then each --resume

    def __post_init__(self):             # read back from a trainer.json that may have been edited by hand
        check_fields(self, skip=("carried",))
        counts = ("epoch", "position", "step", "positions_seen", "skipped_updates", "nonfinite_in_row", "seconds")
        if min(getattr(self, k) for k in counts) < 0 or min(self.outside_band, default=0) < 0:
            raise ValueError(f"{', '.join(counts)} and outside_band's counts must be at least 0")

    def to_json(self, args) -> dict:
        record = {k: v for k, v in dataclasses.asdict(self).items() if k != "carried"}
        return {**record, "args": vars(args)}

    @classmethod
    def from_json(cls, saved: dict) -> "Run":
        renamed = {"best_valid_bpc": "best_valid", "chars": "positions_seen", "positions": "positions_seen"}
        saved = {renamed.get(k, k): v for k, v in saved.items()}                 # runs saved before
        return cls(**{k: v for k, v in saved.items() if k in cls.__dataclass_fields__ and k != "carried"})


def save_run(run_dir: Path, model, opt, run: Run, args, data: dict, carried=None) -> None:
    """Everything --resume needs, as safetensors + JSON, written atomically. `data`: what the task
    records of its data (the vocabulary, or the ink normalisation); `carried`: the carried state of
    every process (the run's own by default)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    for i, st in opt_state["state"].items():
        for k, v in st.items():
            tensors[f"adam.{i}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().reshape(-1) \
                if k == "step" else v.detach().cpu().contiguous()
    carried = run.carried if carried is None else carried
    if carried is not None:
        for name, t in zip("hcz", carried):
            tensors[f"carried.{name}"] = t.detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    if next(model.parameters()).is_cuda:            # dropout on the card draws from its own stream
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {**run.to_json(args), "param_groups": opt_state["param_groups"], "model": model.cfg.to_dict(),
            "data": data}
    write_atomic(run_dir, {
        "state.safetensors": lambda p: save_file(tensors, str(p)),
        "trainer.json": lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"),
    })


def load_run(run_dir: Path, meta: dict, model, opt) -> Run:
    """The run saved in run_dir (meta: its trainer.json), its weights and Adam's moments loaded into model
    and opt. RunStateError where the saved state cannot be read back."""
    try:                                 # trainer.json first: nothing is loaded from a run that cannot resume
        run = Run.from_json(meta)
        wrong = param_groups_problem(meta.get("param_groups"), opt.state_dict()["param_groups"])
        if wrong:
            raise ValueError(f"its param_groups {wrong}")
    except (TypeError, ValueError) as e:
        raise RunStateError(f"{run_dir / 'trainer.json'}: {e}") from None
    try:
        tensors = load_file(str(run_dir / "state.safetensors"))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        state = {}
        for k, v in tensors.items():
            if k.startswith("adam."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v.reshape(()) if name == "step" else v
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        rng = tensors["rng.torch"]
    except (OSError, SafetensorError, RuntimeError, ValueError, KeyError, TypeError) as e:
        raise RunStateError(f"{run_dir / 'state.safetensors'} cannot be read back ({str(e).splitlines()[0]})") from None
    torch.set_rng_state(rng)
    if "rng.cuda" in tensors and next(model.parameters()).is_cuda:
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    prefix = "carried" if "carried.h" in tensors else "hidden"                  # runs saved before
    if f"{prefix}.h" in tensors:
        run.carried = tuple(tensors[f"{prefix}.{n}"] for n in "hcz")
    return run


def param_groups_problem(saved, fresh: list[dict]) -> str | None:
    """What keeps the optimiser's saved groups from being this optimiser's (None: nothing): the same
    groups of the same parameters, each setting one of this optimiser's, of the kind it makes (Adam reads
    them at its next step, far from the file). A setting left out is torch's default, as in runs saved by
    an older torch."""
    if not isinstance(saved, list) or len(saved) != len(fresh) or not all(isinstance(g, dict) for g in saved):
        return f"must be {len(fresh)} object(s), as the optimiser makes them"
    for group, made in zip(saved, fresh):
        if "params" not in group or not group.keys() <= made.keys():
            return f"must each name their params, and hold no settings but this optimiser's ({', '.join(sorted(made))})"
        for key in group:
            value = made[key]
            kind = ("list[int]" if key == "params" else "bool" if type(value) is bool else "bool | None" if value is None
                    else "list[float]" if isinstance(value, (list, tuple)) else "float")
            if not fits(group[key], kind) or (key == "params" and group[key] != value) \
                    or (kind == "list[float]" and len(group[key]) != len(value)):
                return f"have {key} {group[key]!r}, which the optimiser cannot take"
    return None


def load_run_model(run_dir: Path) -> tuple[HMLSTMModel, dict]:
    """The model as a run left it (for a study that scores the end of a fixed budget), and the
    run's trainer.json (its "data" holds the vocabulary)."""
    meta = read_trainer(run_dir)
    model = HMLSTMModel(HMLSTMConfig.from_dict(meta["model"]))
    tensors = load_file(str(Path(run_dir) / "state.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    return model.eval(), meta
