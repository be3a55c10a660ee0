"""A real server for benchmarks and browser tests: `python -m app` on a free port of 127.0.0.1."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(env: dict | None = None, start_s: float = 120):
    """Yields (url, process) once /healthz answers; stops the server afterwards."""
    port = free_port()
    full_env = {**os.environ, "LENS_HOST": "127.0.0.1", "LENS_PORT": str(port), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_s
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)
