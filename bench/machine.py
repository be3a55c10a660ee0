"""What machine a benchmark ran on: the CPU's model name, as lscpu gives it."""
from __future__ import annotations

import os
import platform

from model.loops.cpp import cpuinfo


def cpu_model() -> str:
    name = cpuinfo("model name") or platform.processor() or platform.machine()
    return f"{name}, {os.cpu_count()} cores"
