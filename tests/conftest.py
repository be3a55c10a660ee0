import os

import pytest

# Without a GPU, the Triton loops run (in tests) through Triton's interpreter; it is chosen when
# triton is first imported, so before any test module loads.
if os.environ.get("TRITON_INTERPRET") is None:
    import torch
    if not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory):
    """Two small text checkpoints trained by model.train on the toy corpus and an ink one on
    synthetic cursive (a few seconds in all)."""
    from model import train
    from tests.helpers import toy_corpus
    root = tmp_path_factory.mktemp("lens")
    corpus = toy_corpus(root, lines=600)
    for name, seed in (("toy-a", "1"), ("toy-b", "2")):
        train.main(["--text-file", str(corpus), "--out", str(root / "ckpts" / name), "--run-dir",
                    str(root / "runs" / name), "--hidden", "24", "--embed", "8", "--layers", "3", "--batch", "8",
                    "--bptt", "40", "--epochs", "1", "--no-progress", "--seed", seed, "--warmup", "5"])
    train.main(["--task", "ink", "--synthetic", "40", "--out", str(root / "ckpts" / "toy-ink"), "--run-dir",
                str(root / "runs" / "toy-ink"), "--hidden", "16", "--layers", "2", "--batch", "4", "--bptt", "60",
                "--epochs", "1", "--no-progress", "--mixtures", "4", "--stop-lines", "5", "--warmup", "5"])
    return root / "ckpts"


@pytest.fixture(scope="session")
def spaceless_dir(tmp_path_factory):
    """A text checkpoint trained by model.train --no-spaces on the toy corpus, in a folder of its own."""
    from model import train
    from tests.helpers import toy_corpus
    root = tmp_path_factory.mktemp("spaceless")
    train.main(["--text-file", str(toy_corpus(root, lines=600)), "--out", str(root / "ckpts" / "toy-nospace"),
                "--run-dir", str(root / "runs" / "toy-nospace"), "--hidden", "24", "--embed", "8", "--layers", "3",
                "--batch", "8", "--bptt", "40", "--epochs", "1", "--no-progress", "--warmup", "5", "--no-spaces",
                "--entropy-guide", "0.3/none"])
    return root / "ckpts"


@pytest.fixture(scope="session")
def settings(checkpoint_dir):
    from app.settings import Settings
    return Settings(checkpoint_dir=checkpoint_dir, default_model="toy-a", max_text_chars=300,
                    max_body_bytes=200_000, rate_per_s=1000, rate_burst=1000)


@pytest.fixture()
def client(settings):
    from fastapi.testclient import TestClient
    from app.main import create_app
    with TestClient(create_app(settings)) as c:
        yield c
