"""Driving the pages as a person would, and reading back what they drew."""
import time
from contextlib import contextmanager

import httpx
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from bench.latency import text_of  # noqa: F401  (our own words, n characters)


# every strip shows the latest answer (those off screen are drawn when the page is idle)
SETTLED = "(!window.lens.strips || window.lens.strips.settled())"


def wait_for(driver, script, timeout=30, *args):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def open_page(driver, url):
    driver.get(url)
    wait_for(driver, "return document.getElementById('model').options.length > 0")


def open_analysed(driver, url):
    """The text page with its opening example analysed and drawn."""
    open_page(driver, url)
    wait_for(driver, "return window.lens.last.a && window.lens.rendered > 0 && document.querySelector('#zgrid .main-svg') && "
             + SETTLED)


def type_text(driver, text):
    """Type as a person would; wait until the answer for exactly this text is drawn (an answer to
    the text the box held before, of the same length, would pass a test of the length alone)."""
    from selenium.webdriver.common.by import By
    box = driver.find_element(By.ID, "text")
    box.clear()
    before = driver.execute_script("return window.lens.rendered")
    box.send_keys(text)
    wait_drawn(driver, text, before)


def wait_drawn(driver, text, before, timeout=30):
    """Wait until the views have been drawn since `before` (lens.rendered) from the answer for `text`."""
    wait_for(driver, "return window.lens.rendered > arguments[0] && window.lens.last.a && "
                     "window.lens.last.text === arguments[1] && " + SETTLED, timeout, before, text)


def set_threshold(driver, value):
    """Move the threshold slider (one input event, as a drag gives many) and wait until the views are
    drawn at it (the page redraws once a frame, with the latest value)."""
    before = driver.execute_script("return window.lens.rendered")
    driver.execute_script("const s = document.getElementById('threshold'); s.value = arguments[0];"
                          "s.dispatchEvent(new Event('input'));", str(value))
    # (another answer drawn meanwhile, a model's, would pass a test of the count alone)
    wait_for(driver, "return window.lens.rendered > arguments[0] && window.lens.strips.threshold === arguments[1] && "
             + SETTLED, 30, before, float(value))


def reopen_from_link(driver, ready_script, timeout=30):
    """Leave the page and come back through its own address (the permalink), as a shared link would;
    wait until `ready_script` holds."""
    link = driver.execute_script("return location.href")
    driver.get("about:blank")
    driver.get(link)
    return wait_for(driver, ready_script, timeout)


def clear_text(driver):
    """Select all and delete, as a person would; every view empties."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    box = driver.find_element(By.ID, "text")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    wait_for(driver, "return !window.lens.last.a && document.getElementById('text').value === ''")


def set_text(driver, text):
    """A long text put in at once (as a paste would), then drawn."""
    before = driver.execute_script("return window.lens.rendered")
    driver.execute_script("const b = document.getElementById('text'); b.value = arguments[0];"
                          "b.dispatchEvent(new Event('input'));", text)
    wait_drawn(driver, text, before, 60)


def plotted_rows(driver, element_id):
    return driver.execute_script(f"""
        const t = document.getElementById('{element_id}').data[0];
        const out = {{}}; t.y.forEach((name, i) => out[name] = t.z[i]); return out;""")


def api(server, text, model):
    return httpx.post(server + "/api/text", json={"text": text, "model": model}, timeout=60).json()


def severe_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@contextmanager
def viewport(driver, width, height, touch=False, ratio=1):
    """The page as a screen of this size would show it (a phone: touch too; ratio: device pixels per CSS pixel)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": ratio, "mobile": touch})
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": touch, "maxTouchPoints": 5 if touch else 1})
    try:
        yield
    finally:
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def resize_screen(driver, width, height, mobile=False):
    """The emulated screen resized, as a window is or a phone turned, and given time to settle (the text
    page fits its explainer 150 ms after the last resize)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    wait_for(driver, f"return innerWidth === {width}")
    time.sleep(0.5)


def full_screenshot(driver, path, width, height):
    """The whole page, not only what fits on the screen."""
    full = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": full, "deviceScaleFactor": 1, "mobile": width < 600})
    time.sleep(0.5)
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


# "lo": an l, an o, then a connected wave, then a dot (mouse strokes, offsets from the pad's top-left corner)
LO = [[(100, 60), (105, 90), (110, 130), (115, 170), (125, 175)],
      [(160, 140), (150, 160), (160, 175), (175, 165), (170, 145), (160, 140)],
      [(200, 150), (215, 135), (230, 160), (245, 135), (260, 160), (275, 140)],
      [(300, 170), (302, 172)]]


def draw_strokes(driver, strokes):
    """Mouse strokes on the drawing pad, emptied first (the page opens on an example), offsets from its
    top-left corner; each waited for."""
    driver.find_element(By.ID, "clear").click()
    wait_for(driver, "return window.lens.last === null")
    for k, stroke in enumerate(strokes):
        draw_stroke(driver, stroke, pen_ups=k + 1)


def draw_stroke(driver, stroke, pen_ups):
    """One mouse stroke on the pad as it is, waited for until the answer holds `pen_ups` strokes."""
    before = driver.execute_script("return window.lens.rendered")
    stroke_on_pad(driver, stroke)
    wait_for(driver, f"return window.lens.rendered > {before} && window.lens.last && window.lens.last.pen_up && "
                     f"window.lens.last.pen_up.reduce((a, b) => a + b, 0) === {pen_ups}")


def stroke_on_pad(driver, stroke):
    """One mouse stroke on the pad, offsets from its top-left corner; nothing waited for."""
    pad = driver.find_element(By.ID, "pad")
    w, h = pad.size["width"], pad.size["height"]
    x0, y0 = stroke[0]
    chain = ActionChains(driver).move_to_element_with_offset(pad, x0 - w // 2, y0 - h // 2).click_and_hold()
    for x, y in stroke[1:]:
        chain = chain.move_to_element_with_offset(pad, x - w // 2, y - h // 2)
    chain.release().perform()
