"""Real-browser tests of a checkpoint that reads text without its spaces (DESIGN.md 8): the page
shows what the model read, the typed spaces as the gold row, the baselines beside the layers, each
layer scored line by line at its lag, and a model line that names the layer and the baselines.
With spaces, the trivial rule that fires on every space is a row too, and the model line says
what it scores. Screenshots go to $LENS_ARTIFACTS (see conftest.py)."""
import base64
import json
import time

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from model import discovery
from tests.web.pages import SETTLED, api, full_screenshot, open_page, plotted_rows, set_threshold, severe_errors, type_text, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SPACELESS_ROWS = ("surprisal peaks", "entropy peaks", "unigram pieces")


def part_screenshot(driver, first, last, path):
    """The page from the top of `first` to the bottom of `last` (CSS selectors), at full width."""
    import base64
    top, bottom = driver.execute_script("""const a = document.querySelector(arguments[0]).getBoundingClientRect(),
        b = document.querySelector(arguments[1]).getBoundingClientRect();
        return [a.top + window.scrollY, b.bottom + window.scrollY]""", first, last)
    width = driver.execute_script("return document.documentElement.clientWidth")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": {
        "x": 0, "y": top - 4, "width": width, "height": bottom - top + 8, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def reading_marks(driver):
    return driver.execute_script("""return [...document.querySelectorAll('#reading span[data-t]')].map(s =>
        s.classList.contains('m-hit') ? 'hit' : s.classList.contains('m-false') ? 'false' : s.classList.contains('m-miss') ? 'miss' : '')""")


def expected_marks(after, gold, n):
    """The spaceless scorer's hits, false alarms and misses per position (inner gaps only)."""
    inner = discovery.Lines.of("x" * n, np.asarray(gold, bool)).inner      # one line: every gap but the last
    out = []
    for t in range(n):
        a, g = bool(after[t]), bool(gold[t])
        out.append("" if not inner[t] else "hit" if a and g else "false" if a else "miss" if g else "")
    return out


def test_typing_without_spaces_shows_what_the_model_read_and_the_baselines(spaceless_server, browser, artifacts):
    open_page(browser, spaceless_server)
    assert browser.find_element(By.ID, "model").get_attribute("value") == "toy-nospace"
    mode = browser.find_element(By.ID, "reading-mode")
    assert mode.is_displayed() and "without its spaces" in mode.text and "gold row" in mode.text
    # the model line names the layer that finds words and the baselines it is measured against
    info = browser.find_element(By.ID, "model-info").text
    assert info.startswith("Layer 2 finds words without spaces: word-token F1 0.56 on the test split")
    for needed in ("0.51 for the model's own entropy peaks", "0.49 for a unigram segmenter", "0.03 for random boundaries",
                   "chosen on valid", "supervised"):
        assert needed in info, info
    # the layer it names is the one the text is coloured by
    assert Select(browser.find_element(By.ID, "layer")).first_selected_option.get_attribute("value") == "1"
    # every other model reads text with its spaces: none can be compared, and the menu says so
    compare = browser.find_element(By.ID, "compare")
    assert not compare.is_enabled() and "No other model reads text without its spaces" in compare.get_attribute("title")

    text = "thecatsatonthemat"
    type_text(browser, text)
    assert browser.execute_script("return document.getElementById('reading').textContent") == text
    assert "What the model read" in browser.find_element(By.ID, "reading-title").text
    rows = plotted_rows(browser, "zgrid")
    expected = api(spaceless_server, text, "toy-nospace")
    assert expected["spaces"] is False
    for layer in expected["layers"]:
        if layer["z"] is not None:
            assert rows[f"layer {layer['layer']}"] == layer["z"]          # the grid shows where each layer fired
    assert rows["gold word ends"] == expected["gold_word_ends"] == [0] * (len(text) - 1) + [1]
    for b in expected["baseline_rows"]:
        assert rows[b["name"]] == b["z"]
    assert set(SPACELESS_ROWS) <= set(rows) and "whitespace" not in rows
    order = browser.execute_script("return document.getElementById('zgrid').data[0].y")
    assert max(order.index(n) for n in SPACELESS_ROWS) < order.index("gold word ends") < order.index("layer 1")
    ticks = browser.execute_script("return document.getElementById('zgrid').layout.yaxis.ticktext")
    assert "layer 2 (lag 1)" in ticks
    # no spaces typed: nothing to score against, and the page says so
    scores = browser.find_element(By.ID, "scores").text
    assert "no gold" in scores and "with its spaces" in scores
    # the baselines' cuts are in the Segments view too, beneath the gold
    labels = browser.execute_script("return [...document.querySelectorAll('#segments .row b')].map(b => b.textContent)")
    assert labels == ["layer 2 (lag 1)", "layer 1", "gold", "unigram pieces", "entropy peaks", "surprisal peaks"]
    assert not severe_errors(browser)

    # only spaces: nothing left to read; the views empty as for an empty box, the page says why
    Select(browser.find_element(By.ID, "examples")).select_by_index(1)
    wait_for(browser, "return window.lens.last.a && window.lens.last.text === document.getElementById('text').value && "
                      + SETTLED)
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys("   ")
    wait_for(browser, "return !window.lens.last.a && document.getElementById('status').textContent.includes('type some letters')")
    assert browser.find_element(By.ID, "examples").get_attribute("value") == ""        # it is no longer the example
    assert browser.execute_script("return !document.getElementById('zgrid').data && document.getElementById('export-png').disabled")
    assert not browser.find_element(By.ID, "inspector").get_attribute("data-position")   # nothing left from before
    assert browser.find_element(By.ID, "scores").text == ""
    assert not severe_errors(browser)


