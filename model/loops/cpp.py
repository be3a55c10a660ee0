"""The time loops in C++ (`csrc/hmlstm_cpu.cpp`), for the CPU: built on first use, called by name.

The extension takes ForwardInputs' and OutputGrads' fields as keyword arguments and returns structs
with ForwardBuffers' and BackwardResult's field names; this module converts both ways by name.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from model.loops.contract import (BackwardResult, ForwardBuffers, ForwardInputs, Layout, OutputGrads, StepWeights)

log = logging.getLogger(__name__)
SOURCE = Path(__file__).parent / "csrc" / "hmlstm_cpu.cpp"
STALE_LOCK_S = 600            # a build takes well under a minute
# The training loops' per-step product: MKL's packed GEMM, our own AVX2 kernel ("blocked") or a plain
# mm. "auto" picks by the CPU's vendor what bench/RESULTS.md measured fastest on it. Read once.
STEP_PRODUCTS = ("packed", "blocked", "mm")
FASTEST_STEP_PRODUCT = {"GenuineIntel": "packed", "AuthenticAMD": "blocked"}


def cpuinfo(field: str) -> str:
    """The first value of a /proc/cpuinfo field ("vendor_id", "model name"), or '' where it does not say."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == field:
                return value.strip()
    except OSError:
        pass
    return ""


def cpu_vendor() -> str:
    """The x86 vendor string (GenuineIntel, AuthenticAMD), or ''."""
    return cpuinfo("vendor_id")


def _step_product_setting() -> str:
    name = os.environ.get("HMLSTM_STEP_PRODUCT", "auto")
    if name == "auto":
        return FASTEST_STEP_PRODUCT.get(cpu_vendor(), "packed")
    if name not in STEP_PRODUCTS:
        raise ValueError(f"HMLSTM_STEP_PRODUCT must be auto, {', '.join(STEP_PRODUCTS)}, not {name!r}")
    return name


STEP_PRODUCT = _step_product_setting()
# batch-1 inference streams int8 copies (a scale per column) of weights that are exactly such numbers,
# else float16 copies of weights that are exactly float16, where the CPU widens them in hardware (AVX2,
# F16C); HMLSTM_BYTE_WEIGHTS=0: never int8; HMLSTM_HALF_WEIGHTS=0: never float16
BYTE_WEIGHTS = os.environ.get("HMLSTM_BYTE_WEIGHTS", "1") != "0"
HALF_WEIGHTS = os.environ.get("HMLSTM_HALF_WEIGHTS", "1") != "0"
BYTE_MAX = 127
_LAYOUT_FIELDS = ("sizes", "offsets", "rows", "above", "below", "in_widths", "ln_widths", "has_z", "ln", "nested")
_extension = None


def extension():
    """The compiled extension, built on first use; None where it cannot be built."""
    global _extension
    if _extension is None:
        _extension = False
        try:
            from torch.utils.cpp_extension import _get_build_directory, load
            # -fopenmp: at::parallel_for is inline OpenMP, serial unless the extension is built with it
            # (the runtime is torch's own libgomp.so.1, already loaded)
            flags = ["-O3", "-fopenmp", "-fno-trapping-math", *_vector_flags()]
            name = build_name(SOURCE, flags)
            _remove_stale_lock(Path(_get_build_directory(name, verbose=False)) / "lock")
            _extension = load(name=name, sources=[str(SOURCE)], extra_cflags=flags, extra_ldflags=["-fopenmp"],
                              verbose=False)
            _extension.set_step_product(STEP_PRODUCT)
        except Exception as e:  # no compiler, no ninja: the Python loops still work
            log.warning("C++ HM-LSTM loops unavailable (%s); using the Python loops", e)
    return _extension or None


def build_name(source: Path, flags) -> str:
    """The extension's name, and so its build folder (under torch's, shared by every checkout on the machine):
    one per source file and flags. With one name for all, a second checkout or other flags rebuilt it (about
    a minute) in every process that switched, each waiting on the other's build lock."""
    key = hashlib.sha1(f"{source.resolve()}\0{' '.join(flags)}".encode()).hexdigest()[:10]
    return f"hmlstm_cpu_{key}"


def _remove_stale_lock(lock: Path) -> None:
    """A process killed while it built the extension leaves torch's build lock behind, and every
    later build would wait for it forever: one older than any build is removed."""
    try:
        if time.time() - lock.stat().st_mtime > STALE_LOCK_S:
            log.warning("removing a stale build lock %s (its builder was killed)", lock)
            lock.unlink(missing_ok=True)
    except FileNotFoundError:
        pass


@functools.cache
def _vector_flags() -> tuple[str, ...]:
    """AVX2 and FMA (and F16C) where this CPU has them: the extension is built on the machine that runs
    it (HMLSTM_PORTABLE=1 leaves them out, for an image built on one machine and run on others)."""
    if os.environ.get("HMLSTM_PORTABLE") == "1":
        return ()
    words = set(cpuinfo("flags").split())
    flags = ("-mavx2", "-mfma") if {"avx2", "fma"} <= words else ()
    return flags + ("-mf16c",) if flags and "f16c" in words else flags


