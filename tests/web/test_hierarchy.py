"""Real-browser test of a measured hierarchy (DESIGN.md 9): where a checkpoint's evaluation found a
phrase layer above its word layer, the model line names both levels and the segments view bands
the word layer's segments by the phrase layer's; elsewhere nothing is banded."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.web.pages import api, open_page, severe_errors, type_text, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TEXT = "the cat sat on the mat and the dog saw it and then the cat ran to the dog"


def segment_parity(z):
    k, out = 0, []
    for v in z:
        out.append(k % 2)
        k += v == 1
    return out


def nested_cells(driver):
    return driver.execute_script("""const row = document.querySelector('#segments .row.nested');
        return row && {label: row.querySelector('b').textContent, cells: [...row.querySelectorAll('span[data-t]')].map(s =>
          ({t: +s.dataset.t, band: s.classList.contains('p0') ? 0 : s.classList.contains('p1') ? 1 : null,
            end: s.classList.contains('pend')}))}""")


def test_a_measured_phrase_layer_is_named_and_bands_the_word_layer(spaceless_server, browser, artifacts):
    open_page(browser, spaceless_server)
    wait_for(browser, "return window.lens.last.a && window.lens.rendered > 0")
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "model")).select_by_value("toy-a")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.spaces === true")
    type_text(browser, TEXT)
    info = browser.find_element(By.ID, "model-info").text
    assert "Layer 2 marks phrases, groups of layer 1's words: 93% of its firings are on word ends, " \
           "at 0.40 of layer 1's rate (a cut every 4.2 words); on our punctuated sentences its cuts score F1 0.31 " \
           "at the phrase ends (after , ; : and dashes), against 0.12 for random word ends at its rate." in info, info
    assert "layer 2 (phrase layer)" in [o.text for o in Select(browser.find_element(By.ID, "layer")).options]
    assert browser.find_element(By.ID, "phrase-note").is_displayed()

    # the bands follow layer 2's own firings, over the cells of the detail window
    phrase_z = api(spaceless_server, TEXT, "toy-a")["layers"][1]["z"]
    nested = nested_cells(browser)
    assert nested and nested["label"].startswith("layer 1") and "L2" in nested["label"]
    parity = segment_parity(phrase_z)
    assert nested["cells"] and all(c["band"] == parity[c["t"]] and c["end"] == (phrase_z[c["t"]] == 1)
                                   for c in nested["cells"])
    assert any(c["end"] for c in nested["cells"]) or not any(phrase_z)
    browser.save_screenshot(str(artifacts / "hierarchy-bands.png"))

    # a sparser level on word ends that is no closer to phrase ends than random is named for what it is
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "model")).select_by_value("toy-b")
    wait_for(browser, f"return window.lens.rendered > {before} && document.getElementById('model').value === 'toy-b'")
    info = browser.find_element(By.ID, "model-info").text
    assert "Layer 2 marks a coarser level, groups of layer 1's words: 99% of its firings are on word ends" in info, info
    assert "but they are not phrases: on our punctuated sentences its cuts score F1 0.13" in info
    assert "marks phrases" not in info
    assert "layer 2 (coarser level)" in [o.text for o in Select(browser.find_element(By.ID, "layer")).options]
    assert nested_cells(browser) and browser.find_element(By.ID, "phrase-note").is_displayed()

    # a checkpoint without a measured hierarchy bands nothing
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "model")).select_by_value("toy-nospace")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.spaces === false")
    assert nested_cells(browser) is None
    assert not browser.find_element(By.ID, "phrase-note").is_displayed()
    assert "phrase" not in browser.find_element(By.ID, "model-info").text
    assert not severe_errors(browser)


def test_the_bundled_levels_checkpoint_names_one_word_layer(bundled, browser):
    """ptb-3x256-levels: layer 1 scores like a word detector too (tolerant F1 0.71), but layer 2 marks
    words (0.95): one layer is called the word detector; the other fires at word ends among much else."""
    open_page(browser, bundled)
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "model")).select_by_value("ptb-3x256-levels")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.model === 'ptb-3x256-levels'")
    options = [o.text for o in Select(browser.find_element(By.ID, "layer")).options]
    assert options == ["layer 1 (word ends and more)", "layer 2 (word detector)", "layer 3 (coarser level)"], options
    ticks = browser.execute_script("return document.getElementById('zgrid').layout.yaxis.ticktext")
    assert "layer 1 (words+)" in ticks, ticks                  # one name per layer, short where room is short
    info = browser.find_element(By.ID, "model-info").text
    assert info.startswith("Layer 2 marks word ends") and "Layer 1 marks word ends" not in info, info
    # layer 1 fires on nearly every word end and on much else: said so, not that it marks "some" of them
    words = info + browser.execute_script("return document.getElementById('model-figures').textContent")
    assert "Layer 1 fires at word ends and inside words too: on 100% of the word ends" in words, words
    assert "Layer 1 marks some word ends" not in words
    # where no layer below marks words, the one above is not said to sit above "the word layer"
    before = browser.execute_script("return window.lens.rendered")
    Select(browser.find_element(By.ID, "model")).select_by_value("ptb-3x256-zbias05")
    wait_for(browser, f"return window.lens.rendered > {before} && window.lens.last.a.model === 'ptb-3x256-zbias05'")
    figures = browser.execute_script("return document.getElementById('model-figures').textContent")
    assert "Above layer 1 it marks no coarser level" in figures and "the word layer" not in figures, figures
    assert not severe_errors(browser)
