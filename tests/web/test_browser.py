"""Real-browser tests: headless Debian Chromium drives the page as a person would.

A missing browser fails these tests (it is part of the install), it never skips them.
Screenshots go to $LENS_ARTIFACTS (default: the pytest temp folder) for a person to look at.
The fixtures (servers, browser) are in conftest.py, the helpers in pages.py.
"""

import base64
import json
import re

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.helpers import ROOT
from tests.web.pages import (LO, SETTLED, api, clear_text, draw_stroke, draw_strokes, open_analysed, open_page,
                             plotted_rows, reopen_from_link, set_text, set_threshold, severe_errors, type_text,
                             viewport, wait_drawn, wait_for)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
    for el in ("soft", "traces", "minimap"):
        assert browser.execute_script(f"return document.getElementById('{el}').data.length") > 0
    segs = browser.execute_script("return document.querySelectorAll('#segments .row').length")
    assert segs == 3                                    # layers 1, 2 and gold
    ticks = browser.execute_script("return [...document.querySelectorAll('#ruler span')].map(s => s.textContent)")
    assert ticks[:4] == ["t", "h", "e", "␣"]            # a visible glyph for the space
    reading = browser.execute_script("return document.getElementById('reading').textContent")
    assert reading == text                              # the text itself is the main view
    browser.save_screenshot(str(artifacts / "text-page.png"))
    assert not severe_errors(browser)


def test_typing_on_reuses_the_prefix(server, browser):
    open_page(browser, server)
    type_text(browser, "the dog saw a cat")
    before = browser.execute_script("return window.lens.rendered")
    browser.find_element(By.ID, "text").send_keys(" and")
    wait_drawn(browser, "the dog saw a cat and", before)
    assert browser.execute_script("return window.lens.last.a.reused_prefix") >= 17
    # said as far as the answer the page showed before shares it (the server's cache may hold more: a keystroke's
    # answer it dropped as stale, or another reader's text, which is not this page's to say)
    reused = browser.execute_script("return window.lens.last.a.reused_prefix")
    said = re.search(r"the first (\d+) characters reused from the last run", browser.find_element(By.ID, "status").text)
    assert said and len("the dog saw a cat") <= int(said[1]) <= reused
    # the answer held only what may have changed (from the last word's end on), and put together with
    # what the page held it is the whole answer
    held = browser.execute_script("return window.lens.last.a")
    assert held["length"] == 21 and 0 < held["sent"] <= 5
    whole = api(server, "the dog saw a cat and", "toy-a")
    assert {k: held[k] for k in ("chars", "surprisal", "gold_word_ends", "layers", "baseline_rows")} == \
           {k: whole[k] for k in ("chars", "surprisal", "gold_word_ends", "layers", "baseline_rows")}


