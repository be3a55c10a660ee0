"""`pip install .`: the wheel carries what the commands need, and works in a fresh virtual environment."""
import os
import re
import subprocess
import sys
import time
import tomllib
import zipfile

import httpx
import pytest

from tests.helpers import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (found,) = out.glob("*.whl")
    return found


def test_the_wheel_carries_the_cpp_sources_and_the_pages(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"model/loops/csrc/hmlstm_cpu.cpp", "model/phrases.txt"} <= names
    assert {"app/templates/base.html", "app/templates/text.html", "app/static/css/lens.css"} <= names
    assert {f"app/static/js/pages/{p}.js" for p in ("text", "ink", "embed")} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("hmlstm-train", "hmlstm-evaluate", "hmlstm-lens"):
        assert re.search(rf"^{script} = ", scripts, re.M), script


def test_declared_dependencies_are_the_requirements():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert declared == pinned


@pytest.mark.slow
def test_a_fresh_venv_gets_working_commands_and_builds_the_cpp_loops(wheel, tmp_path, checkpoint_dir):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_ = venv / "bin"
    subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=1500,
                   capture_output=True)
    elsewhere = {**os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext"), "PYTHONPATH": ""}
    for command in (["hmlstm-train", "--help"], ["hmlstm-evaluate", "--help"], ["hmlstm-study", "--help"],
                    ["python", "-m", "model.train", "--help"], ["python", "-m", "model.evaluate", "--help"]):
        done = subprocess.run([str(bin_ / command[0]), *command[1:]], cwd=tmp_path, env=elsewhere,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "usage" in done.stdout, (command, done.stderr[-500:])
    # the C++ loops build from the installed package's source (a fresh extension folder)
    built = subprocess.run([str(bin_ / "python"), "-c", "from model.loops import backend_name, cpp; "
                            "import model; print(model.__file__, backend_name('cpu'), cpp.SOURCE)"],
                           cwd=tmp_path, env=elsewhere, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-1000:]
    where, backend, source = built.stdout.split()
    assert str(venv) in where and str(venv) in source and backend == "cpp"
    # the app serves its pages and the checkpoints it is given
    port = 8600 + os.getpid() % 300
    env = {**elsewhere, "LENS_CHECKPOINT_DIR": str(checkpoint_dir), "LENS_DEFAULT_MODEL": "toy-a",
           "LENS_PORT": str(port)}
    server = subprocess.Popen([str(bin_ / "hmlstm-lens")], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).json()["models"] == 3:
                    break
            except (httpx.HTTPError, ValueError):
                time.sleep(0.5)
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "models": 3}
        assert "<textarea" in httpx.get(f"{url}/").text
        assert httpx.get(f"{url}/static/js/pages/text.js").status_code == 200
        r = httpx.post(f"{url}/api/text", json={"text": "the cat sat"})
        assert r.status_code == 200 and len(r.json()["chars"]) == 11
    finally:
        server.terminate()
        server.wait(30)
