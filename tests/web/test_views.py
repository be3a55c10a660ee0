"""Real-browser tests of what the issue "the pages as an explainer that holds up" asked for:
long texts, linked zoom, resizing, phones, stale answers, a busy sign, one-file export."""
import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.interaction import POINTER_TOUCH
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.web.pages import (SETTLED, clear_text, full_screenshot, open_analysed, resize_screen, set_text,
                             severe_errors, text_of, viewport, wait_for)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# the strips' windows: every Plotly strip shows the same x range
RANGES = "return ['zgrid', 'soft', 'traces'].map(id => document.getElementById(id).layout.xaxis.range)"

# red pixels per row band of the z grid's heatmap image: the cells that were actually drawn
DRAWN_CELLS = """
const done = arguments[arguments.length - 1];
const el = document.getElementById('zgrid'), img = el.querySelector('.hm image');
const rows = el.data[0].y.length, im = new Image();
im.onload = () => {
  const c = document.createElement('canvas'); c.width = im.width; c.height = im.height;
  const g = c.getContext('2d'); g.drawImage(im, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data, out = new Array(rows).fill(0);
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const i = 4 * (y * c.width + x);
    if (d[i] > 150 && d[i + 1] < 90 && d[i + 2] < 90) out[rows - 1 - Math.floor(y * rows / c.height)] += 1;
  }
  done({ names: el.data[0].y, red: out, width: c.width });
};
im.src = img.getAttribute('href') || img.getAttribute('xlink:href');
"""


