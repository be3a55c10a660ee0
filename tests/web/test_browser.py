"""Real-browser tests: headless Debian Chromium drives the page as a person would.

A missing browser fails these tests (it is part of the install), it never skips them.
Screenshots go to $LENS_ARTIFACTS (default: the pytest temp folder) for a person to look at.
"""
import os
import time
from pathlib import Path

import httpx
import pytest

from bench.server import running_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def server(checkpoint_dir):
    with running_server({"LENS_CHECKPOINT_DIR": str(checkpoint_dir), "LENS_DEFAULT_MODEL": "toy-a"}) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), \
        "Debian's chromium and chromium-driver are needed (.ci/run installs them)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    os.environ.update(SE_MANAGER_PATH="/bin/false", SE_OFFLINE="true", SE_AVOID_STATS="true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    # --no-sandbox only because this browser visits pages served on 127.0.0.1 by the tests
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", "--window-size=1400,2000"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    folder = Path(os.environ.get("LENS_ARTIFACTS") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for(driver, script, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def open_page(driver, url):
    driver.get(url)
    wait_for(driver, "return document.getElementById('model').options.length > 0")


def type_text(driver, text):
    from selenium.webdriver.common.by import By
    box = driver.find_element(By.ID, "text")
    box.clear()
    before = driver.execute_script("return window.lens.rendered")
    box.send_keys(text)
    wait_for(driver, f"return window.lens.rendered > {before} && window.lens.last.a && "
                     f"window.lens.last.a.chars.length === {len(text)}")


def plotted_rows(driver, element_id):
    return driver.execute_script(f"""
        const t = document.getElementById('{element_id}').data[0];
        const out = {{}}; t.y.forEach((name, i) => out[name] = t.z[i]); return out;""")


def api(server, text, model):
    return httpx.post(server + "/api/text", json={"text": text, "model": model}, timeout=30).json()


def test_typing_draws_the_apis_boundaries(server, browser, artifacts):
    open_page(browser, server)
    text = "the cat sat on the mat and the dog ran to the big red house"
    type_text(browser, text)
    wait_for(browser, "return document.querySelector('#zgrid .main-svg') !== null")
    rows = plotted_rows(browser, "zgrid")
    expected = api(server, text, "toy-a")
    for layer in expected["layers"]:
        if layer["z"] is not None:
            assert rows[f"layer {layer['layer']}"] == layer["z"]
    assert rows["gold word ends"] == expected["gold_word_ends"]
    assert "layer 3" not in rows                       # the top layer has no detector
    # every view followed
    for el in ("soft", "traces"):
        assert browser.execute_script(f"return document.getElementById('{el}').data.length") > 0
    segs = browser.execute_script("return document.querySelectorAll('#segments .row').length")
    assert segs == 3                                    # layers 1, 2 and gold
    ticks = browser.execute_script("return document.getElementById('zgrid').layout.xaxis.ticktext")
    assert ticks[:4] == ["t", "h", "e", "␣"]            # a visible glyph for the space
    browser.save_screenshot(str(artifacts / "text-page.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_typing_on_reuses_the_prefix(server, browser):
    open_page(browser, server)
    type_text(browser, "the dog saw a cat")
    from selenium.webdriver.common.by import By
    before = browser.execute_script("return window.lens.rendered")
    browser.find_element(By.ID, "text").send_keys(" and")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.chars.length === 21")
    assert browser.execute_script("return window.lens.last.a.reused_prefix") >= 17
    assert "from cache" in browser.find_element(By.ID, "status").text


def test_two_checkpoints_side_by_side_with_linked_hover(server, browser, artifacts):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    open_page(browser, server)
    text = "a big red dog and a cat"
    type_text(browser, text)
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "compare")).select_by_value("toy-b")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.b !== null")
    assert "comparing" in browser.find_element(By.TAG_NAME, "body").get_attribute("class")
    rows_b = plotted_rows(browser, "zgrid-b")
    expected_b = api(server, text, "toy-b")
    assert rows_b["layer 1"] == expected_b["layers"][0]["z"]
    # hovering the first model's grid shows the step for both models and moves both cursors
    # the switch to two columns resizes the plots asynchronously: move the mouse again as a person would
    for dx in (10, 14, 18, 22, 26):
        grid = browser.find_element(By.CSS_SELECTOR, "#zgrid .nsewdrag")
        ActionChains(browser).move_to_element_with_offset(grid, dx, 0).perform()
        time.sleep(0.3)
        if browser.execute_script("return document.getElementById('inspector').dataset.position"):
            break
    t = int(wait_for(browser, "return document.getElementById('inspector').dataset.position"))
    assert 0 <= t < len(text)
    assert browser.execute_script("return document.querySelectorAll('#inspector table').length") == 2
    shapes = browser.execute_script(
        "return document.getElementById('traces-b').layout.shapes.filter(s => s.name === 'cursor').map(s => s.x0)")
    assert shapes == [t]
    browser.save_screenshot(str(artifacts / "text-compare.png"))


