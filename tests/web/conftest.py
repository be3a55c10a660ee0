"""What the real-browser tests share: one server on toy checkpoints, one on the bundled ones
(started when a test first needs it), one headless Chromium, and a folder for screenshots."""
import os
from pathlib import Path

import pytest

from bench.page import CHROMEDRIVER, CHROMIUM
from bench.page import browser as headless_chromium
from bench.server import running_server


@pytest.fixture(scope="session")
def server(checkpoint_dir):
    with running_server({"LENS_CHECKPOINT_DIR": str(checkpoint_dir), "LENS_DEFAULT_MODEL": "toy-a"}, start_s=300) as (url, _):
        yield url


@pytest.fixture(scope="session")
def bundled():
    """What `make run` serves: the default settings and the bundled checkpoints."""
    with running_server(start_s=300) as (url, _):
        yield url


@pytest.fixture(scope="session")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def browser(downloads):
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), \
        "Debian's chromium and chromium-driver are needed (.ci/run installs them)"
    driver = headless_chromium(1400, 2000, console_log=True)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    folder = Path(os.environ.get("LENS_ARTIFACTS") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _token(f1, boundary_f1):
    return {"token": {"precision": f1, "recall": f1, "f1": f1},
            "boundary": {"precision": boundary_f1, "recall": boundary_f1, "f1": boundary_f1}}


# What `model.evaluate --no-spaces` would record for a spaceless checkpoint (DESIGN.md 8): the
# figures are made up for the page to word; the thresholds and lags are what the server and the
# page act on (layer 2 read at lag 1, so the page must shift it).
SPACELESS_TEST = {
    "spaces": False, "bpc": 3.9, "chars": 5000, "gold_boundary_rate": 0.27, "chosen_on": "valid split",
    "layers": [{"layer": 1, "boundary_rate": 0.6, "lag": 0, **_token(0.08, 0.4), "random": _token(0.05, 0.36)},
               {"layer": 2, "boundary_rate": 0.3, "lag": 1, **_token(0.56, 0.7), "random": _token(0.03, 0.28)}],
    "baselines": {"random": _token(0.04, 0.27),
                  "surprisal": {**_token(0.45, 0.66), "threshold_bits": 4.1, "threshold_from": "valid split"},
                  "entropy": {**_token(0.51, 0.68), "threshold_bits": 3.9, "threshold_from": "valid split"},
                  "sentencepiece": {**_token(0.49, 0.67), "vocab_size": 40}},
}
# and the with-spaces evaluation's trivial rule (DESIGN.md 8, last paragraph), with a hierarchy
# (DESIGN.md 9) that holds: layer 2 a phrase layer above layer 1's words (figures made up)
WHITESPACE_TEST = {"baselines": {"whitespace": {
    "boundary_rate": 0.2, "word_boundary": {"precision": 0.0, "recall": 0.0, "f1": 0.0},
    "word_boundary_tolerant": {"precision": 1.0, "recall": 1.0, "f1": 1.0}, "word_token_f1": 1.0}},
    "hierarchy": {"word_layer": 1, "phrase_layer": 2, "phrase_on_word_ends": 0.93, "rate_ratio": 0.4,
                  "words_per_phrase": 4.2, "chosen_on": "valid split",
                  "phrase_proxy": {"scores": {"f1": 0.31}, "random_word_ends": {"f1": 0.12}}}}
# a layer above the word layer that is sparser and on word ends, but no closer to phrase ends than random
COARSER_TEST = {**WHITESPACE_TEST, "hierarchy": {**WHITESPACE_TEST["hierarchy"], "phrase_on_word_ends": 0.99,
                "rate_ratio": 0.25, "words_per_phrase": 4.0,
                "phrase_proxy": {"scores": {"f1": 0.13}, "random_word_ends": {"f1": 0.19}}}}


@pytest.fixture(scope="session")
def spaceless_server(checkpoint_dir, spaceless_dir, tmp_path_factory):
    """A server on copies of toy-a and toy-b (with spaces) and toy-nospace (read without spaces, the default),
    each with test metrics written into its config, and a SentencePiece unigram model for the
    spaceless one, trained here on the toy corpus without its spaces."""
    import shutil

    from model.checkpoint import read_config, write_config
    from tests.helpers import add_unigram
    root = tmp_path_factory.mktemp("lens-spaceless")
    for folder, name, test in ((checkpoint_dir, "toy-a", WHITESPACE_TEST), (checkpoint_dir, "toy-b", COARSER_TEST),
                               (spaceless_dir, "toy-nospace", SPACELESS_TEST)):
        ck = root / "ckpts" / name
        shutil.copytree(folder / name, ck)
        config = read_config(ck)
        config.setdefault("metrics", {})["test"] = test
        write_config(ck, config)
    add_unigram(root / "ckpts" / "toy-nospace")
    with running_server({"LENS_CHECKPOINT_DIR": str(root / "ckpts"), "LENS_DEFAULT_MODEL": "toy-nospace"}, start_s=300) as (url, _):
        yield url