def test_a_long_text_draws_a_readable_detail_window_and_zoom_is_linked(server, browser, artifacts):
    open_analysed(browser, server)
    text = text_of(1500, seed=3)
    set_text(browser, text)
    browser.find_element(By.ID, "text").send_keys(" the")            # a real keystroke at the end
    wait_for(browser, "return window.lens.last.a.chars.length === 1504 && " + SETTLED)
    res = browser.execute_script("return window.lens.last.a")
    a, b = browser.execute_script("return document.getElementById('zgrid').layout.xaxis.range")
    lo, hi = round(a + 0.5), round(b + 0.5)
    assert 90 <= hi - lo <= 160 and hi == 1504                       # a detail window that follows the end
    # every layer's row has drawn cells in the window: as many red runs as it fires, none lost to gaps
    drawn = browser.execute_async_script(DRAWN_CELLS)
    plotted = browser.execute_script("return document.getElementById('zgrid').data[0]")
    x0 = plotted["x"][0]
    for name, red in zip(drawn["names"], drawn["red"]):
        row = plotted["z"][plotted["y"].index(name)]
        fired = sum(row[lo - x0:hi - x0])
        assert fired > 0 and red > fired, (name, red, fired)
    layer1 = next(l for l in res["layers"] if l["layer"] == 1)["z"]
    assert plotted["z"][plotted["y"].index("layer 1")][lo - x0:hi - x0] == layer1[lo:hi]
    # every character of the window has its label (at 1400 px there is room), and no two overlap
    boxes = ruler_boxes(browser)
    assert len(boxes) == hi - lo and all(b[0] >= a[1] - 0.5 for a, b in zip(boxes, boxes[1:]))
    # the z~ strip shows the window too, not 1,500 steps squeezed into a barcode
    a_soft, b_soft = browser.execute_script("return document.getElementById('soft').layout.xaxis.range")
    assert (a_soft, b_soft) == (a, b)
    # the keystroke did not freeze the page (it took 1-3 s when every plot was redrawn in full)
    took = browser.execute_script("return performance.getEntriesByName('lens:keystroke').at(-1).duration")
    assert took < 1500, took
    # the overview shows the whole text, its brush the window
    brush = browser.execute_script("const r = document.getElementById('brush').getBoundingClientRect();"
                                   "return [r.width, document.getElementById('brush').hidden]")
    assert brush[0] > 6 and not brush[1]
    # a zoom in one strip (a drag across the z~ plot) moves every strip, the Segments too
    soft = browser.find_element(By.CSS_SELECTOR, "#soft .nsewdrag")
    w = soft.size["width"]
    ActionChains(browser).move_to_element_with_offset(soft, -w // 4, 0).click_and_hold() \
        .move_to_element_with_offset(soft, -w // 8, 0).move_to_element_with_offset(soft, 0, 0).release().perform()
    wait_for(browser, f"const r = {RANGES[7:]}; return r.every(x => x[1] - x[0] < {hi - lo - 5} && "
                      "Math.abs(x[0] - r[0][0]) < 1e-9 && Math.abs(x[1] - r[0][1]) < 1e-9)")
    a2, b2 = browser.execute_script(RANGES)[0]
    cells = browser.execute_script("return [...document.querySelectorAll('#segments .row .cells')][0].children")
    first = int(cells[0].get_attribute("data-t"))
    assert first == round(a2 + 0.5) and len(cells) == round(b2 - a2)
    # dragging the Segments strip pans them all
    seg = browser.find_element(By.ID, "segments")
    ActionChains(browser).move_to_element(seg).click_and_hold().move_by_offset(120, 0).release().perform()
    wait_for(browser, f"const r = {RANGES[7:]}; return r[0][0] < {a2 - 3} && r.every(x => x[0] === r[0][0])")
    # the brush moves them all again
    area = browser.find_element(By.CSS_SELECTOR, ".overview-panel .minimap-area")
    ActionChains(browser).move_to_element_with_offset(area, -area.size["width"] // 2 + 160, 0).click().perform()
    wait_for(browser, f"const r = {RANGES[7:]}; return r[0][0] < 400 && r.every(x => x[0] === r[0][0])")
    browser.save_screenshot(str(artifacts / "text-long.png"))
    assert not severe_errors(browser)


def ruler_boxes(driver):
    return driver.execute_script("return [...document.querySelectorAll('#ruler span')].map(s => "
                                 "{ const r = s.getBoundingClientRect(); return [r.left, r.right]; })")


def boxes_overlap(driver):
    """Pairs of panels (and of strips within the column) whose boxes overlap."""
    return driver.execute_script("""
      const pick = (sel) => [...document.querySelectorAll(sel)].filter(e => e.offsetParent !== null)
        .map(e => ({ id: e.id || e.className, r: e.getBoundingClientRect() }));
      const hit = (a, b) => a.r.left < b.r.right - 0.5 && b.r.left < a.r.right - 0.5 && a.r.top < b.r.bottom - 0.5 && b.r.top < a.r.bottom - 0.5;
      const out = [];
      for (const group of [pick('main > :not(.workspace), .workspace > *'), pick('#strips > .strip, #strips > h3')]) {
        for (let i = 0; i < group.length; i++) for (let j = i + 1; j < group.length; j++)
          if (hit(group[i], group[j])) out.push([group[i].id, group[j].id]);
      }
      return out;""")


# the least height each plot keeps, per row it has
MIN_HEIGHT = """return { minimap: 10 * document.getElementById('minimap').data[0].y.length,
  zgrid: 20 * document.getElementById('zgrid').data[0].y.length,
  soft: 50 * document.getElementById('soft').data.filter(t => t.name.startsWith('z~')).length, traces: 200 }"""


@pytest.mark.parametrize("page", ["/", "/ink"])
def test_layout_holds_at_1400_1000_and_390(server, browser, artifacts, page):
    with viewport(browser, 1400, 1000):
        browser.get(server + page)
        wait_for(browser, "return window.lens.last && (window.lens.last.a || window.lens.last.layers) && "
                          "document.querySelector('#traces .main-svg')")
        for width, height in ((1400, 1000), (1000, 800), (390, 844)):
            before = browser.execute_script("return window.lens.rendered")
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
            if width != 1400:
                wait_for(browser, f"return window.lens.rendered > {before} && " + SETTLED)
            wait_for(browser, "return document.getElementById('zgrid').layout.width === "
                              "document.getElementById('strips').clientWidth")
            time.sleep(0.3)
            sizes = browser.execute_script("""return Object.fromEntries(['minimap', 'zgrid', 'soft', 'traces', 'trajectory']
              .filter(id => document.getElementById(id)).map(id => [id, document.getElementById(id).getBoundingClientRect().height]))""")
            for key, least in browser.execute_script(MIN_HEIGHT).items():
                assert sizes[key] >= least, (width, sizes)
            if page == "/ink":
                assert sizes["trajectory"] >= 150, sizes
            assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), width
            assert not boxes_overlap(browser), (width, boxes_overlap(browser))
            labels = ruler_boxes(browser)                     # axis labels thinned to fit, none over another
            assert len(labels) >= 5 and all(b[0] >= a[1] - 0.5 for a, b in zip(labels, labels[1:])), (width, labels)
            if page == "/ink":                                # numbers: round ones, the steps counted from 1
                numbered = browser.execute_script("return [...document.querySelectorAll('#ruler span')]"
                                                  ".map(s => [+s.dataset.t, +s.textContent])")
                every = numbered[1][1] - numbered[0][1]
                assert all(shown == t + 1 and shown % every == 0 for t, shown in numbered), numbered
            # one x axis: the strips' plotting areas line up
            lefts = browser.execute_script("""return [...document.querySelectorAll('#strips .nsewdrag')].map(e => {
                const r = e.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.width)]; })""")
            assert len(set(map(tuple, lefts))) == 1, lefts
            name = "text" if page == "/" else "ink"
            full_screenshot(browser, artifacts / f"{name}-{width}.png", width, height)


# WCAG's contrast ratio of each visible element's own text against the first opaque background behind it
CONTRAST = """const lum = (rgb) => { const c = rgb.match(/[\\d.]+/g).slice(0, 3).map((v) => v / 255)
    .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)); return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
  const opaque = (c) => c !== 'transparent' && !/rgba\\(.*, 0\\)$/.test(c);
  const out = [];
  for (const el of document.querySelectorAll(arguments[0])) {
    if (!el.checkVisibility() || !el.textContent.trim()) continue;
    let b = el; while (b && !opaque(getComputedStyle(b).backgroundColor)) b = b.parentElement;
    const fg = lum(getComputedStyle(el).color), bg = lum(b ? getComputedStyle(b).backgroundColor : 'rgb(255, 255, 255)');
    out.push([el.textContent.trim().slice(0, 20), (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)]);
  }
  return out;"""


@pytest.mark.parametrize("page", ["/", "/ink"])
def test_the_keys_are_legible_text(server, browser, page):
    """The operations' boxes and the layers' line keys in the strips' headings: at least 4.5:1 (WCAG AA)."""
    browser.get(server + page)
    wait_for(browser, "return window.lens.last && (window.lens.last.a || window.lens.last.layers) && "
                      "document.querySelector('#traces .main-svg')")
    ratios = browser.execute_script(CONTRAST, "#strips h3 .op-key, #strips h3 .l1, #strips h3 .l2, #strips h3 .l3")
    assert len(ratios) >= 6 and all(r >= 4.5 for _, r in ratios), ratios


@pytest.mark.parametrize("page,first", [("/", "text"), ("/ink", "pad")])
@pytest.mark.parametrize("width,height", [(390, 844), (844, 390)])       # a phone upright, and held sideways
def test_on_a_phone_the_first_screen_holds_the_input(bundled, browser, page, first, width, height):
    """On a phone (touch), with what `make run` serves: the text box (the pad) is on the first screen, a line
    of it at least, the explainer folded, and the strips' instructions are the touch ones."""
    server = bundled
    with viewport(browser, width, height, touch=True):
        browser.get(server + page)
        wait_for(browser, "return document.getElementById('model').options.length > 0 && window.lens.rendered >= 0 && "
                          "document.body.classList.contains('touch')")
        top = browser.execute_script(f"return document.getElementById('{first}').getBoundingClientRect().top")
        assert 0 <= top < height - 40, top
        if page == "/":
            assert browser.find_element(By.ID, "explainer").get_attribute("open") is None
        shown = browser.execute_script("""return [...document.querySelectorAll('.touch-only, .mouse-only')]
            .map(e => [e.className, getComputedStyle(e).display !== 'none'])""")
        assert shown and all(visible == (cls == "touch-only") for cls, visible in shown), shown
    browser.get(server + page)                              # a mouse screen: the explainer open, mouse words
    wait_for(browser, "return document.getElementById('model').options.length > 0")
    if page == "/":
        assert browser.find_element(By.ID, "explainer").get_attribute("open") is not None
    assert browser.execute_script("return getComputedStyle(document.querySelector('.mouse-only')).display") != "none"


def test_the_explainer_is_open_only_where_the_text_box_still_shows(server, browser):
    """The explainer opens for a newcomer where the text box stays on the first screen beside it, closes
    where it would push the box below (a laptop's short screen, a phone, a window narrowed or shortened to one), and once
    the person opens or closes it, it stays as they left it."""
    state = ("const box = document.getElementById('text').getBoundingClientRect();"
             "return [document.getElementById('explainer').open, box.bottom + scrollY <= innerHeight]")
    with viewport(browser, 1400, 1000):
        open_analysed(browser, server)
        assert browser.execute_script(state) == [True, True]
    with viewport(browser, 1000, 757):
        open_analysed(browser, server)
        assert browser.execute_script(state) == [False, True]
    with viewport(browser, 1400, 1000):
        open_analysed(browser, server)
        for width, height, expected in ((390, 844, [False, True]), (1400, 1000, [True, True]),
                                        (1400, 560, [False, True]), (1400, 1000, [True, True])):   # a shorter window
            resize_screen(browser, width, height)
            assert browser.execute_script(state) == expected, width
        browser.find_element(By.ID, "text").click()           # typing: a keyboard coming up leaves the box where it is
        resize_screen(browser, 1400, 560)
        assert browser.execute_script(state)[0] is True
    with viewport(browser, 390, 844, touch=True):                               # a phone turned and back
        open_analysed(browser, server)
        for width, height in ((844, 390), (390, 844)):
            resize_screen(browser, width, height, mobile=True)
        assert browser.execute_script(state) == [False, True]
    with viewport(browser, 1400, 1000):
        open_analysed(browser, server)
        browser.find_element(By.CSS_SELECTOR, "#explainer summary").click()      # the person closes it
        for width, height in ((1000, 757), (1400, 1000)):
            resize_screen(browser, width, height)
        assert browser.execute_script(state)[0] is False


def test_a_keystroke_waits_only_for_the_views_on_screen(server, browser):
    """A strip far below the screen is not drawn with the keystroke: it keeps its height (nothing
    moves), and is drawn as soon as it scrolls into view, or when the page is idle."""
    with viewport(browser, 1400, 900):
        open_analysed(browser, server)
        set_text(browser, text_of(600, seed=4))
        browser.execute_script("window.scrollTo(0, 0); window.held = [];"
                               "window.requestIdleCallback = (fn) => window.held.push(fn); window.cancelIdleCallback = () => {};"
                               "document.getElementById('traces').data.old = true;")
        height = browser.execute_script("return document.getElementById('traces').offsetHeight")
        before = browser.execute_script("return window.lens.rendered")
        browser.find_element(By.ID, "text").send_keys(" the")
        wait_for(browser, "return window.lens.last.text.endsWith(' the') && window.held.length > 0")
        assert browser.execute_script("const t = document.getElementById('traces');"
                                      "return [t.data.old === true, t.offsetHeight, window.lens.rendered,"
                                      "        window.lens.strips.settled()]") == [True, height, before, False]
        browser.execute_script("document.getElementById('traces').scrollIntoView()")
        wait_for(browser, "return document.getElementById('traces').data.old === undefined")   # drawn as it came into view
        browser.execute_script("window.scrollTo(0, 0); document.getElementById('soft').data.old = true;")
        browser.find_element(By.ID, "text").send_keys("n")
        wait_for(browser, "return window.lens.last.text.endsWith(' then') && window.held.length > 1")
        assert browser.execute_script("return document.getElementById('soft').data.old") is True
        browser.execute_script("for (const fn of window.held.splice(0)) fn({ timeRemaining: () => 50 })")   # the page idles
        wait_for(browser, "return window.lens.strips.settled() && document.getElementById('soft').data.old === undefined")
        assert browser.execute_script("return window.lens.rendered") > before


def test_a_stale_answer_after_clearing_does_not_repaint_and_slow_answers_show_busy(server, browser):
    open_analysed(browser, server)
    # every answer from now on arrives 1.5 s late
    browser.execute_script("""const real = window.fetch.bind(window);
        window.fetch = (...a) => real(...a).then(r => new Promise(ok => setTimeout(() => ok(r), 1500)));""")
    browser.find_element(By.ID, "text").send_keys(" and more")
    wait_for(browser, "return !document.getElementById('busy').hidden", 5)          # working…
    clear_text(browser)
    rendered = browser.execute_script("return window.lens.rendered")
    assert browser.execute_script("return document.getElementById('busy').hidden")
    time.sleep(2.5)                                                                   # the late answers come in
    state = browser.execute_script("""return { rendered: window.lens.rendered, a: window.lens.last.a || null,
        grid: Boolean(document.getElementById('zgrid').data), reading: document.getElementById('reading').textContent,
        segments: document.getElementById('segments').children.length, status: document.getElementById('status').textContent,
        exportable: !document.getElementById('export-png').disabled,
        shareable: !document.getElementById('permalink').disabled }""")
    assert state == {"rendered": rendered, "a": None, "grid": False, "reading": "", "segments": 0,
                     "status": "Type something to see its boundaries.", "exportable": False, "shareable": False}
    # the emptied strips gave their height back
    assert browser.execute_script("return Math.max(...[...document.querySelectorAll('#strips .strip')]"
                                  ".map(e => e.getBoundingClientRect().height))") < 20


def tap(driver, element, dx, dy):
    finger = PointerInput(POINTER_TOUCH, "finger")
    actions = ActionBuilder(driver, mouse=finger)
    actions.pointer_action.move_to(element, dx, dy).pointer_down().pause(0.05).pointer_up()
    actions.perform()


def test_a_tap_on_a_phone_fills_the_docked_inspector(server, browser, artifacts):
    with viewport(browser, 390, 844, touch=True):
        open_analysed(browser, server)
        assert browser.execute_script("return matchMedia('(pointer: coarse)').matches")
        grid = browser.find_element(By.CSS_SELECTOR, "#zgrid .nsewdrag")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
        before = browser.execute_script("return document.getElementById('inspector').dataset.position")
        # the fourth cell from the left
        geo = browser.execute_script("""const r = arguments[0].getBoundingClientRect(), x = document.getElementById('zgrid').layout.xaxis.range;
            return [r.width, x[1] - x[0], x[0]]""", grid)
        width, cells, x0 = geo
        target = round(x0 + 0.5) + 3
        tap(browser, grid, int(-width / 2 + (3.5 / cells) * width), 0)
        wait_for(browser, f"return document.getElementById('inspector').dataset.position === '{target}'", 10)
        assert before != str(target)
        rows = browser.execute_script("return document.querySelectorAll('#inspector table tr').length")
        assert rows == 1 + 3                                  # a header and every layer
        # docked: the inspector is a panel in the page's flow, over nothing
        assert browser.execute_script("return getComputedStyle(document.getElementById('inspector')).position") == "static"
        assert not boxes_overlap(browser)
        # nothing of Plotly's toolbar over the data
        assert not browser.find_elements(By.CSS_SELECTOR, ".modebar")
        browser.save_screenshot(str(artifacts / "phone-tap.png"))
        # the drawing pad: full width and at least 2:1
        browser.get(server + "/ink")
        wait_for(browser, "return document.getElementById('model').options.length > 0")
        w, h, page = browser.execute_script("const r = document.getElementById('pad').getBoundingClientRect();"
                                            "return [r.width, r.height, document.documentElement.clientWidth]")
        assert w >= page - 24 and h >= w / 2 - 1, (w, h, page)


def exported(browser, downloads, fmt):
    """The one file the export button for fmt downloads, as bytes (the downloads folder emptied first)."""
    for f in downloads.glob("*"):
        f.unlink()
    browser.execute_script("window.lens.exported = null")
    browser.find_element(By.ID, f"export-{fmt}").click()
    wait_for(browser, f"return window.lens.exported && window.lens.exported.name === 'lens.{fmt}'", 30)
    deadline = time.time() + 30
    while time.time() < deadline and not [f for f in downloads.glob(f"*.{fmt}")]:
        time.sleep(0.2)
    time.sleep(1.5)                                      # nothing else follows
    files = [f for f in downloads.iterdir() if not f.name.endswith(".crdownload")]
    assert [f.name for f in files] == [f"lens.{fmt}"]
    return files[0].read_bytes()


def test_export_is_one_composite_file(server, browser, downloads):
    open_analysed(browser, server)
    text = "the big dog ran to the red house"
    set_text(browser, text)
    for fmt in ("svg", "png"):
        data = exported(browser, downloads, fmt)
        if fmt == "svg":
            svg = data.decode()
            assert "toy-a" in svg and "Segments" in svg and "Boundaries z per layer" in svg
            assert svg.count("<svg") >= 5                    # the overview and every plotted strip, in one file
            assert ">h<" in svg and "cursor" not in svg     # the text's own characters; no hover cursor
            assert ">COPY<" in svg and ">FLUSH<" in svg and ">layer 2<" in svg    # the strips' colour keys
        else:                                                # the same composite, drawn at twice the size
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
            made = browser.execute_script("return window.lens.exported")
            assert (width, height) == (2 * made["width"], 2 * made["height"]) and height > 800


def test_a_compared_export_names_the_model_of_each_section(server, browser, downloads):
    """Comparing two models, every section of the composite says whose it is (the page's headings do)."""
    open_analysed(browser, server)
    set_text(browser, "the big dog ran to the red house")
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "compare")).select_by_value("toy-b")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.b && "
                      "document.querySelector('#disagree .main-svg')")
    svg = exported(browser, downloads, "svg").decode()
    for title in ("Boundaries z per layer", "Soft boundaries z~", "Segments", "Operations, ‖h‖, output gates and surprisal"):
        assert f"{title}, toy-a" in svg and f"{title}, toy-b" in svg, title
    assert "other model" not in svg and "Where the two models disagree" in svg