def test_typed_spaces_are_the_gold_and_a_lag_1_layer_is_read_shifted(spaceless_server, browser, artifacts):
    open_page(browser, spaceless_server)
    text = "the cat sat on the mat and the dog ran"
    type_text(browser, text)
    read = text.replace(" ", "")
    assert browser.execute_script("return document.getElementById('reading').textContent") == read
    expected = api(spaceless_server, text, "toy-nospace")
    gold = expected["gold_word_ends"]
    assert "".join(expected["chars"]) == read
    assert np.flatnonzero(gold).tolist() == [2, 5, 8, 10, 13, 16, 19, 22, 25, 28]
    rows = plotted_rows(browser, "zgrid")
    assert rows["gold word ends"] == gold
    # layer 2 is read at lag 1 (the checkpoint's metrics say so): its boundary after t is its firing at t + 1
    z2 = expected["layers"][1]["z"]
    after = discovery.read_at_lag(np.asarray(z2), 1)
    lines = discovery.Lines.of(read, np.asarray(gold, bool))
    want = discovery.score(after, lines)["boundary"]
    assert reading_marks(browser) == expected_marks(after, gold, len(read))
    scores = browser.find_element(By.ID, "scores").text
    assert "layer 2 (read at lag 1" in scores
    assert f"finds {round(want['recall'] * 100)}% of the 9 word boundaries you typed" in scores, scores
    assert f"{round(want['precision'] * 100)}% of its {int(after[lines.inner].sum())} boundaries" in scores, scores
    assert "Baselines: surprisal peaks" in scores and "unigram pieces" in scores
    # the Segments view cuts layer 2 where it marks a boundary, not where it fired
    ends = browser.execute_script("""const row = document.querySelectorAll('#segments .row')[0];
        return [...row.querySelectorAll('.c')].map(c => [Number(c.dataset.t), c.classList.contains('end') ? 1 : 0])""")
    assert ends and all(e == int(after[t]) for t, e in ends)

    # the threshold slider re-reads every layer (and keeps the lag)
    set_threshold(browser, 0.3)
    wait_for(browser, "return document.getElementById('scores').textContent.startsWith('At threshold 0.30')")
    soft2 = expected["layers"][1]["z_soft"]
    assert plotted_rows(browser, "zgrid")["layer 2"] == [int(s > 0.3) for s in soft2]
    after = discovery.read_at_lag(np.asarray([int(s > 0.3) for s in soft2]), 1)
    assert reading_marks(browser) == expected_marks(after, gold, len(read))

    # layer 1 (lag 0) is read where it fires
    Select(browser.find_element(By.ID, "layer")).select_by_value("0")
    wait_for(browser, "return document.getElementById('reading-title').textContent.includes('layer 1')")
    z1 = [int(s > 0.3) for s in expected["layers"][0]["z_soft"]]
    assert reading_marks(browser) == expected_marks(z1, gold, len(read))
    assert "read at lag" not in browser.find_element(By.ID, "scores").text
    Select(browser.find_element(By.ID, "layer")).select_by_value("1")
    set_threshold(browser, 0.5)
    wait_for(browser, "return document.getElementById('scores').textContent.startsWith('At threshold 0.50')")
    assert "spaces you typed left out" in browser.find_element(By.ID, "status").text

    for width, height, name in ((1400, 1000, "spaceless-1400.png"), (390, 844, "spaceless-390.png")):
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
        wait_for(browser, "return document.getElementById('zgrid').layout.width === "
                          "document.getElementById('strips').clientWidth")
        time.sleep(0.3)
        wide = browser.execute_script("""return [...document.querySelectorAll('body *')].filter(e =>
            e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.id || e.className || e.tagName).slice(0, 8)""")
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), (width, wide)
        assert browser.execute_script("return document.getElementById('examples').getBoundingClientRect().right") <= width
        # the step's table fits the inspector (docked at 1400 px), with a lag-1 layer's longer label
        assert browser.execute_script("const e = document.getElementById('inspector'); e.scrollLeft = 0;"
                                      "return e.querySelector('table') && e.scrollWidth <= e.clientWidth + 1"), width
        full_screenshot(browser, artifacts / name, width, height)
        if width < 600:                       # a phone's page is long: its parts apart, to look at
            part_screenshot(browser, ".controls", ".reading-panel", artifacts / "spaceless-390-top.png")
            part_screenshot(browser, "#strips", "#strips", artifacts / "spaceless-390-strips.png")
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert not severe_errors(browser)