def test_two_checkpoints_stacked_on_one_axis_with_linked_hover(server, browser, artifacts):
    open_page(browser, server)
    text = "a big red dog and a cat"
    type_text(browser, text)
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "compare")).select_by_value("toy-b")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.b && "
                      "document.querySelector('#disagree .main-svg')")
    assert "comparing" in browser.find_element(By.TAG_NAME, "body").get_attribute("class")
    rows_a, rows_b = plotted_rows(browser, "zgrid"), plotted_rows(browser, "zgrid-b")
    expected_b = api(server, text, "toy-b")
    assert rows_b["layer 1"] == expected_b["layers"][0]["z"]
    # the row that marks where the two disagree
    differs = plotted_rows(browser, "disagree")
    assert differs["layer 1 differs"] == [int(a != b) for a, b in zip(rows_a["layer 1"], rows_b["layer 1"])]
    # one column, one x axis: the plotting areas of both grids line up to the pixel
    boxes = browser.execute_script("""return ['zgrid', 'zgrid-b', 'disagree', 'soft-b', 'traces-b'].map(id => {
        const r = document.querySelector('#' + id + ' .nsewdrag').getBoundingClientRect(); return [r.left, r.width]; })""")
    assert all(abs(b[0] - boxes[0][0]) < 1 and abs(b[1] - boxes[0][1]) < 1 for b in boxes), boxes
    # hovering the first model's grid shows the step for both models and moves the one cursor
    grid = browser.find_element(By.CSS_SELECTOR, "#zgrid .nsewdrag")
    ActionChains(browser).move_to_element_with_offset(grid, 10, 0).perform()
    t = int(wait_for(browser, "const i = document.getElementById('inspector');"
                              "return i.querySelectorAll('table').length === 2 && i.dataset.position"))
    assert 0 <= t < len(text)
    cursor = browser.execute_script("""const c = document.getElementById('cursor').getBoundingClientRect();
        const g = document.querySelector('#zgrid .nsewdrag').getBoundingClientRect();
        return [document.getElementById('cursor').dataset.position, c.left + c.width / 2, g.left, g.width,
                window.lens.last.a.chars.length]""")
    pos, centre, left, width, n = cursor
    assert int(pos) == t
    cells = browser.execute_script("return window.document.getElementById('zgrid').layout.xaxis.range")
    assert abs(centre - (left + (t - cells[0]) / (cells[1] - cells[0]) * width)) < 2   # on the hovered cell
    browser.save_screenshot(str(artifacts / "text-compare.png"))


def test_permalink_restores_text_model_compare_and_threshold(server, browser):
    open_page(browser, server)
    type_text(browser, "the house")
    Select(browser.find_element(By.ID, "compare")).select_by_value("toy-b")
    set_threshold(browser, 0.3)
    reopen_from_link(browser, "return window.lens.last.a && window.lens.last.a.chars.length === 9 && window.lens.last.b")
    assert browser.find_element(By.ID, "text").get_attribute("value") == "the house"
    assert browser.find_element(By.ID, "threshold").get_attribute("value") == "0.3"
    assert browser.find_element(By.ID, "model").get_attribute("value") == "toy-a"
    assert browser.find_element(By.ID, "compare").get_attribute("value") == "toy-b"
    # a fresh page built on nothing: the server's cache is not the reader's business
    assert "reused" not in browser.find_element(By.ID, "status").text
    assert "toy-b: layer 1: recall" in browser.find_element(By.ID, "scores").text     # the comparison has numbers
    before = browser.execute_script("return window.lens.rendered")
    browser.find_element(By.ID, "text").send_keys(" is red")
    wait_drawn(browser, "the house is red", before)
    assert "(reused from the last run: toy-a: the first" in browser.find_element(By.ID, "status").text
    assert re.search(r", toy-b: the first \d+ characters\)", browser.find_element(By.ID, "status").text)


