"""What machine a benchmark ran on: the CPU's model name, as lscpu gives it, with what tells apart
machines of one name ("AMD EPYC" is more than one chip): family and model, and the L3's size."""
from __future__ import annotations

import os
import platform
from pathlib import Path

from model.loops.cpp import cpuinfo

L3 = Path("/sys/devices/system/cpu/cpu0/cache/index3/size")


def cpu_model() -> str:
    name = cpuinfo("model name") or platform.processor() or platform.machine()
    family, model = cpuinfo("cpu family"), cpuinfo("model")
    chip = f" (family {family} model {model})" if family and model else ""
    try:
        l3 = f", L3 {L3.read_text().strip().replace('K', ' KiB')}"
    except OSError:
        l3 = ""
    return f"{name}{chip}{l3}, {os.cpu_count()} cores"
