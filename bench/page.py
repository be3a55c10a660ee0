"""Keystroke to views updated, in a real browser: headless Chromium types into the text page.

    python -m bench.page --json

For each text length (default 100, 1,500 and 5,000 characters) the page gets a text of that
length less the keystrokes to come, then a person's keystrokes one at a time (real key
events, each waited for). The page measures, with the Performance API, from the key's event
time to the first frame painted after every view on screen was drawn for that text
("lens:keystroke"; the views well off screen are drawn after, when the page is idle, or as they
scroll near: "lens:all-views" runs to the frame after the last of them). It also measures the
request ("lens:request", the server's answer as the browser sees it) and the drawing on screen
("lens:draw"). Targets at 1,500 characters: p50 <= 100 ms; at 5,000: p50 <= 250 ms.
"""
from __future__ import annotations

import json
import os
import tempfile
import time

from bench.latency import percentile, text_of
from bench.machine import cpu_model
from bench.server import running_server, said_in_one_line
from model.cli import Parser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TARGETS_MS = {1500: 100, 5000: 250}
KEYS = "the river and"          # what is typed at the end, a key at a time


def browser(width: int, height: int, console_log: bool = False):
    """Debian's headless Chromium under Selenium, with nothing reaching the network (the tests'
    browser too); console_log keeps the page's console for `driver.get_log("browser")`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    os.environ.update(SE_MANAGER_PATH="/bin/false", SE_OFFLINE="true", SE_AVOID_STATS="true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    # --no-sandbox only because this browser visits a page served on 127.0.0.1 by this command
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", f"--window-size={width},{height}"):
        opts.add_argument(flag)
    if console_log:
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(60)
    return driver


def wait_for(driver, script, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script(script):
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for: {script}")


def durations(driver, name):
    return driver.execute_script(f"return performance.getEntriesByName('{name}').map(e => e.duration)")


def measure(driver, url, chars: int, keys: int, watch: str = "text") -> dict:
    """watch "text": the page as it opens, the text box and the reading on screen; "strips": scrolled as
    far down as one can while typing, the text box at the top of the screen and the strips below it (further
    down, the browser scrolls back to the box's caret at the first key)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    driver.get(url)
    wait_for(driver, "return window.lens && window.lens.last && window.lens.last.a")        # the opening example
    typed = (KEYS * (keys // len(KEYS) + 1))[:keys]
    text = text_of(chars - keys, seed=chars)
    driver.execute_script("const b = document.getElementById('text'); b.value = arguments[0];"
                          "b.dispatchEvent(new Event('input'));", text)
    wait_for(driver, f"return window.lens.last.a && window.lens.last.a.chars.length === {len(text)}")
    time.sleep(0.5)
    driver.execute_script("performance.clearMeasures()")
    box = driver.find_element(By.ID, "text")
    if watch == "strips":
        driver.execute_script("const box = document.getElementById('text'); box.focus({ preventScroll: true });"
                              "box.scrollIntoView({ block: 'start' });")
        time.sleep(0.5)
    scrolled = driver.execute_script("return window.scrollY")
    for k, key in enumerate(typed, 1):
        if watch == "strips":
            ActionChains(driver).send_keys(key).perform()          # into the focused box, the page not scrolled
        else:
            box.send_keys(key)
        wait_for(driver, f"return performance.getEntriesByName('lens:keystroke').length >= {k} && "
                         f"window.lens.last.a.chars.length === {len(text) + k}")
        time.sleep(0.05)                               # a person's pause between keys
    ms = durations(driver, "lens:keystroke")
    on_screen = driver.execute_script("return ['minimap', 'zgrid', 'soft', 'segments', 'traces'].filter(id => {"
                                      " const r = document.getElementById(id).getBoundingClientRect();"
                                      " return r.bottom > 0 && r.top < innerHeight; })")
    time.sleep(0.5)                                    # the last keystroke's views off screen
    req, drawn = durations(driver, "lens:request"), durations(driver, "lens:draw")
    everything = durations(driver, "lens:all-views")
    out = {"keystrokes": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
           "max_ms": round(max(ms), 1), "request_p50_ms": round(percentile(req, 50), 1),
           "draw_p50_ms": round(percentile(drawn, 50), 1),
           "all_views_p50_ms": round(percentile(everything, 50), 1) if everything else None,
           "all_views_measured": len(everything), "strips_on_screen": on_screen,
           "page_scrolled_by_typing": driver.execute_script("return window.scrollY") != scrolled}
    if chars in TARGETS_MS:
        out["target_p50_ms"] = TARGETS_MS[chars]
        out["met"] = out["p50_ms"] <= TARGETS_MS[chars]
    return out


def main(argv=None):
    p = Parser(prog="python -m bench.page", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100,1500,5000", help="text lengths, comma-separated")
    p.add_argument("--keys", type=int, default=25, help="keystrokes measured per length")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=1000)
    p.add_argument("--watch", choices=["text", "strips"], default="text",
                   help="what is on screen while typing: the page as it opens (the text box and the reading), or "
                        "scrolled down as far as typing allows (the box at the top, the strips below)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    p.at_least(args, 1, "keys", "width", "height")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        p.error(f"--sizes takes lengths separated by commas, not {args.sizes!r}")
    if min(sizes) < 1:
        p.error("--sizes must each be at least 1")
    os.environ.setdefault("TMPDIR", tempfile.mkdtemp(prefix="bench-page-"))     # Chromium's leftovers stay here
    with said_in_one_line("python -m bench.page"), running_server(start_s=300) as (url, _):
        driver = browser(args.width, args.height)
        try:
            version = driver.capabilities.get("browserVersion", "?")
            results = {str(n): measure(driver, url + "/", n, min(args.keys, n - 1), args.watch) for n in sizes}
            model = driver.execute_script("return window.lens.last.a.model")
        finally:
            driver.quit()
    out = {"chars": results, "model": model, "browser": f"headless Chromium {version}",
           "window": f"{args.width}x{args.height}", "watching": args.watch, "cpu": cpu_model(), "cores": os.cpu_count(),
           "met": all(r.get("met", True) for r in results.values())}
    if args.json:
        print(json.dumps(out))
    else:
        for n, r in results.items():
            print(f"{n:>5} chars: keystroke to views updated p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms "
                  f"(request {r['request_p50_ms']} ms, drawing {r['draw_p50_ms']} ms)"
                  + (f"; target p50 <= {r['target_p50_ms']} ms: {'met' if r['met'] else 'missed'}" if "met" in r else ""))
        print(f"{out['cpu']}, {out['browser']}, model {model}")


if __name__ == "__main__":
    main()