def test_permalink_restores_text_model_and_view(server, browser):
    from selenium.webdriver.common.by import By
    open_page(browser, server)
    type_text(browser, "the house")
    browser.execute_script("const s = document.getElementById('threshold'); s.value = 0.3;"
                           "s.dispatchEvent(new Event('input'));")
    link = browser.execute_script("return location.href")
    browser.get("about:blank")
    browser.get(link)
    wait_for(browser, "return window.lens.last.a && window.lens.last.a.chars.length === 9")
    assert browser.find_element(By.ID, "text").get_attribute("value") == "the house"
    assert browser.find_element(By.ID, "threshold").get_attribute("value") == "0.3"
    assert browser.find_element(By.ID, "model").get_attribute("value") == "toy-a"


def test_threshold_slider_marks_the_cells_that_would_flip(server, browser):
    open_page(browser, server)
    type_text(browser, "the cat sat on a mat")
    browser.execute_script("const s = document.getElementById('threshold'); s.value = 0.2;"
                           "s.dispatchEvent(new Event('input'));")
    res = browser.execute_script("return window.lens.last.a")
    plotted = browser.execute_script(
        "return document.getElementById('soft').data.filter(t => t.name.startsWith('flips')).map(t => t.x)")
    detectors = [l for l in res["layers"] if l["z_soft"] is not None]
    expected = [[i for i, (s, z) in enumerate(zip(l["z_soft"], l["z"])) if (s > 0.2) != (z == 1)] for l in detectors]
    assert plotted == expected
    assert sum(map(len, expected)) > 0                  # a threshold of 0.2 flips something


def test_an_error_is_shown_not_thrown(server, browser):
    from selenium.webdriver.common.by import By
    open_page(browser, server)
    browser.execute_script("document.getElementById('model').add(new Option('ghost', 'ghost'));")
    from selenium.webdriver.support.ui import Select
    Select(browser.find_element(By.ID, "model")).select_by_value("ghost")
    type_text_no_wait = "the cat"
    browser.find_element(By.ID, "text").send_keys(type_text_no_wait)
    wait_for(browser, "return document.getElementById('status').classList.contains('error')")
    assert "unknown model 'ghost'" in browser.find_element(By.ID, "status").text


