"""The API docs in a real browser: /docs (Swagger UI 5) and /redoc render our OpenAPI 3.1 schema
offline, from files we serve, under the docs pages' Content-Security-Policy.

Screenshots go to $LENS_ARTIFACTS (default: the pytest temp folder) for a person to look at; the
browser is the one of tests/web/conftest.py.
"""
import pytest

from bench.server import running_server
from tests.web.pages import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    no_checkpoints = tmp_path_factory.mktemp("no-checkpoints")       # the schema needs no model
    with running_server({"LENS_CHECKPOINT_DIR": str(no_checkpoints)}) as (url, _):
        yield url


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_swagger_ui_lists_the_operations(server, browser, artifacts):
    browser.get_log("browser")                                       # start from a clean log
    browser.get(server + "/docs")
    path = wait_for(browser, "const op = document.querySelector('#operations-default-text_api_text_post');"
                             "return op && op.querySelector('.opblock-summary-path').innerText")
    assert path.strip() == "/api/text"
    assert "POST" in browser.execute_script(
        "return document.querySelector('#operations-default-text_api_text_post .opblock-summary-method').innerText")
    text = browser.execute_script("return document.body.innerText")
    assert "Unable to render" not in text and "OAS 3.1" in text
    browser.save_screenshot(str(artifacts / "docs-swagger.png"))
    assert console_errors(browser) == []


def test_redoc_renders_the_operations(server, browser, artifacts):
    browser.get_log("browser")
    browser.get(server + "/redoc")
    section = wait_for(browser, "const op = document.querySelector("
                                "'[data-section-id=\"operation/text_api_text_post\"]'); return op && op.innerText")
    assert "/api/text" in section and "POST" in section
    browser.save_screenshot(str(artifacts / "docs-redoc.png"))
    assert console_errors(browser) == []             # its credit's logo from Redocly's CDN is not asked for
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(u.startswith(server) or u.startswith(("data:", "blob:")) for u in loaded), loaded