def test_a_link_edited_by_hand_opens_on_what_it_can_read_and_says_what_it_could_not(server, browser):
    """A threshold that is not a number in [0, 1], a layer that is not a count: left out, the page keeps its
    own, analyses the text and says which parts of the link it could not use."""
    def open_link(page, state):                          # from elsewhere: a new fragment alone reloads nothing
        browser.get("about:blank")
        browser.get(server + page + "#" + base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("="))
    open_link("/", {"t": "the house", "th": "abc", "l": -1})
    wait_for(browser, "return window.lens.last.a && window.lens.last.a.chars.length === 9 && window.lens.rendered > 0")
    assert browser.find_element(By.ID, "threshold").get_attribute("value") == "0.5"
    assert browser.find_element(By.ID, "threshold-value").text == "0.50"
    assert "At threshold 0.50" in browser.find_element(By.ID, "scores").text
    assert "Part of the link could not be used (threshold, layer)" in browser.find_element(By.ID, "status").text
    open_link("/ink", {"th": 5, "v": "zzz", "s": [[100, 60, 5, 30, 5, 40]]})
    wait_for(browser, "return window.lens.last && window.lens.last.points && window.lens.last.points.length === 3")
    assert browser.find_element(By.ID, "threshold-value").text == "0.50"
    assert browser.find_element(By.ID, "view").get_attribute("value") == "raw"
    assert "Part of the link could not be used (threshold, view)" in browser.find_element(By.ID, "status").text
    # names this server does not hold, layers the model does not have (toy-a's layer 3 has no detector)
    open_link("/", {"t": "the house", "m": "nosuch", "c": "nosuch", "l": 2})
    wait_for(browser, "return window.lens.last.a && window.lens.last.a.chars.length === 9 && window.lens.rendered > 0")
    assert browser.find_element(By.ID, "model").get_attribute("value") == "toy-a"
    assert "Part of the link could not be used (model “nosuch”, compare “nosuch”, layer 3), so those take the " \
           "page's default." in browser.find_element(By.ID, "status").text
    assert "error" not in browser.find_element(By.ID, "status").get_attribute("class")   # a note, not a failure
    # a window or a step past the text's end, and a text that is not one: named, and the example instead
    open_link("/", {"t": "the house", "w": [500, 50], "i": 400})
    wait_for(browser, "return window.lens.last.a && window.lens.last.a.chars.length === 9 && window.lens.rendered > 0")
    assert re.search(r"^9 characters read · \d+ ms · Part of the link could not be used \(window, step\), so those take "
                     r"the page's default\.$", browser.find_element(By.ID, "status").text)
    open_link("/", {"t": 123})
    wait_for(browser, "return window.lens.last.a && window.lens.rendered > 0")
    assert browser.find_element(By.ID, "text").get_attribute("value") and "(text)" in browser.find_element(By.ID, "status").text
    open_link("/ink", {"m": "toy-a", "c": "nosuch", "l": 1, "s": [[100, 60, 5, 30, 5, 40]]})
    wait_for(browser, "return window.lens.last && window.lens.last.points && window.lens.last.points.length === 3")
    assert browser.find_element(By.ID, "model").get_attribute("value") == "toy-ink"
    assert "(model “toy-a”, compare “nosuch”, layer 2)" in browser.find_element(By.ID, "status").text
    for page, ready in (("/", "window.lens.last.a && window.lens.rendered > 0"),
                        ("/ink", "window.lens.last && window.lens.last.points && window.lens.rendered > 0")):
        browser.get("about:blank")
        browser.get(server + page + "#bm90IGpzb24")      # base64, but not of JSON: the opening example instead
        wait_for(browser, "return " + ready)
        assert "The link could not be read, so the page opened afresh." in browser.find_element(By.ID, "status").text
    assert not severe_errors(browser)


def test_a_link_restores_the_detail_window_and_the_inspected_step(server, browser):
    open_page(browser, server)
    text = " ".join(["the house by the river"] * 30)                        # 689 characters
    set_text(browser, text)
    width = browser.find_element(By.ID, "window-width")
    browser.execute_script("arguments[0].value = '50'; arguments[0].dispatchEvent(new Event('change'))", width)
    browser.execute_script("window.lens.strips.moveTo(200)")                 # as the overview's brush does
    wait_for(browser, "return window.lens.strips.viewport.window().a === 200 && " + SETTLED)
    browser.find_element(By.CSS_SELECTOR, '#reading span[data-t="230"]').click()     # centres the window on it
    wait_for(browser, "return document.getElementById('inspector').dataset.position === '230' && " + SETTLED)
    shared = browser.execute_script("return window.lens.strips.viewport.window()")
    assert shared == {"a": 205, "b": 255}
    browser.find_element(By.ID, "permalink").click()
    link = browser.find_element(By.ID, "share-link").get_attribute("value")
    browser.get("about:blank")
    browser.get(link)
    wait_for(browser, "return window.lens.last.a && window.lens.rendered > 0 && " + SETTLED)
    assert browser.execute_script("return window.lens.strips.viewport.window()") == shared
    assert browser.find_element(By.ID, "window-width").get_attribute("value") == "50"
    assert browser.find_element(By.ID, "inspector").get_attribute("data-position") == "230"
    assert browser.find_element(By.ID, "cursor").get_attribute("data-position") == "230"


