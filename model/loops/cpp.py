"""The time loops in C++ (`csrc/hmlstm_cpu.cpp`), for the CPU: built on first use, called by name.

The extension takes ForwardInputs' and OutputGrads' fields as keyword arguments and returns structs
with ForwardBuffers' and BackwardResult's field names; this module converts both ways by name.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from model.loops.contract import (BackwardResult, ForwardBuffers, ForwardInputs, Layout, OutputGrads, StepWeights)

log = logging.getLogger(__name__)
SOURCE = Path(__file__).parent / "csrc" / "hmlstm_cpu.cpp"
NAME = "hmlstm_cpu"
STALE_LOCK_S = 600            # a build takes well under a minute
# the training loops' per-step product: MKL's packed GEMM (measured faster on the Intel CI machine,
# bench/RESULTS.md) or a plain mm; read once
STEP_PRODUCT = os.environ.get("HMLSTM_STEP_PRODUCT", "packed")
if STEP_PRODUCT not in ("packed", "mm"):
    raise ValueError(f"HMLSTM_STEP_PRODUCT must be 'packed' or 'mm', not {STEP_PRODUCT!r}")
_LAYOUT_FIELDS = ("sizes", "offsets", "rows", "above", "below", "in_widths", "ln_widths", "has_z", "ln", "nested")
_extension = None


def extension():
    """The compiled extension, built on first use; None where it cannot be built."""
    global _extension
    if _extension is None:
        _extension = False
        try:
            from torch.utils.cpp_extension import _get_build_directory, load
            _remove_stale_lock(Path(_get_build_directory(NAME, verbose=False)) / "lock")
            flags = ["-O3", "-fopenmp-simd", "-fno-trapping-math", *_vector_flags()]
            _extension = load(name=NAME, sources=[str(SOURCE)], extra_cflags=flags, verbose=False)
            _extension.allow_packed(STEP_PRODUCT == "packed")
        except Exception as e:  # no compiler, no ninja: the Python loops still work
            log.warning("C++ HM-LSTM loops unavailable (%s); using the Python loops", e)
    return _extension or None


def _remove_stale_lock(lock: Path) -> None:
    """A process killed while it built the extension leaves torch's build lock behind, and every
    later build would wait for it forever: one older than any build is removed."""
    try:
        if time.time() - lock.stat().st_mtime > STALE_LOCK_S:
            log.warning("removing a stale build lock %s (its builder was killed)", lock)
            lock.unlink(missing_ok=True)
    except FileNotFoundError:
        pass


def _vector_flags() -> list[str]:
    """AVX2 and FMA where this CPU has them: the extension is built on the machine that runs it
    (HMLSTM_PORTABLE=1 leaves them out, for an image built on one machine and run on others)."""
    if os.environ.get("HMLSTM_PORTABLE") == "1":
        return []
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return ["-mavx2", "-mfma"] if {"avx2", "fma"} <= words else []


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


def forward(layout: Layout, inputs: ForwardInputs, skip_copy: bool = False) -> ForwardBuffers:
    out = extension().forward(_cpp_layout(layout), pre0=inputs.pre0, h0=inputs.h0, c0=inputs.c0, z0=inputs.z0,
                              **inputs.weights._asdict(), slope=inputs.slope, skip_copy=skip_copy)
    return ForwardBuffers(**{name: getattr(out, name) for name in ForwardBuffers._fields})


def backward(layout: Layout, grads: OutputGrads, saved: ForwardBuffers, weights: StepWeights, slope) -> BackwardResult:
    out = extension().backward(_cpp_layout(layout), **grads._asdict(), H=saved.H, C=saved.C, Z=saved.Z,
                               Zsoft=saved.Zsoft, S=saved.S, A=saved.A, TC=saved.TC, Mean=saved.Mean,
                               Rstd=saved.Rstd, W=weights.W, ln_w=weights.ln_w, slope=slope)
    return BackwardResult(**{name: getattr(out, name) for name in BackwardResult._fields})
