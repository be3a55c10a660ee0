"""Real-browser tests of what a person who does not use a mouse, or does not see the screen as drawn,
meets: what a screen reader is told (and not told on every keystroke), forced colours, a paste past
the box's limit, a link opened in the same tab, where the focus goes, and small ink."""
import base64
import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.web.pages import (SETTLED, draw_strokes, open_analysed, open_page, set_text, severe_errors, type_text,
                             viewport, wait_for)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SPOKEN = "document.getElementById('announce').textContent"          # what a screen reader was last told


def test_a_screen_reader_hears_a_settled_line_not_every_keystroke(server, browser):
    open_analysed(browser, server)
    # the busy views are not live regions: a table read on every keystroke and every hover is noise
    for el in ("status", "inspector", "busy"):
        assert browser.find_element(By.ID, el).get_attribute("aria-live") is None
        assert browser.find_element(By.ID, el).get_attribute("role") not in ("status", "alert")
    wait_for(browser, "return " + SPOKEN)              # the example's line, said once it settled
    browser.execute_script("""window.heard = []; new MutationObserver(() => window.heard.push(
        document.getElementById('announce').textContent)).observe(document.getElementById('announce'),
        {childList: true, characterData: true, subtree: true});""")
    type_text(browser, "the dog ran home")
    line = wait_for(browser, "return window.heard.length && " + SPOKEN)
    assert line.startswith("16 characters read") and " ms" not in line      # no timings read out
    assert browser.execute_script("return window.heard.length") == 1         # once, after the typing settled
    # the keys on the strips: the step in words
    strips = browser.find_element(By.ID, "strips")
    assert "arrow keys" in browser.find_element(By.ID, strips.get_attribute("aria-describedby")).get_attribute("textContent")
    strips.send_keys(Keys.HOME)                        # the window's first step: the text's, so short a text
    wait_for(browser, f"return {SPOKEN}.startsWith('character 1, t:')")       # counted from 1, as a person counts
    strips.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    said = wait_for(browser, f"const s = {SPOKEN}; return s.startsWith('character 4, space') && s")
    z = browser.execute_script("return window.lens.last.a.layers.map(l => l.z && l.z[3])")
    firing = [f"layer {i + 1}" for i, v in enumerate(z) if v]
    assert said == "character 4, space: " + (f"{' and '.join(firing)} fire{'s' if len(firing) == 1 else ''}"
                                                           if firing else "no layer fires")
    strips.send_keys(Keys.ARROW_LEFT)                  # the last letter of "the"
    wait_for(browser, f"return {SPOKEN}.startsWith('character 3, e, a word ends: ')")
    # each strip is a picture with its name, its inner shapes hidden
    assert browser.execute_script("const z = document.getElementById('zgrid');"
                                  "return z.getAttribute('role') === 'img' && z.getAttribute('aria-label')") \
        == "Boundaries z per layer"
    # an error is said at once, as an alert
    browser.execute_script("window.fetchBefore = window.fetch; window.fetch = () => Promise.resolve("
                           "new Response(JSON.stringify({detail: 'the server is resting'}), {status: 503}));")
    browser.find_element(By.ID, "text").send_keys(" now")
    wait_for(browser, "return document.getElementById('alert').textContent === 'The server is resting.'")
    browser.execute_script("window.fetch = window.fetchBefore")