@contextmanager
def inference_threads(n: int):
    """Batch-1 inference loops started by this thread inside the block use `n` threads (0: torch's
    intra-op thread count, the default). The traces do not depend on it."""
    ext = extension()
    if ext is None:
        yield
        return
    before = ext.infer_threads()
    ext.set_infer_threads(n)
    try:
        yield
    finally:
        ext.set_infer_threads(before)


_layouts: dict[Layout, object] = {}


def _cpp_layout(layout: Layout):
    """The extension's Layout with the Python one's fields (made once per layout)."""
    found = _layouts.get(layout)
    if found is None:
        found = extension().Layout()
        for name in _LAYOUT_FIELDS:
            value = getattr(layout, name)
            setattr(found, name, list(value) if isinstance(value, tuple) else value)
        _layouts[layout] = found
    return found


def exact_half(W: torch.Tensor) -> torch.Tensor | None:
    """W in float16 where every value of it is one (a checkpoint stored in float16, like ptb-3x512):
    batch-1 inference streams that copy, the same numbers in half the bytes. Kept on W until W changes."""
    cached = getattr(W, "_exact_half", None)
    if cached is not None and cached[0] == W._version:
        return cached[1]
    half = None
    if W.dtype == torch.float32 and W.device.type == "cpu":
        candidate = W.detach().half()
        half = candidate if torch.equal(candidate.float(), W.detach()) else None
    W._exact_half = (W._version, half)
    return half


def row_parts(layout: Layout, l: int) -> tuple[int, int, int]:
    """How many rows of layer l's stacked weights multiply its own h, the h above and the h below."""
    return layout.sizes[l], layout.above[l], layout.below[l]


def exact_bytes(W: torch.Tensor, parts: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(q, scale) where every value of W is q * scale, q an integer in [-127, 127] and scale that of its
    column in its part of the rows (one per source of s), the largest |q| of each being 127: a checkpoint
    stored in int8 (model/checkpoint.py). q in int8, scale (3, columns) float32; batch-1 inference streams
    q, the same numbers in a quarter of the bytes. None where W is not such a matrix. Kept on W until W
    changes."""
    cached = getattr(W, "_exact_bytes", None)
    if cached is not None and cached[0] == W._version:
        return cached[1]
    found = None
    if W.dtype == torch.float32 and W.device.type == "cpu" and W.dim() == 2 and sum(parts) == W.shape[0]:
        q = torch.empty(W.shape, dtype=torch.int8)
        scale = torch.zeros(3, W.shape[1])
        found = (q, scale)
        for part, rows in enumerate(W.detach().split(list(parts))):
            if rows.numel() == 0:
                continue
            s = rows.abs().amax(0) / BYTE_MAX
            whole = torch.where(s > 0, rows / torch.where(s > 0, s, 1), 0)
            if not (torch.equal(whole, whole.round()) and torch.equal(whole * s, rows)):
                found = None
                break
            q.narrow(0, sum(parts[:part]), rows.shape[0]).copy_(whole)
            scale[part] = s
    W._exact_bytes = (W._version, found)
    return found


def forward(layout: Layout, inputs: ForwardInputs, skip_copy: bool = False) -> ForwardBuffers:
    batch_one = skip_copy and inputs.pre0.shape[1] == 1
    narrow = {"W16": [], "W8": [], "W8_scale": []}
    if batch_one and "-mavx2" in _vector_flags():
        for l, W in enumerate(inputs.weights.W):
            W8 = exact_bytes(W, row_parts(layout, l)) if BYTE_WEIGHTS else None
            W16 = exact_half(W) if W8 is None and HALF_WEIGHTS and "-mf16c" in _vector_flags() else None
            narrow["W8"].append(W8[0] if W8 else torch.empty(0, dtype=torch.int8))
            narrow["W8_scale"].append(W8[1] if W8 else torch.empty(0))
            narrow["W16"].append(W16 if W16 is not None else torch.empty(0, dtype=torch.half))
    out = extension().forward(_cpp_layout(layout), pre0=inputs.pre0, h0=inputs.h0, c0=inputs.c0, z0=inputs.z0,
                              **inputs.weights._asdict(), slope=inputs.slope, skip_copy=skip_copy, **narrow)
    return ForwardBuffers(**{name: getattr(out, name) for name in ForwardBuffers._fields})


def backward(layout: Layout, grads: OutputGrads, saved: ForwardBuffers, weights: StepWeights, slope) -> BackwardResult:
    out = extension().backward(_cpp_layout(layout), **grads._asdict(), H=saved.H, C=saved.C, Z=saved.Z,
                               Zsoft=saved.Zsoft, S=saved.S, A=saved.A, TC=saved.TC, Mean=saved.Mean,
                               Rstd=saved.Rstd, W=weights.W, ln_w=weights.ln_w, slope=slope)
    return BackwardResult(**{name: getattr(out, name) for name in BackwardResult._fields})