def test_threshold_slider_resegments_everything(server, browser):
    open_page(browser, server)
    text = "the cat sat on a mat"
    type_text(browser, text)
    scores = browser.find_element(By.ID, "scores").text
    set_threshold(browser, 0.2)
    res = browser.execute_script("return window.lens.last.a")
    detectors = [l for l in res["layers"] if l["z_soft"] is not None]
    # the cells the threshold flips are marked ...
    plotted = browser.execute_script(
        "return document.getElementById('soft').data.filter(t => t.name.startsWith('flips')).map(t => t.x)")
    expected = [[i for i, (s, z) in enumerate(zip(l["z_soft"], l["z"])) if (s > 0.2) != (z == 1)] for l in detectors]
    assert plotted == expected
    assert sum(map(len, expected)) > 0                  # a threshold of 0.2 flips something
    # ... and the grid, the segments and the text follow z = z~ > threshold
    rows = plotted_rows(browser, "zgrid")
    for l in detectors:
        assert rows[f"layer {l['layer']}"] == [int(s > 0.2) for s in l["z_soft"]]
    ends = browser.execute_script(
        "return [...document.querySelectorAll('#segments .row')][0].querySelectorAll('.end').length")
    assert ends == sum(s > 0.2 for s in detectors[-1]["z_soft"])       # the top row is the top detector
    assert browser.find_element(By.ID, "scores").text != scores
    assert "At threshold 0.20" in browser.find_element(By.ID, "scores").text


def test_an_error_is_shown_not_thrown(server, browser):
    open_page(browser, server)
    browser.execute_script("document.getElementById('model').add(new Option('ghost', 'ghost'));")
    Select(browser.find_element(By.ID, "model")).select_by_value("ghost")
    browser.find_element(By.ID, "text").send_keys("the cat")
    wait_for(browser, "return document.getElementById('status').classList.contains('error')")
    assert browser.find_element(By.ID, "status").text.startswith("Unknown model 'ghost'; the text checkpoints here: toy-a")   # as a sentence


# the embed snippet, once the page has measured the embed's height
SNIPPET = "const v = document.getElementById('embed-code').value; return v.startsWith('<iframe') && v"


def test_share_gives_a_link_and_an_embed_that_shows_the_same_boundaries(server, browser, artifacts):
    browser.get_log("browser")                     # earlier tests' messages are not this test's
    open_page(browser, server)
    text = "the red house and the big dog"
    type_text(browser, text)
    browser.find_element(By.ID, "permalink").click()
    wait_for(browser, "return !document.getElementById('share').hidden")
    snippet = wait_for(browser, SNIPPET)
    assert snippet.startswith(f"<iframe src=\"{server}/embed#")
    src, height_of_one = snippet.split('"')[1], int(re.search(r'height="(\d+)"', snippet).group(1))
    browser.get(src)
    wait_for(browser, "return window.lens.rendered > 0 && document.querySelector('#zgrid .main-svg') && " + SETTLED)
    rows = plotted_rows(browser, "zgrid")
    expected = api(server, text, "toy-a")
    assert rows["layer 1"] == expected["layers"][0]["z"]
    assert browser.execute_script("return document.querySelectorAll('#segments .row').length") == 3
    assert "at threshold 0.50" in browser.find_element(By.ID, "embed-key").text
    assert not browser.find_element(By.ID, "zgrid-b").is_displayed()
    # a shared text is whole: its cells fill the frame (the page leaves room to type into), and no grid line
    # runs on past them
    assert browser.execute_script("return window.lens.strips.viewport.window().b") == len(text)
    assert browser.execute_script("return document.querySelectorAll('#zgrid .ygrid, #zgrid .xgrid').length") == 0
    browser.save_screenshot(str(artifacts / "embed.png"))
    errors = severe_errors(browser)
    assert not errors, errors          # the content security policy blocks nothing the page needs
    # a link that compares two models at another threshold: the embed draws both, and says at what threshold
    browser.get("about:blank")
    open_page(browser, server)
    type_text(browser, text)
    Select(browser.find_element(By.ID, "compare")).select_by_value("toy-b")
    set_threshold(browser, 0.3)
    browser.find_element(By.ID, "permalink").click()
    snippet = wait_for(browser, SNIPPET)
    assert int(re.search(r'height="(\d+)"', snippet).group(1)) > height_of_one         # room for the second grid
    src = snippet.split('"')[1]
    browser.get("about:blank")
    browser.get(src)
    wait_for(browser, "return window.lens.rendered > 0 && document.querySelector('#zgrid-b .main-svg') && " + SETTLED)
    at = lambda z_soft: [int(v > 0.3) for v in z_soft]                          # noqa: E731
    assert plotted_rows(browser, "zgrid-b")["layer 1"] == at(api(server, text, "toy-b")["layers"][0]["z_soft"])
    assert browser.find_element(By.ID, "disagree").is_displayed()
    assert "at threshold 0.30" in browser.find_element(By.ID, "embed-key").text
    assert browser.find_element(By.ID, "status").text.startswith("toy-a and toy-b: “the red house")


