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
