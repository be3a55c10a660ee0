"""Checkpoint folders (DESIGN.md section 5): config.json + weights.safetensors.

Nothing is ever unpickled: the weights are safetensors, everything else JSON, and the
config is checked against the tensors before a model is built. Writes go to a temporary
folder beside the target and are swapped in, so a folder on disk is always either the old
checkpoint or the new one, never half of each, and (on Linux) never missing.
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.overrides import TorchFunctionMode

from model.data import Vocabulary
from model.hmlstm import HMLSTMConfig, HMLSTMModel
from model.loops.cpp import BYTE_MAX
from model.typed import fits

CONFIG, WEIGHTS = "config.json", "weights.safetensors"
UNIGRAM = "unigram.model"      # spaceless checkpoints: the SentencePiece baseline chosen on valid (a protobuf)
FORMAT = "hmlstm-boundary-lens/1"


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be used; the message says why."""


def config_json(config: dict) -> str:
    """config.json's text, the same whichever writer writes it."""
    return json.dumps(config, indent=2) + "\n"


def write_atomic(folder: Path, files: dict[str, callable]) -> None:
    """Write {name: writer(path)} into `folder` all at once: into a temporary folder, then swapped in."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    os.chmod(tmp, 0o755)
    try:
        for name, writer in files.items():
            writer(tmp / name)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if folder.exists() and _exchange(tmp, folder):
            shutil.rmtree(tmp, ignore_errors=True)      # it holds the old files now
            return
        old = None
        if folder.exists():                             # two renames: a kill between them leaves only `old`
            old = folder.parent / f".{folder.name}.old.{uuid.uuid4().hex}"
            os.rename(folder, old)
        os.rename(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def unwritable(folder: Path) -> str | None:
    """Why `folder` could not be written (None: it can), found before the work that would fill it: a write
    replaces a folder from beside it (`write_atomic`), so its parent is made, and written to once."""
    folder = Path(folder)
    nearest = next(p for p in (folder, *folder.parents) if p.exists())
    if not nearest.is_dir():
        return f"cannot write {folder}: {nearest} is a file, not a folder"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder.parent):
            pass
    except OSError as e:
        return f"cannot write {folder} ({e.strerror or e})"
    return None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux's renameat2 with RENAME_EXCHANGE); False where the system
    or the file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def left_by_a_kill(folder: Path) -> Path | None:
    """Where `folder` was set aside by a write that a kill stopped between its two renames (only
    where the swap cannot be one step), when `folder` itself is missing."""
    folder = Path(folder)
    if folder.exists():
        return None
    kept = sorted(folder.parent.glob(f".{folder.name}.old.*"), key=lambda p: p.stat().st_mtime)
    return kept[-1] if kept else None


def left_over(folder: Path) -> list[Path]:
    """The folders beside `folder` that writes stopped by a kill left (write_atomic's temporary folder, or the
    old one set aside): to be cleared once `left_by_a_kill` has put back what it can."""
    folder = Path(folder)
    if not folder.parent.is_dir():
        return []
    ours = re.compile(rf"\.{re.escape(folder.name)}\.(?:[a-z0-9_]{{8}}|old\.[0-9a-f]{{32}})")
    return sorted(p for p in folder.parent.iterdir() if p.is_dir() and ours.fullmatch(p.name))


def save_checkpoint(folder, model: HMLSTMModel, meta: dict, dtype=torch.float32) -> None:
    """meta: what config.json says beside the architecture (vocabulary, data, metrics...)."""
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in model.state_dict().items()}
    config = {"format": FORMAT, **meta, "model": model.cfg.to_dict()}
    write_atomic(Path(folder), {
        WEIGHTS: lambda p: save_file(tensors, str(p)),
        CONFIG: lambda p: p.write_text(config_json(config)),
    })


def write_config(folder, config: dict) -> None:
    """Replace config.json alone (new metrics, say); the weights file is left as it is."""
    path = Path(folder) / CONFIG
    fd, tmp = tempfile.mkstemp(prefix=f".{CONFIG}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(config_json(config))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_config(folder) -> dict:
    folder = Path(folder)
    path = folder / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {CONFIG}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise CheckpointError(f"{path}: no 'model' object")
    return config


def check_sections(folder, config: dict, task: str) -> None:
    """The parts of config.json beside the model that its readers use (the server, the evaluation): objects
    where objects are read, and an ink model's normalisation whole. A file damaged or edited by hand is
    refused here, with the reason, rather than half read by a request later."""
    def need(ok: bool, what: str):
        if not ok:
            raise CheckpointError(f"{folder}: {what}")
    for key in ("metrics", "training"):
        need(isinstance(config.get(key, {}), dict), f"'{key}' must be an object")
    need(fits(config.get("spaces", True), "bool"),
         "'spaces' must be true or false (false: the model reads text without its whitespace)")
    for split in ("valid", "test"):
        part = config.get("metrics", {}).get(split, {})
        need(isinstance(part, dict) and isinstance(part.get("baselines", {}), dict),
             f"metrics '{split}' and its 'baselines' must be objects")
        surprisal = part.get("baselines", {}).get("surprisal", {})
        need(isinstance(surprisal, dict) and fits(surprisal.get("threshold_bits", 0.0), "float | None"),
             f"metrics '{split}': the surprisal baseline's threshold_bits must be a number")
    if task == "ink":
        from model.ink import GRAVES, LINE_RMS, InkStats
        norm = config.get("normalisation")
        try:
            stats = InkStats.from_dict(norm)
            whole = stats.protocol in (GRAVES, LINE_RMS) and len(stats.mean) == len(stats.std) == 2
            whole = whole and fits([*stats.mean, *stats.std, stats.clip, stats.median_rms], "list[float]")
            whole = whole and min(*stats.std, stats.clip, stats.median_rms) > 0
        except (KeyError, TypeError, ValueError):
            whole = False
        need(whole, "'normalisation' must give a known protocol, the offsets' mean and std (two numbers each, "
                    "std > 0), clip and median_rms_step (positive)")


class _NoDraws(TorchFunctionMode):
    """Weights left as they are made, not drawn: normal_ on the meta device imports torch's compiler
    (2 s added to every command's start and the server's). A function mode holds in its own thread only,
    so a model built in another thread meanwhile is drawn as usual."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.nn.init.normal_:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