def test_share_gives_a_link_and_an_embed_that_shows_the_same_boundaries(server, browser, artifacts):
    from selenium.webdriver.common.by import By
    browser.get_log("browser")                     # earlier tests' messages are not this test's
    open_page(browser, server)
    text = "the red house and the big dog"
    type_text(browser, text)
    browser.find_element(By.ID, "permalink").click()
    wait_for(browser, "return !document.getElementById('share').hidden")
    snippet = browser.find_element(By.ID, "embed-code").get_attribute("value")
    assert snippet.startswith(f"<iframe src=\"{server}/embed#")
    src = snippet.split('"')[1]
    browser.get(src)
    wait_for(browser, "return window.lens.rendered > 0")
    rows = plotted_rows(browser, "zgrid")
    expected = api(server, text, "toy-a")
    assert rows["layer 1"] == expected["layers"][0]["z"]
    browser.save_screenshot(str(artifacts / "embed.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors          # the content security policy blocks nothing the page needs


def draw_strokes(driver, strokes):
    """Mouse strokes on the drawing pad, offsets from its top-left corner."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    pad = driver.find_element(By.ID, "pad")
    w, h = pad.size["width"], pad.size["height"]
    for stroke in strokes:
        before = driver.execute_script("return window.lens.rendered")
        x0, y0 = stroke[0]
        chain = ActionChains(driver).move_to_element_with_offset(pad, x0 - w // 2, y0 - h // 2).click_and_hold()
        for x, y in stroke[1:]:
            chain = chain.move_to_element_with_offset(pad, x - w // 2, y - h // 2)
        chain.release().perform()
        wait_for(driver, f"return window.lens.rendered > {before}")


def test_drawing_a_word_shows_its_segmentation(server, browser, artifacts):
    from selenium.webdriver.common.by import By
    browser.get(server + "/ink")
    wait_for(browser, "return document.getElementById('model').options.length > 0")
    # "lo": an l, an o, then a connected wave, then a dot
    strokes = [[(100, 60), (105, 90), (110, 130), (115, 170), (125, 175)],
               [(160, 140), (150, 160), (160, 175), (175, 165), (170, 145), (160, 140)],
               [(200, 150), (215, 135), (230, 160), (245, 135), (260, 160), (275, 140)],
               [(300, 170), (302, 172)]]
    draw_strokes(browser, strokes)
    res = browser.execute_script("return window.lens.last")
    assert sum(res["pen_up"]) == 4 and res["points"][-1][2] == 3
    posted = [[] for _ in range(4)]
    for x, y, k in res["points"]:
        posted[k].append([x, y])
    expected = httpx.post(server + "/api/ink", json={"strokes": posted}, timeout=30).json()
    rows = plotted_rows(browser, "zgrid")
    assert rows["layer 1"] == expected["layers"][0]["z"]
    assert rows["pen-up"] == expected["pen_up"]
    names = browser.execute_script("return document.getElementById('trajectory').data.map(t => t.name)")
    assert "pen up" in names and "boundaries" in names
    # the model's view of the same ink, then undo takes the last stroke away
    from selenium.webdriver.support.ui import Select
    Select(browser.find_element(By.ID, "view")).select_by_value("model")
    first_x = browser.execute_script("return document.getElementById('trajectory').data.at(-2).x[0]")
    assert first_x == 0                                  # the model's offsets start at (0, 0)
    browser.save_screenshot(str(artifacts / "ink-page.png"))
    before = browser.execute_script("return window.lens.rendered")
    browser.find_element(By.ID, "undo").click()
    wait_for(browser, f"return window.lens.rendered > {before}")
    assert sum(browser.execute_script("return window.lens.last.pen_up")) == 3


def test_the_bundled_default_checkpoint_serves_the_page(browser, artifacts):
    """What `make run` serves: the default settings and the bundled checkpoints."""
    from selenium.webdriver.common.by import By
    with running_server() as (url, _):
        open_page(browser, url)
        assert browser.find_element(By.ID, "model").get_attribute("value") == "ptb-3x256"
        text = "the stock market rose in new york"
        type_text(browser, text)
        rows = plotted_rows(browser, "zgrid")
        expected = api(url, text, "ptb-3x256")
        assert rows["layer 1"] == expected["layers"][0]["z"] and rows["layer 2"] == expected["layers"][1]["z"]
        info = browser.find_element(By.ID, "model-info").text
        assert "BPC" in info and "word ends: layer" in info and "(tolerant" in info and "(strict; random" in info
        browser.save_screenshot(str(artifacts / "bundled-text-page.png"))


def test_redrawing_does_not_pile_up_hover_listeners(server, browser):
    open_page(browser, server)
    for text in ("the", "the cat", "the cat sat"):
        type_text(browser, text)
    counts = browser.execute_script(
        "return ['zgrid', 'soft', 'traces'].map(id => document.getElementById(id)._ev.listeners('plotly_hover').length)")
    assert counts == [1, 1, 1]
