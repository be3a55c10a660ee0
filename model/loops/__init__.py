"""The HM-LSTM's time loops: one contract (`contract.py`), three backends, one autograd node.

- `python.py`: any device, and the fallback when neither of the others is at hand;
- `cpp.py` (with `csrc/hmlstm_cpu.cpp`): the CPU, built on first use;
- `triton_kernels.py` with `graphs.py`: a GPU, Triton kernels under CUDA graphs;
- `sequence.py`: the whole sequence as one autograd node over whichever backend `select` picks.

`HMLSTM_LOOPS=auto|cpp|triton|python` chooses the backend (auto: C++ on the CPU where it builds,
Triton with CUDA graphs on a GPU where Triton is installed, else Python); `HMLSTM_CUDA_GRAPHS=0`
runs the Triton loops without graphs. Both are read once, at import; a wrong HMLSTM_LOOPS is said by
`environment_error` (the commands' parser says it in one line) and refused by `select`.
"""
from __future__ import annotations

import os

import torch

from model.loops.contract import Loops

BACKENDS = ("auto", "cpp", "triton", "python")
CHOICE = os.environ.get("HMLSTM_LOOPS", "auto")
CUDA_GRAPHS = os.environ.get("HMLSTM_CUDA_GRAPHS", "1") != "0"


def environment_error() -> str | None:
    """What is wrong with HMLSTM_LOOPS, or None."""
    return None if CHOICE in BACKENDS else f"HMLSTM_LOOPS must be one of {', '.join(BACKENDS)}, not {CHOICE!r}"


def python_loops() -> Loops:
    from model.loops import python
    return Loops("python", python.forward, python.backward)


def cpp_loops() -> Loops | None:
    """None where the extension cannot be built (no compiler, no ninja)."""
    from model.loops import cpp
    return Loops("cpp", cpp.forward, cpp.backward) if cpp.extension() is not None else None


def triton_loops(device_type: str = "cuda") -> Loops | None:
    """On a GPU under CUDA graphs (unless HMLSTM_CUDA_GRAPHS=0); on the CPU through Triton's
    interpreter (TRITON_INTERPRET=1, as the tests set it). None without Triton, or off a GPU without
    the interpreter (Triton finds no driver there)."""
    if device_type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        return None
    try:
        from model.loops import graphs, triton_kernels
    except ImportError:
        return None
    if device_type == "cuda" and CUDA_GRAPHS and torch.cuda.is_available():
        return Loops("triton", graphs.forward, graphs.backward)
    return Loops("triton", triton_kernels.forward, triton_kernels.backward)


def select(device: torch.device | str, dtype: torch.dtype = torch.float32, backend: str | None = None) -> Loops:
    """The loops for tensors of this device and dtype: `backend`, else HMLSTM_LOOPS, else auto."""
    choice = backend or CHOICE
    if choice not in BACKENDS:
        raise ValueError(environment_error() if backend is None else f"backend must be one of {BACKENDS}, not {choice!r}")
    kind = torch.device(device).type
    if choice == "python":
        return python_loops()
    if choice == "triton" or (choice == "auto" and kind == "cuda"):
        found = triton_loops(kind)
        if found is None and choice == "triton":
            raise RuntimeError("the Triton HM-LSTM loops are not available here: they run on a GPU with triton "
                               "installed, or on the CPU under TRITON_INTERPRET=1")
        return found or python_loops()
    found = cpp_loops() if kind == "cpu" and dtype in (torch.float32, torch.float64) else None
    if found is None and choice == "cpp":
        raise RuntimeError("the C++ HM-LSTM loops are not available here")
    return found or python_loops()


def backend_name(device: torch.device | str, dtype: torch.dtype = torch.float32) -> str:
    """Which backend runs by default on this device: "cpp", "triton" or "python"."""
    return select(device, dtype).name