def sketch_letters(browser):
    """The characters under the explainer's sketch that the page shows."""
    return "".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, "#explainer figure .ch") if e.is_displayed())


def test_examples_without_spaces_and_the_whitespace_rule_with_spaces(spaceless_server, browser, artifacts):
    open_page(browser, spaceless_server)
    wait_for(browser, "return window.lens.last.a && window.lens.rendered > 0")
    options = [o.text for o in Select(browser.find_element(By.ID, "examples")).options]
    assert "No spaces: the cat" in options and "Words (its spaces become the gold)" in options
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "examples")).select_by_visible_text("No spaces: the cat")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.chars.join('') === 'thecatsatonthemat' && " + SETTLED)
    assert browser.find_element(By.ID, "text").get_attribute("value") == "thecatsatonthemat"
    assert sketch_letters(browser) == "thecatsa"                     # the explainer's sketch reads without spaces too
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "examples")).select_by_visible_text("Words (its spaces become the gold)")
    words = "the cat sat on the mat and the dog watched it from the door"
    # ("f" is not in the toy alphabet: compare lengths)
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.chars.length === {len(words.replace(' ', ''))} && " + SETTLED)
    assert sum(plotted_rows(browser, "zgrid")["gold word ends"]) == len(words.split())

    # the same text on the checkpoint that reads spaces: the whitespace rule is a row, and the model
    # line says that it finds every word
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "model")).select_by_value("toy-a")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.spaces === true")
    # with spaces the page points at the real test, a checkpoint that reads without them
    mode = browser.find_element(By.ID, "reading-mode")
    assert mode.is_displayed() and "without spaces: toy-nospace reads it that way" in mode.text, mode.text
    info = browser.find_element(By.ID, "model-info").text
    assert "a rule that fires on every space finds every word: tolerant F1 1.00" in info, info
    rows = plotted_rows(browser, "zgrid")
    expected = api(spaceless_server, words, "toy-a")
    assert rows["whitespace"] == [int(c == " ") for c in words] == expected["baseline_rows"][0]["z"]
    assert "entropy peaks" not in rows and "unigram pieces" not in rows
    assert browser.execute_script("return document.getElementById('reading').textContent") == words
    assert sketch_letters(browser) == "the␣cat␣"
    options = [o.text for o in Select(browser.find_element(By.ID, "examples")).options]
    assert "Words" in options and not any(o.startswith("No spaces") for o in options)
    assert browser.execute_script("return document.querySelectorAll('#segments .row').length") == 3
    browser.save_screenshot(str(artifacts / "spaced-whitespace-row.png"))

    # the compare menu: the model itself is not offered, and the spaceless one reads other characters
    # (it would not stack on this axis), so it is listed, says why, and cannot be chosen
    options = {o.get_attribute("value"): o for o in Select(browser.find_element(By.ID, "compare")).options}
    assert "toy-a" not in options and options["toy-b"].is_enabled() and browser.find_element(By.ID, "compare").is_enabled()
    nospace = options["toy-nospace"]
    assert not nospace.is_enabled() and "(without spaces)" in nospace.text and "without its spaces" in nospace.get_attribute("title")
    # a link that asks for it anyway compares with nothing
    state = json.loads(base64.urlsafe_b64decode(browser.execute_script("return location.hash.slice(1)") + "=="))
    link = base64.urlsafe_b64encode(json.dumps({**state, "c": "toy-nospace"}).encode()).decode().rstrip("=")
    browser.get("about:blank")
    browser.get(spaceless_server + "/#" + link)
    wait_for(browser, "return window.lens.last.a && window.lens.last.a.model === 'toy-a' && window.lens.rendered > 0")
    assert browser.find_element(By.ID, "compare").get_attribute("value") == ""
    assert not browser.execute_script("return window.lens.last.b")

    # the pointer's button switches to the spaceless checkpoint, which reads the same text without spaces
    before = browser.execute_script("return window.lens.rendered")
    browser.find_element(By.ID, "try-spaceless").click()
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.spaces === false")
    assert Select(browser.find_element(By.ID, "model")).first_selected_option.get_attribute("value") == "toy-nospace"
    assert "reads your text without its spaces" in browser.find_element(By.ID, "reading-mode").text
    assert not browser.find_elements(By.ID, "try-spaceless")
    assert not severe_errors(browser)