def test_the_embed_snippet_fits_its_embed_which_opens_on_the_shared_window_with_what_was_typed(server, browser):
    """The snippet's height is the embed's own at its width (a long text compared across two models needs
    more than a short one); the embed opens on the link's detail window and shows a character the model
    does not know as it was typed, as the page does."""
    open_analysed(browser, server)
    set_text(browser, " ".join(["the cat, the dog; and the red house"] * 40))   # the toy models know no , or ;
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "compare")).select_by_value("toy-b")
    wait_for(browser, f"return window.lens.last.b && window.lens.rendered > {before} && " + SETTLED)
    browser.execute_script("window.lens.strips.moveTo(100)")
    wait_for(browser, "return window.lens.strips.viewport.window().a === 100 && " + SETTLED)
    browser.find_element(By.ID, "permalink").click()
    snippet = wait_for(browser, SNIPPET)
    src, height = snippet.split('"')[1], int(re.search(r'height="(\d+)"', snippet).group(1))
    browser.get("about:blank")
    with viewport(browser, 900, height):
        browser.get(src)
        wait_for(browser, "return window.lens.rendered > 0 && document.querySelector('#zgrid-b .main-svg') && " + SETTLED)
        inner, bottom = browser.execute_script("return [[document.documentElement.scrollHeight, window.innerHeight], "
                                               "document.getElementById('open').getBoundingClientRect().bottom]")
        assert inner[0] <= inner[1] and height - bottom < 40, (inner, bottom)   # no scrolling inside, no waste
        assert browser.execute_script("return window.lens.strips.viewport.window().a") == 100
        shown = browser.find_element(By.ID, "segments").text
        assert "," in shown and ";" in shown and "\ufffd" not in shown


def assert_flat_layers_called_out(browser):
    """The warning beside the ink plots names exactly the layers whose z~ hardly moves on this ink."""
    warning = browser.find_element(By.ID, "ink-warning").text
    for layer in browser.execute_script("return window.lens.last.layers"):
        z = layer["z_soft"]
        if not z:                                        # the top layer has no boundary detector
            continue
        mean = sum(z) / len(z)
        sd = (sum((v - mean) ** 2 for v in z) / len(z)) ** 0.5
        named = re.search(rf"Layer {layer['layer']}'s z~ stays at ([\d.]+) ± ([\d.]+) on this ink: it hardly moves",
                          warning)
        assert bool(named) == (sd < 0.06), (layer["layer"], sd, warning)
        if named:
            assert abs(float(named[1]) - mean) < 0.006 and abs(float(named[2]) - sd) < 0.006