def test_the_step_being_inspected_stays_in_the_window_when_the_page_narrows(server, browser):
    """Hovering a step near the window's start while it holds the text's end, then the page narrowed to a
    phone's width (fewer steps fit, the end kept): the window moves to keep that step shown, cursor and
    all, rather than hide it."""
    with viewport(browser, 1400, 900):
        open_analysed(browser, server)
        set_text(browser, text_of(600, seed=5))
        grid = browser.find_element(By.CSS_SELECTOR, "#zgrid .nsewdrag")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
        width = browser.execute_script("return arguments[0].getBoundingClientRect().width", grid)
        ActionChains(browser).move_to_element_with_offset(grid, -int(width / 2) + 30, 0).perform()   # near the left end
        t = int(wait_for(browser, "return document.getElementById('inspector').dataset.position"))
        a, b = browser.execute_script("const w = window.lens.strips.viewport.window(); return [w.a, w.b]")
        assert a <= t < a + 10 and b == 600, (a, t, b)
    with viewport(browser, 390, 844):
        wait_for(browser, f"const w = window.lens.strips.viewport.window(); return w.b - w.a < {b - a}")
        wait_for(browser, f"const w = window.lens.strips.viewport.window(); return w.a <= {t} && {t} < w.b && "
                          f"!document.getElementById('cursor').hidden && document.getElementById('cursor').dataset.position === '{t}'")
        assert browser.execute_script("return document.getElementById('inspector').dataset.position") == str(t)


