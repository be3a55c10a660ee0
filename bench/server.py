"""A real server for benchmarks and browser tests: `python -m app` on a free port of 127.0.0.1."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
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
    said = tempfile.TemporaryFile()             # the server's log, for the reason it did not start (a file: never full)
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=said)
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
                said.seek(0)
                last = (said.read().decode(errors="replace").strip().splitlines() or ["nothing said"])[-1]
                raise RuntimeError(f"the server did not start (exit code {proc.poll()}: {last})")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)
        said.close()


@contextmanager
def said_in_one_line(prog: str):
    """A benchmark's failures with its server (it did not start, it refused a request) as one line, not a traceback."""
    try:
        yield
    except RuntimeError as e:
        sys.exit(f"{prog}: {e}")
    except httpx.HTTPStatusError as e:
        detail = e.response.text[:300].replace("\n", " ")
        sys.exit(f"{prog}: the server answered {e.response.status_code} to {e.request.url.path}: {detail}")