def test_drawing_a_word_shows_its_segmentation(server, browser, artifacts):
    browser.get(server + "/ink")
    wait_for(browser, "return document.getElementById('model').options.length > 0")
    draw_strokes(browser, LO)
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
    # the example the page opened on was cleared (its plot purged, listeners and all): hovering still picks
    assert browser.execute_script("return document.getElementById('trajectory')._ev.listeners('plotly_hover').length") == 1
    assert_flat_layers_called_out(browser)
    # the pad itself takes the segments' colours
    colours = browser.execute_script("""const c = document.getElementById('pad'), g = c.getContext('2d');
        const d = g.getImageData(0, 0, c.width, c.height).data, seen = new Set();
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200) seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
        return seen.size""")
    assert colours >= 2
    # the model's view of the same ink, then undo takes the last stroke away
    note = lambda: browser.find_element(By.ID, "trajectory-note").text
    assert "scaled" not in note()                        # the ink as drawn is not rescaled
    Select(browser.find_element(By.ID, "view")).select_by_value("model")
    xs = browser.execute_script("return document.getElementById('trajectory').data.at(-2).x")
    assert xs[0] == 0                                    # the model's offsets start at (0, 0) ...
    assert xs[-1] > 3                                    # ... and the line still drifts left to right
    # ... and the page says why an added or undone stroke moves the values of the others
    assert "the whole ink is scaled" in note() and "rescales the others" in note()
    browser.save_screenshot(str(artifacts / "ink-page.png"))
    before = browser.execute_script("return window.lens.rendered")
    browser.find_element(By.ID, "undo").click()
    wait_for(browser, f"return window.lens.rendered > {before}")
    assert sum(browser.execute_script("return window.lens.last.pen_up")) == 3
    # the link brings the strokes back, analysed
    reopen_from_link(browser, "return window.lens.last && window.lens.last.pen_up && "
                              "window.lens.last.pen_up.reduce((a, b) => a + b, 0) === 3")
    assert browser.find_element(By.ID, "view").get_attribute("value") == "model"
    # Clear leaves nothing behind: no ink, no views, nothing to export or share
    browser.find_element(By.ID, "permalink").click()
    assert browser.find_element(By.ID, "share").is_displayed()
    browser.find_element(By.ID, "clear").click()
    wait_for(browser, "return window.lens.last === null")
    blank = browser.execute_script("""const c = document.getElementById('pad'), d = c.getContext('2d')
        .getImageData(0, 0, c.width, c.height).data; return d.every(v => v === 0)""")
    assert blank
    assert browser.execute_script("return !document.getElementById('zgrid').data && "
                                  "!document.getElementById('trajectory').data && document.getElementById('export-png').disabled")
    assert not any(browser.find_element(By.ID, b).is_enabled() for b in ("clear", "permalink"))
    assert not browser.find_element(By.ID, "share").is_displayed()                       # no stale link
    assert not browser.find_element(By.CSS_SELECTOR, ".ink-workspace").is_displayed()     # no empty panels
    # ... but one click of Clear loses nothing: Undo brings the ink back, analysed
    browser.find_element(By.ID, "undo").click()
    wait_for(browser, "return window.lens.last && window.lens.last.pen_up && "
                      "window.lens.last.pen_up.reduce((a, b) => a + b, 0) === 3")
    browser.find_element(By.ID, "clear").click()
    wait_for(browser, "return window.lens.last === null")
    draw_stroke(browser, [(100, 60), (140, 90), (180, 70)], pen_ups=1)                   # they come back drawn
    assert browser.find_element(By.CSS_SELECTOR, ".ink-workspace").is_displayed()
    assert browser.find_element(By.ID, "permalink").is_enabled()
    assert browser.execute_script("return document.getElementById('trajectory').layout.width") == \
        browser.execute_script("return document.getElementById('trajectory-area').clientWidth")


