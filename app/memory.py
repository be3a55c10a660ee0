"""Memory that the server gives back: large buffers go back to the OS when freed."""
from __future__ import annotations

import ctypes


def return_large_buffers_to_the_os() -> bool:
    """Pin glibc's mmap threshold at its default, 128 KiB. glibc raises it (up to 32 MiB) each time
    a large block is freed; after that the model's large transient buffers come from the heap and
    stay there: with the four bundled checkpoints and full caches the server held 1.1-1.35 GB, and
    0.47 GB with the threshold pinned (bench/RESULTS.md). False where the C library is not glibc."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024))      # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False