def test_forced_colours_keep_the_segments_marks_and_charts(server, browser):
    features = [{"name": "forced-colors", "value": "active"}, {"name": "prefers-color-scheme", "value": "dark"}]
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})
    try:
        open_analysed(browser, server)
        style = browser.execute_script("""const css = (q, p) => getComputedStyle(document.querySelector(q))[p];
            return {forced: matchMedia('(forced-colors: active)').matches,
                    segment: css('#reading .s1', 'backgroundColor'), hit: css('#reading .m-hit', 'boxShadow'),
                    text: css('#reading', 'color'), grid: css('#zgrid', 'backgroundColor'),
                    op: css('.op-key.op-F', 'backgroundColor'), end: css('#segments .end', 'boxShadow')}""")
        assert style["forced"]
        assert style["segment"] == "rgb(253, 241, 226)"                  # a segment's own colour, not the theme's
        assert "inset" in style["hit"] and "inset" in style["end"]      # the marks drawn as before
        assert style["text"] == "rgb(29, 35, 48)" and style["grid"] == "rgb(255, 255, 255)"   # dark on white
        assert style["op"] == "rgb(192, 57, 43)"
        browser.get(server + "/ink")
        wait_for(browser, "return window.lens.last && window.lens.last.points && window.lens.rendered > 0")
        assert browser.execute_script("return getComputedStyle(document.getElementById('pad')).backgroundColor") \
            == "rgb(255, 255, 255)"                                       # the ink stays dark on a white pad
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_a_paste_past_the_limit_says_what_was_left_out(server, browser):
    open_analysed(browser, server)
    limit = int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-max-chars"))
    box = browser.find_element(By.ID, "text")
    box.send_keys(Keys.CONTROL, "a")
    before = browser.execute_script("return window.lens.rendered")
    browser.execute_cdp_cmd("Input.insertText", {"text": "ab cd " * ((limit + 600) // 6)})
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.text.length === {limit} && " + SETTLED, 60)
    over = (limit + 600) // 6 * 6 - limit
    assert f"The box holds {limit} characters, so the last {over} of what you put in were left out" \
        in browser.find_element(By.ID, "status").text
    # a box already full takes nothing, and says so at once
    box.send_keys(Keys.END)
    browser.execute_cdp_cmd("Input.insertText", {"text": "more"})
    wait_for(browser, "return document.getElementById('status').textContent.startsWith('Nothing was added')")


def test_a_link_opened_in_the_same_tab_opens_on_the_link(server, browser):
    open_analysed(browser, server)
    state = {"t": "a shared sentence", "m": "toy-a"}
    fragment = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    browser.execute_script("location.href = location.pathname + '#' + arguments[0]", fragment)
    wait_for(browser, "return window.lens.last.a && window.lens.last.text === 'a shared sentence' && " + SETTLED)
    assert browser.find_element(By.ID, "text").get_attribute("value") == "a shared sentence"


def test_focus_stays_near_a_button_that_disables_itself(server, bundled, browser):
    open_page(browser, bundled)
    button = wait_for(browser, "return document.querySelector('#try-spaceless')")
    button.send_keys(Keys.ENTER)
    assert browser.execute_script("return document.activeElement.id") == "model"
    browser.get(server + "/ink")
    wait_for(browser, "return window.lens.last && window.lens.last.points && window.lens.rendered > 0")
    browser.find_element(By.ID, "clear").send_keys(Keys.ENTER)
    wait_for(browser, "return window.lens.last === null")
    assert browser.execute_script("return document.activeElement.id") == "example"


def test_the_ink_summary_folded_on_a_phone_opens_from_the_keyboard(server, browser):
    with viewport(browser, 390, 844, touch=True):
        browser.get(server + "/ink")
        wait_for(browser, "return window.lens.last && window.lens.last.points && window.lens.rendered > 0")
        info = browser.find_element(By.ID, "model-info")
        assert info.get_attribute("role") == "button" and info.get_attribute("aria-expanded") == "false"
        info.send_keys(Keys.ENTER)
        assert info.get_attribute("aria-expanded") == "true" and "open" in info.get_attribute("class")
    browser.get(server + "/ink")                       # on a wide screen it is a paragraph, nothing to press
    wait_for(browser, "return window.lens.last && window.lens.last.points && window.lens.rendered > 0")
    assert browser.find_element(By.ID, "model-info").get_attribute("role") is None


def test_a_dot_of_ink_is_shown_at_a_readable_scale(server, browser):
    browser.get(server + "/ink")
    wait_for(browser, "return window.lens.last && window.lens.last.points && window.lens.rendered > 0")
    draw_strokes(browser, [[(300, 100), (301, 101)]])
    wait_for(browser, "return document.getElementById('status').textContent.startsWith('2 points in 1 stroke')")
    span = browser.execute_script("const a = document.getElementById('trajectory')._fullLayout.yaxis.range;"
                                  "return Math.abs(a[0] - a[1])")
    assert span >= 99                                  # not a pixel blown up to the plot's height
    assert browser.execute_script("const a = document.getElementById('fig-penup')._fullLayout.xaxis.range;"
                                  "return Math.abs(a[0] - a[1])") >= 99       # nor in Figure 5's panels
    browser.find_element(By.ID, "undo").click()
    wait_for(browser, "return window.lens.last === null")
    assert not severe_errors(browser)


def test_an_invisible_character_is_named_by_its_code_point(server, browser):
    open_analysed(browser, server)
    set_text(browser, "a\u200db c")
    note = browser.find_element(By.ID, "reading-note").text
    assert "U+200D" in note and "“\u200d”" not in note