def test_the_bundled_default_checkpoint_explains_itself(bundled, browser, artifacts):
    """What `make run` serves: the page opens on an analysed example, says in one plain sentence
    which layer marks words, names the layers, and says what the model cannot read."""
    open_analysed(browser, bundled)
    assert browser.find_element(By.ID, "model").get_attribute("value") == "ptb-3x256"
    assert browser.find_element(By.ID, "text").get_attribute("value")          # the example
    info = browser.find_element(By.ID, "model-info").text
    tolerant = json.loads((ROOT / "checkpoints" / "ptb-3x256" / "config.json").read_text())[
        "metrics"]["test"]["layers"][1]["word_boundary_tolerant"]           # what model.evaluate recorded
    assert info.startswith(f"Layer 2 marks word ends: it fires on {100 * tolerant['recall']:.0f}% of them, and "
                           f"{100 * tolerant['precision']:.0f}% of its firings are word ends."), info
    assert "a rule that fires on every space finds every word" in info      # what a with-spaces score is worth
    assert "layer 2 (word detector)" in [o.text for o in Select(browser.find_element(By.ID, "layer")).options]
    assert browser.execute_script("return document.getElementById('zgrid').layout.yaxis.ticktext").count(
        "layer 2 (words)") == 1
    explainer = browser.find_element(By.ID, "explainer")
    assert explainer.get_attribute("open") is not None
    words = explainer.text
    for needed in ("z~", "UPDATE", "COPY", "FLUSH", "space"):
        assert needed in words
    assert explainer.find_elements(By.CSS_SELECTOR, "svg rect")             # the drawing
    text = "New York, 1,250 shares rose"
    clear_text(browser)
    browser.find_element(By.ID, "text").send_keys(text)
    wait_for(browser, "return window.lens.last.a && window.lens.last.a.source_spans.at(-1)[1] === 27 && " + SETTLED)
    note = browser.find_element(By.ID, "reading-note").text
    assert "capitals" in note and "“N”" in note and "as N" in note and "“,”" in note
    rows = plotted_rows(browser, "zgrid")
    expected = api(bundled, text, "ptb-3x256")
    assert rows["layer 1"] == expected["layers"][0]["z"] and rows["layer 2"] == expected["layers"][1]["z"]
    browser.save_screenshot(str(artifacts / "bundled-text-page.png"))
    # the ink page says what its checkpoint measured, and which layer is no better than random
    browser.get(bundled + "/ink")
    wait_for(browser, "return document.querySelectorAll('#model-figures p').length > 1")
    metrics = browser.execute_script("return document.getElementById('model-figures').textContent")
    recorded = json.loads((ROOT / "checkpoints" / "iam-3x128" / "config.json").read_text())["metrics"]["valid"]
    assert f"{recorded['loglik_per_sequence']:.1f} nats" in metrics and "graves2013" in metrics
    assert "Layer 2 is about as good as random" in metrics and "fire at every pen-up" in metrics
    undecided = round(100 * recorded["layers"][0]["undecided"])
    assert f"undecided (within 0.05 of 0.5) on {undecided}% of the validation points: a decided detector" in metrics
    # and on ink, a layer whose z~ hardly moves is called out next to its plots
    browser.find_element(By.ID, "example").click()
    wait_for(browser, "return window.lens.last && window.lens.last.layers && document.querySelector('#soft .main-svg') && " + SETTLED)
    assert_flat_layers_called_out(browser)
    browser.save_screenshot(str(artifacts / "bundled-ink-page.png"))