@contextmanager
def _shapes_only():
    """Modules built for their shapes alone: on the meta device, their weights not drawn."""
    with torch.device("meta"), _NoDraws():
        yield


def load_checkpoint(folder, device="cpu") -> tuple[HMLSTMModel, dict]:
    """(model in eval mode, config dict). Raises CheckpointError with the reason."""
    folder = Path(folder)
    config = read_config(folder)
    try:
        cfg = HMLSTMConfig.from_dict(config["model"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{folder}: bad model config ({e})") from None
    if cfg.task == "text":
        symbols = config.get("vocabulary")
        if not isinstance(symbols, list) or len(symbols) != cfg.vocab_size:
            raise CheckpointError(f"{folder}: 'vocabulary' must list {cfg.vocab_size} symbols")
        try:
            Vocabulary(symbols)
        except ValueError as e:
            raise CheckpointError(f"{folder}: {e}") from None
    check_sections(folder, config, cfg.task)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder}: no {WEIGHTS}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({e})") from None
    with _shapes_only():                        # the shapes the config makes, compared before anything is allocated
        expected = HMLSTMModel(cfg).state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{folder}: tensors do not match the config (missing {missing[:5]}, "
                              f"unexpected {extra[:5]})")
    for k, v in expected.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{folder}: {k} has shape {tuple(tensors[k].shape)}, the config "
                                  f"says {tuple(v.shape)}")
        if v.is_floating_point() and not torch.isfinite(tensors[k]).all():
            raise CheckpointError(f"{folder}: {k} holds NaN or infinite values")
    model = HMLSTMModel(cfg)
    model.load_state_dict({k: t.to(expected[k].dtype) for k, t in tensors.items()})
    return model.to(device).eval(), config


# What a checkpoint's metrics hold that was measured on its weights, and is wrong once they change.
MEASURED_ON_WEIGHTS = ("valid", "valid_bpc", "valid_chars", "valid_boundary_rate", "test", "test_bpc",
                       "valid_loglik_per_sequence")


STORED_FORMS = ("float16", "int8")


def byte_weight_names(model: HMLSTMModel) -> list[str]:
    """The weights that batch-1 inference streams (the parts of each layer's stacked matrix, model/loops):
    layer l's recurrent and top-down weights, and its bottom-up ones from layer 2 on (layer 1's are a
    table per checkpoint)."""
    return [name for name, _ in model.rnn.layers.named_parameters()
            if name.split(".")[1] in ("recurrent", "top_down") or (name.split(".")[1] == "bottom_up"
                                                                  and not name.startswith("0."))]