def inspected(driver):
    return int(driver.find_element(By.ID, "inspector").get_attribute("data-position"))


def window_now(driver):
    return driver.execute_script("const w = window.lens.strips.viewport.window(); return [w.a, w.b]")


def test_the_keyboard_moves_the_step_inspected_and_the_window_follows(server, browser):
    """Tab reaches the detail strips; the arrow keys move the step inspected (the cursor with it), Home and
    End go to the window's ends, and a step past the window's end takes the window along. Moving the
    overview's window away from the step inspected brings the inspector into the new window."""
    from selenium.webdriver.common.keys import Keys
    with viewport(browser, 1400, 900):
        open_analysed(browser, server)
        set_text(browser, text_of(1200, seed=4))
        column = browser.find_element(By.ID, "strips")
        keys = browser.find_element(By.ID, column.get_attribute("aria-describedby")).get_attribute("textContent")
        assert column.get_attribute("tabindex") == "0" and "arrow keys" in keys
        column.send_keys(Keys.HOME)
        a, b = window_now(browser)
        assert inspected(browser) == a and b == 1200
        column.send_keys(Keys.ARROW_RIGHT)
        column.send_keys(Keys.ARROW_RIGHT)
        assert inspected(browser) == a + 2
        assert browser.find_element(By.ID, "cursor").get_attribute("data-position") == str(a + 2)
        column.send_keys(Keys.SHIFT, Keys.ARROW_LEFT)
        assert inspected(browser) == max(0, a + 2 - 10)
        wait_for(browser, f"return window.lens.strips.viewport.window().a === {max(0, a - 8)}")  # the window followed
        column.send_keys(Keys.END)
        a2, b2 = window_now(browser)
        assert inspected(browser) == b2 - 1
        # the overview's window moved to the start (its own keys): the inspector comes along
        browser.find_element(By.ID, "brush").send_keys(Keys.HOME)
        wait_for(browser, "return window.lens.strips.viewport.window().a === 0")
        a3, b3 = window_now(browser)
        wait_for(browser, f"const t = +document.getElementById('inspector').dataset.position; return t >= {a3} && t < {b3}")
        assert not severe_errors(browser)