def test_the_bundled_spaceless_checkpoint_finds_words_in_text_typed_without_spaces(bundled, browser, artifacts):
    """The bundled ptb-nospace-3x256, reached from the default page's pointer: its model line gives its
    recorded test figures, and the segments of its word layer are the API's z read at the recorded lag."""
    import json
    from pathlib import Path

    import numpy as np

    from model import discovery
    test = json.loads((Path(__file__).parents[2] / "checkpoints" / "ptb-nospace-3x256" / "config.json")
                      .read_text())["metrics"]["test"]
    word = max(test["layers"], key=lambda l: l["token"]["f1"])
    open_analysed(browser, bundled)
    before = browser.execute_script("return window.lens.rendered")
    browser.find_element(By.ID, "try-spaceless").click()
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.spaces === false")
    info = browser.find_element(By.ID, "model-info").text
    assert info.startswith(f"Layer {word['layer']} finds words without spaces: word-token F1 "
                           f"{word['token']['f1']:.2f} on the test split"), info
    assert f"{test['baselines']['entropy']['token']['f1']:.2f} for the model's own entropy peaks" in info
    text = "thecatsatonthemat"
    clear_text(browser)
    browser.find_element(By.ID, "text").send_keys(text)
    wait_for(browser, "return window.lens.last.a && window.lens.last.a.chars.join('') === arguments[0] && " + SETTLED,
             30, text)
    z = np.asarray(api(bundled, text, "ptb-nospace-3x256")["layers"][word["layer"] - 1]["z"])
    cut = discovery.read_at_lag(z, word["lag"])
    row = browser.execute_script("""return [...document.querySelectorAll('#segments .row')[0].querySelectorAll('.c')]
        .map(c => [Number(c.dataset.t), c.classList.contains('end') ? 1 : 0])""")
    assert row and all(e == int(cut[t]) for t, e in row)
    browser.save_screenshot(str(artifacts / "bundled-spaceless.png"))
    assert not severe_errors(browser)


def test_redrawing_does_not_pile_up_listeners(server, browser):
    open_page(browser, server)
    for text in ("the", "the cat", "the cat sat"):
        type_text(browser, text)
    counts = "return ['zgrid', 'soft', 'traces'].map(id => document.getElementById(id)._ev.listeners('plotly_relayout').length)"
    assert browser.execute_script(counts) == [1, 1, 1]
    clear_text(browser)                      # the strips are purged, their listeners with them: zoom stays linked
    type_text(browser, "the dog")
    assert browser.execute_script(counts) == [1, 1, 1]


def test_an_unreadable_character_does_not_flatten_the_surprisal_strip(bundled, browser):
    open_page(browser, bundled)
    text = "the cat, sat on the mat"                          # Penn Treebank's characters have no comma
    type_text(browser, text)
    res = browser.execute_script("return window.lens.last.a")
    comma = text.index(",")
    assert res["unknown"][comma]
    readable = max(s for s, unk in zip(res["surprisal"], res["unknown"]) if s is not None and not unk)
    assert res["surprisal"][comma] > readable
    top = browser.execute_script("return document.getElementById('traces').layout.yaxis.range[1]")
    assert readable <= top < res["surprisal"][comma]          # the axis is the readable characters'
    off = browser.execute_script(
        "return document.getElementById('traces').data.filter(t => t.name.startsWith('off scale')).map(t => t.x)")
    assert off == [[comma]]                                    # and the comma is marked off scale


def test_a_character_beyond_the_first_plane_shifts_nothing_after_it(bundled, browser):
    """The server counts an emoji as one character, a JavaScript string as two: every character after it
    is still read where it was typed, and the emoji is named once, as unknown."""
    open_analysed(browser, bundled)
    text = "hi \U0001F600 the cat sat on the mat"
    set_text(browser, text)
    pieces = browser.execute_script("return [...document.querySelectorAll('#reading span')].map(s => s.textContent)")
    assert "".join(pieces) == text and "\U0001F600" in pieces
    note = browser.find_element(By.ID, "reading-note").text
    assert note == "The model does not know “\U0001F600” (shown in red).", note
    assert browser.execute_script("return [...document.querySelectorAll('#segments .row')[0].querySelectorAll('.unk')]"
                                  ".map(c => c.textContent)") == ["\U0001F600"]
    res = browser.execute_script("return window.lens.last.a")
    emoji = text.index("\U0001F600")                          # in code points, as the server counts
    assert res["unknown"][emoji] and res["source_spans"][emoji + 1] == [emoji + 1, emoji + 2]
    browser.find_element(By.CSS_SELECTOR, f'#reading span[data-t="{emoji + 2}"]').click()    # the "t" of "the"
    heading = browser.find_element(By.CSS_SELECTOR, "#inspector .what").text
    assert heading.startswith(f"character {emoji + 3}: “t”") and "typed" not in heading, heading   # from 1