def round_to_bytes(W: torch.Tensor) -> torch.Tensor:
    """W (rows, columns) rounded to q * scale, q an integer in [-127, 127] and one scale per column: the
    column's largest |W| / 127 rounded down to 4 significant bits, so that its largest |q| is 127 (the
    loops find the scale again as max|W| / 127) and every q * scale is a float16 number."""
    m, e = torch.frexp(W.abs().amax(0) / BYTE_MAX)
    scale = torch.ldexp(torch.floor(m * 16) / 16, e)
    q = torch.round(W / torch.where(scale > 0, scale, 1)).clamp(-BYTE_MAX, BYTE_MAX)
    return q * scale


def _stored_form(folder: Path) -> str:
    """float16 where every floating tensor of the weights file is, else float32."""
    tensors = load_file(str(folder / WEIGHTS))
    return "float16" if all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point()) else "float32"


def store_as(src, dst, form: str = "float16") -> dict:
    """Copy the checkpoint at `src` to `dst` with its weights rounded: a new model in fewer bytes, which
    batch-1 inference streams as such (model/loops/cpp.py). form "float16": every weight rounded to a
    float16 number; "int8": the streamed weights (byte_weight_names) also rounded to int8 times a scale
    per column (round_to_bytes), the file still float16. The metrics measured on the old weights move to
    `training.<old form>_metrics` (model.evaluate --record measures the new model again); the rest of
    config.json, and a spaceless checkpoint's unigram baseline, come along. Returns the config."""
    src, dst = Path(src), Path(dst)
    if form not in STORED_FORMS:
        raise CheckpointError(f"form must be one of {', '.join(STORED_FORMS)}, not {form!r}")
    if src.resolve() == dst.resolve():
        raise CheckpointError(f"{dst}: give a new folder (the checkpoint at {src} stays as it is)")
    if src.resolve() in dst.resolve().parents:
        raise CheckpointError(f"{dst} is inside the checkpoint {src}: give a folder elsewhere")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):    # a copy replaces its folder whole
        raise CheckpointError(f"{dst} already holds {'a file' if not dst.is_dir() else 'files'}: give a new or "
                              "empty folder (nothing was written)")
    model, config = load_checkpoint(src)
    was = _stored_form(src)
    if form == "int8":
        params, names = dict(model.rnn.layers.named_parameters()), byte_weight_names(model)
        if not names:
            raise CheckpointError(f"{src}: not an HM-LSTM (no recurrence that batch-1 inference streams in int8); "
                                  "use --form float16")
        with torch.no_grad():
            for name in names:
                W = round_to_bytes(params[name])
                if not torch.equal(W.half().float(), W):
                    raise CheckpointError(f"{src}: rnn.layers.{name} has columns too small for float16 once in int8")
                params[name].copy_(W)
    training = dict(config.get("training", {}))
    training["weights_stored_as"] = {
        "float16": f"float16 (rounded from the {was} weights of {src.name})",
        "int8": f"int8 times a float16 scale per column for the recurrence's matrices, float16 for the rest, "
                f"in a float16 file (rounded from the {was} weights of {src.name})"}[form]
    old = config.get("metrics", {})
    metrics = {k: v for k, v in old.items() if k not in MEASURED_ON_WEIGHTS}
    training[f"{was}_metrics"] = {k: v for k, v in old.items() if k in MEASURED_ON_WEIGHTS}
    meta = {k: v for k, v in config.items() if k not in ("format", "model", "training", "metrics")}
    meta.update(training=training, metrics=metrics)
    save_checkpoint(dst, model, meta, dtype=torch.float16)
    if (src / UNIGRAM).is_file():
        shutil.copyfile(src / UNIGRAM, dst / UNIGRAM)
    return read_config(dst)


def main(argv=None) -> None:
    import sys

    from model.cli import Parser
    p = Parser(prog="python -m model.checkpoint", description="Copy a checkpoint with its weights stored in fewer bytes.")
    p.add_argument("src")
    p.add_argument("dst", help="a new folder (or an empty one)")
    p.add_argument("--form", choices=STORED_FORMS, default="float16",
                   help="float16: every weight a float16 number; int8: the recurrence's matrices also int8 "
                        "times a scale per column (a quarter of float32's bytes for inference to stream)")
    args = p.parse_args(argv)
    try:
        store_as(args.src, args.dst, args.form)
    except CheckpointError as e:
        sys.exit(f"model.checkpoint: {e}")
    except OSError as e:
        sys.exit(f"model.checkpoint: cannot write {args.dst} ({e.strerror or e})")
    print(f"{args.dst}: weights in {args.form}; measure it again with python -m model.evaluate --checkpoint {args.dst} "
          "--split valid --record (and --split test once)")


if __name__ == "__main__":
    main()