def test_the_detail_box_says_how_many_steps_the_window_shows(server, browser):
    with viewport(browser, 1400, 900):
        open_analysed(browser, server)
        box = browser.find_element(By.ID, "window-width")
        a, b = window_now(browser)
        n = browser.execute_script("return window.lens.last.a.chars.length")
        assert int(box.get_attribute("value")) == min(b, n) - a           # a short text: all of it, not a width it lacks
        set_text(browser, text_of(3000, seed=6))

        def enter(value):                                                # typed, then Enter or a click away
            browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))",
                                   box, value)
            return int(box.get_attribute("value"))
        assert enter("3000") == 1000                                     # at most 1000
        wait_for(browser, "const w = window.lens.strips.viewport.window(); return w.b - w.a === 1000")
        assert enter("3") == 10                                          # at least 10
        assert enter("-5") == 10                                         # not a width: the window's own, again
        assert window_now(browser)[1] - window_now(browser)[0] == 10
        browser.execute_script("arguments[0].stepUp()", box)            # the box's arrows step by ten from there
        assert box.get_attribute("value") == "20"


def test_the_export_carries_the_keys_and_wraps_the_text_between_words(server, browser, downloads):
    open_analysed(browser, server)
    set_text(browser, "the big dog ran, to the red house")
    svg = exported(browser, downloads, "svg").decode()
    # the comma, unknown to the model, in red in the text and in the segments, as the page shows it
    assert 'fill="#b3261e">,</text>' in svg and 'fill="rgb(179, 38, 30)">,</text>' in svg
    assert "the layer fires and a word ends there" in svg and "background: its segments" in svg   # the text's key
    assert "red: z = 1 at the threshold" in svg and "dotted: the threshold" in svg               # the strips' keys
    assert "press a character" not in svg and "Drag to zoom" not in svg and "outlined" not in svg  # the screen's alone
    # a word longer than what is left of the line starts the next one: no "advi|ce"
    rows = browser.execute_async_script("""const done = arguments[arguments.length - 1];
        import('/static/js/lib/export.js').then(async ({ composite }) => {
          const pieces = [...'aaaaaaaaaaaaaaa bbbbbbbbbb cc'];
          const img = await composite([{ reading: { pieces, seg: pieces.map(() => 0), marks: pieces.map(() => null),
                                                        unknown: pieces.map(() => false) } }], 100);
          const doc = new DOMParser().parseFromString(img.svg, 'image/svg+xml');
          done([...doc.querySelectorAll('text')].map(t => [t.textContent, +t.getAttribute('y')]));
        });""")
    y_of = {}
    for ch, y in rows:
        y_of.setdefault(ch, set()).add(y)
    assert len(y_of["b"]) == 1 and y_of["b"] != y_of["a"]               # the b's together, on the next line


def test_typing_inside_a_long_text_brings_the_window_to_the_caret(server, browser):
    """The window holds the end of a long text; an edit near its start moves the window (and the inspector)
    to the edit, as an editor scrolls to its caret."""
    with viewport(browser, 1400, 900):
        open_analysed(browser, server)
        text = text_of(1500, seed=8)
        set_text(browser, text)
        assert window_now(browser)[1] == 1500
        box = browser.find_element(By.ID, "text")
        browser.execute_script("arguments[0].focus(); arguments[0].setSelectionRange(200, 200)", box)
        before = browser.execute_script("return window.lens.rendered")
        box.send_keys("x")
        wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.text.length === 1501 && " + SETTLED)
        wait_for(browser, "const w = window.lens.strips.viewport.window(); return w.a <= 200 && 200 < w.b")
        assert abs(inspected(browser) - 200) <= 1
        assert browser.execute_script("return window.lens.last.text[200]") == "x"
