// The text page: type, and every view follows. The server computes the traces (continuing from
// its cached prefix); this module asks for them (one request at a time, stale answers dropped)
// and hands them to the views, which draw only what changed. A spaceless checkpoint (DESIGN.md 8)
// reads the text without its spaces: the page then shows what it read, the typed spaces as the
// gold, the baselines beside the layers, and scores each layer at its lag, line by line.
import { drawnText, loadModels, postText, typedPiece } from "../lib/api.js";
import { CursorSync, bindExport, bindShare, bindThreshold, exportable, fillModels, shareable } from "../lib/controls.js";
import { bestLayer, hierarchyOf, layerLags, layerRoles, textModelSentence, unreadable, wordRole } from "../lib/describe.js";
import { Live } from "../lib/live.js";
import { $, busy, linkProblem, measuredHeight, sayWithNext, status } from "../lib/page.js";
import { fromHash, replaced, toHash } from "../lib/permalink.js";
import { marks, pct, segmentIds, spacelessMarks } from "../lib/scoring.js";
import { Strips } from "../lib/strips.js";
import * as disagree from "../views/disagree.js";
import * as inspector from "../views/inspector.js";
import { Brush } from "../views/minimap.js";
import * as ruler from "../views/ruler.js";
import { Reading } from "../views/reading.js";
import * as segments from "../views/segments.js";
import * as soft from "../views/soft.js";
import * as traces from "../views/traces.js";
import * as zgrid from "../views/zgrid.js";

export const EXAMPLES = {
  "Words": "the cat sat on the mat and the dog watched it from the door",
  "A market day": "in the morning we walked to the market to buy fresh bread and a few apples",
  "Business news": "the company said its profit rose 12 percent in the third quarter as sales grew",
  "Numbers and capitals": "New York, 1,250 shares rose to $ 3.50 on Monday.",
  "Nonsense words": "blorft quandel zimp arrowing the plinth of unmarked dactyls",
};
// our own sentences typed without spaces, offered for a checkpoint that reads text without them
export const NO_SPACES = {
  "No spaces: the cat": "thecatsatonthemat",
  "No spaces: a market day": "inthemorningwewalkedtothemarkettobuyfreshbreadandafewapples",
  "No spaces: the dog": "thedogwatchedthecatfromthedoorandthenranaway",
};
const SPACED_NOTE = " (its spaces become the gold)";
const HINT = "Hover a step (or tap it) to see every layer's z, z~, operation, ‖h‖ and gate there.";

const state = { model: "", compare: "", text: "", threshold: 0.5, layer: null };
const lens = window.lens;
let models = [], strips, reading, live, cursor;
let shown = [];                 // [{name, res, z(i), roles}] drawn now
let typedAt = null;             // when the oldest keystroke not yet drawn happened
let allFrom = null;             // the same keystroke, until the views off screen are drawn too
let hashTimer = null;

const modelOf = (name) => models.find((m) => m.name === name);
const rolesOf = (name) => (modelOf(name) ? layerRoles(modelOf(name)) : []);
const lagsOf = (name) => (modelOf(name) ? layerLags(modelOf(name)) : []);
const spaceless = (res) => res.spaces === false;

// --- asking --------------------------------------------------------------------------------
function ask({ typing = false } = {}) {
  if (typing) saveHashSoon(); else saveHash();
  shareable(state.text.length > 0);
  if (!state.text) {
    live.want("", null);
    clearViews();
    return;
  }
  const input = { text: state.text, model: state.model, compare: state.compare };
  live.want(JSON.stringify(input), input);
}

async function run(input, signal) {
  const t0 = performance.now();
  lens.requests = (lens.requests || 0) + 1;
  // what the page holds for each model: the server sends only what may have changed since
  const [a, b] = await Promise.all([postText(input.text, input.model, { signal, held: lens.last.a }),
                                    input.compare ? postText(input.text, input.compare, { signal, held: lens.last.b }) : null]);
  performance.measure("lens:request", { start: t0, end: performance.now() });
  return { a, b, ms: performance.now() - t0 };
}

// the first step whose values may differ from the last answer's: the layers change only from the
// first new character on; the gold and the baselines look ahead (the next character, the spaces
// typed after it, a unigram segmenter the whole line), so they are compared as they are; a layer
// read at lag 1 marks a boundary one step before it fires
const lookingAhead = (r) => [r.gold_word_ends, ...(r.baseline_rows || []).map((b) => b.z),
                             r.surprisal_boundaries ? r.surprisal_boundaries.z : null];


// (where the model read a character as unknown the typed one is shown, so it is compared too)
function firstChange(prev, next, prevText, nextText) {
  if (!prev || prev.model !== next.model) return 0;
  const n = Math.min(prev.chars.length, next.chars.length);
  let i = 0;
  while (i < n && prev.chars[i] === next.chars[i]
         && (!next.unknown[i] || typedPiece(prevText, prev, i) === typedPiece(nextText, next, i))) i += 1;
  const a = lookingAhead(prev), b = lookingAhead(next);
  if (a.length !== b.length) return 0;
  a.forEach((row, k) => {
    if (!row !== !b[k]) { i = 0; return; }
    if (!row) return;
    let j = 0;
    while (j < i && row[j] === b[k][j]) j += 1;
    i = Math.min(i, j);
  });
  return Math.max(0, i - 1);
}

// the server steps a model only past what it read before: say how much it reused, where this page
// held an answer of that model to build on (the server counts it only as far as the answer held agrees
// with this one: app/analysis.py)
function reusedNote(answers, held) {
  const built = answers.filter((r, i) => r && held[i] && held[i].model === r.model);
  const reused = (r) => (r.reused_prefix >= r.chars.length ? `all ${r.chars.length}` : r.reused_prefix ? `the first ${r.reused_prefix}` : "no")
    + ` character${r.reused_prefix === 1 ? "" : "s"}`;
  if (!built.some((r) => r.reused_prefix)) return "";
  return answers[1] ? ` (reused from the last run: ${built.map((r) => `${r.model}: ${reused(r)}`).join(", ")})`
    : ` (${reused(built[0])} reused from the last run)`;
}

function answered({ a, b, ms }, input) {
  if (!a.chars.length) {                 // only spaces, given to a model that reads without them
    clearViews();
    status(`${a.model} reads text without its spaces, and this text has nothing else: type some letters.`);
    return;
  }
  const prev = lens.last || {};
  const changedFrom = Math.min(firstChange(prev.a, a, prev.text, input.text),
                               b ? firstChange(prev.b, b, prev.text, input.text) : Infinity);
  const same = b && b.chars.length === a.chars.length;
  lens.last = { a, b: same ? b : null, text: input.text };   // text: what the drawn answer is for
  draw({ changedFrom, full: Boolean(prev.b) !== Boolean(lens.last.b) });
  followCaret(a);
  const unk = a.unknown.filter(Boolean).length;
  const dropped = spaceless(a) ? (input.text.match(/[^\S\n]/g) || []).length : 0;
  status(`${a.chars.length} characters read` + (dropped ? ` (the ${dropped} space${dropped > 1 ? "s" : ""} you typed left out)` : "")
         + (unk ? `, ${unk} unknown to the model` : "")
         + ` · ${ms.toFixed(0)} ms` + reusedNote([a, b], [prev.a, prev.b])
         + (b && !same ? ` · ${state.compare} reads this text differently, so it is not shown beside it` : ""));
  $("reading-note").textContent = unreadable(a, input.text);
}

// typing inside a long text, the detail window goes where the caret is (as an editor scrolls to it),
// and the inspector with it
function followCaret(res) {
  const box = $("text"), spans = res.input_spans;
  if (document.activeElement !== box || lens.last.text !== box.value || !spans.length) return;
  let t = spans.length - 1;
  while (t > 0 && (!spans[t] || spans[t][0] >= box.selectionEnd)) t -= 1;
  const { a, b } = strips.viewport.window();
  if (t < a || t >= b) { strips.centreOn(t); cursor.set(t); }
}

// --- drawing ---------------------------------------------------------------------------------
// the answer as the strips draw it (api.js drawnText), with the layers' roles and hierarchy; lags from
// the checkpoint's metrics (spaceless only)
function entry(name, res) {
  const lags = spaceless(res) ? lagsOf(name) : res.layers.map(() => 0);
  const hierarchy = modelOf(name) ? hierarchyOf(modelOf(name)) : null;
  return { ...drawnText(res, lens.last.text, state.threshold, lags), name, roles: rolesOf(name), hierarchy };
}

function draw({ changedFrom = 0, full = false } = {}) {
  const { a, b } = lens.last;
  if (!a) return;
  const t0 = performance.now();
  shown = [entry(state.model, a), ...(b ? [entry(state.compare, b)] : [])];
  document.body.classList.toggle("comparing", Boolean(b));
  $("phrase-note").hidden = !shown.some((e) => e.hierarchy && e.hierarchy.holds);
  if (b) {
    for (const h of document.querySelectorAll("#strips .model-a")) h.textContent = `: ${state.model}`;
    for (const h of document.querySelectorAll("#strips .model-b")) h.textContent = `${state.compare}, on the same characters`;
  }
  strips.show(shown, { threshold: state.threshold, changedFrom, full });
  drawReading();
  exportable(true);
  inspectWithin(strips.viewport.window());
  performance.measure("lens:draw", { start: t0, end: performance.now() });
}

// how a row's boundaries meet the gold: with spaces the tolerant way, without them line by line
function scored(e, z) {
  const res = e.res;
  return spaceless(res) ? spacelessMarks(z, res.chars, res.gold_word_ends) : marks(z, res.chars, res.gold_word_ends);
}

// the chosen layer's segments over the typed text (without spaces: over what the model read),
// and its precision and recall on it
function readingOf(e) {
  const res = e.res, k = layerIndex(e), z = k === null ? res.gold_word_ends : spaceless(res) ? e.cut(k) : e.z(k);
  const m = scored(e, z);
  const pieces = e.typed;
  return { k, z, m, pieces, seg: segmentIds(z), marks: m.marks, unknown: res.unknown };
}

function drawReading() {
  const e = shown[0], r = readingOf(e);
  reading.render(r.pieces, r.seg, r.marks, r.unknown);
  reading.window(strips.viewport.window());
  const name = r.k === null ? "" : `layer ${r.k + 1}`;
  if (spaceless(e.res)) {
    $("reading-title").textContent = name ? `What the model read, as ${name} cuts it` : "What the model read";
    $("scores").textContent = r.k === null ? "" : spacelessScores(e, r, name) + comparedScores();
    return;
  }
  $("reading-title").textContent = name ? `The text as ${name} cuts it` : "The text";
  $("scores").textContent = r.k === null ? "" : `At threshold ${state.threshold.toFixed(2)}, ${name} fires on `
    + `${pct(r.m.recall)} of this text's ${r.m.golds} word ends (recall) and ${pct(r.m.precision)} of its `
    + `${r.m.fired} firings are word ends (precision).` + otherLayers(e, r.k) + comparedScores();
}

// the compared model's layers on the same text, so that a comparison has numbers beside its picture
function comparedScores() {
  const parts = shown[1] ? layerScores(shown[1]) : [];
  return parts.length ? ` ${shown[1].name}: ${parts.join("; ")}.` : "";
}

// without spaces: boundaries inside lines (line ends are given), words cut out exactly, and the
// same for the other layers and the baselines on this text
function spacelessScores(e, r, name) {
  const lag = e.lags[r.k] === 1 ? " (read at lag 1: a firing marks the boundary before its letter)" : "";
  const at = `At threshold ${state.threshold.toFixed(2)}, ${name}${lag}`;
  if (!r.m.golds) {
    return `${at} cuts this text into ${r.m.token.predicted} pieces. You typed no spaces inside its lines, so there `
      + "is no gold to score it against: type it with its spaces (the model still reads it without them).";
  }
  return `${at} finds ${pct(r.m.recall)} of the ${r.m.golds} word boundaries you typed (recall), and ${pct(r.m.precision)} `
    + `of its ${r.m.fired} boundaries are word boundaries (precision); it cuts out ${r.m.token.correct} of the `
    + `${r.m.token.gold} words exactly (word-token F1 ${r.m.token.f1 === null ? "–" : r.m.token.f1.toFixed(2)}).`
    + otherLayers(e, r.k) + baselinesHere(e);
}

// each detector's recall and precision on this text, but the one `except`'s
function layerScores(e, except = null) {
  const parts = [];
  e.res.layers.forEach((l, i) => {
    if (!l.z || i === except) return;
    const m = scored(e, spaceless(e.res) ? e.cut(i) : e.z(i));
    parts.push(`layer ${l.layer}: recall ${pct(m.recall)}, precision ${pct(m.precision)}`);
  });
  return parts;
}

function otherLayers(e, chosen) {
  const parts = layerScores(e, chosen);
  return parts.length ? ` Others: ${parts.join("; ")}.` : "";
}

function baselinesHere(e) {
  const parts = (e.res.baseline_rows || []).map((b) => {
    const m = scored(e, b.z);
    return `${b.name}: recall ${pct(m.recall)}, precision ${pct(m.precision)}`;
  });
  return parts.length ? ` Baselines: ${parts.join("; ")}.` : "";
}

function layerIndex(e) {
  const k = state.layer;
  if (k !== null && e.res.layers[k] && e.res.layers[k].z) return k;
  const found = e.res.layers.findIndex((l) => l.z);
  return found >= 0 ? found : null;
}

// the inspector stays in the detail window; once its step left it (a paste, a long text typed on, the
// overview moved), it goes to the window's first hit
function inspectWithin(win, options) {
  if (shown.length) cursor.keepWithin(win, shown[0].res.chars.length, () => firstHit(shown[0], win), options);
}

// where the inspector opens: the chosen layer's first firing in the window [a, b) that marks a word
// end, else the window's last step
function firstHit(e, { a, b }) {
  const marks = readingOf(e).marks, end = Math.min(b, marks.length);
  const t = marks.indexOf("hit", a);
  return t >= 0 && t < end ? t : Math.max(0, end - 1);
}

function clearViews() {
  lens.last = {};
  shown = [];
  strips.clear();
  reading.clear();
  cursor.t = null;
  inspector.clear($("inspector"), HINT);
  $("scores").textContent = "";
  $("reading-note").textContent = "";
  exportable(false);
  document.body.classList.remove("comparing");
  status("Type something to see its boundaries.");
}

// after the browser has painted this frame
const afterPaint = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));

// what a keystroke costs the person: until the views on screen show its answer
function shownNow() {
  if (typedAt === null || !lens.last.a) return;
  const start = typedAt;
  typedAt = null;
  allFrom = start;
  afterPaint(() => performance.measure("lens:keystroke", { start, end: performance.now() }));
}

// every view drawn, those off screen too (they follow when the page is idle)
function drawn({ cleared } = {}) {
  lens.rendered += 1;
  const start = allFrom;
  allFrom = null;
  if (cleared || start === null) return;
  afterPaint(() => performance.measure("lens:all-views", { start, end: performance.now() }));
}

function showStep(t) {
  if (!shown.length || t === null) return;
  inspector.render($("inspector"), shown, t, typedPiece(lens.last.text, shown[0].res, t));
}

// --- the model line and the layer list ---------------------------------------------------------
function describe() {
  const m = modelOf(state.model);
  if (!m) return;
  const { sentence, details } = textModelSentence(m);
  $("model-info").textContent = sentence;
  document.body.classList.toggle("spaceless", m.spaces === false);
  const spacelessModel = models.find((x) => x.spaces === false && x.task === "text");
  if (m.spaces === false) {
    $("reading-mode").textContent = "This model reads your text without its spaces (it was trained that way); the spaces you typed are the gold row.";
  } else if (spacelessModel) {
    // with spaces a detector can find words by reading the space: point at the real test
    const tryIt = Object.assign(document.createElement("button"), { type: "button", id: "try-spaceless",
      textContent: `Try ${spacelessModel.name}` });
    tryIt.addEventListener("click", () => {
      $("model").value = spacelessModel.name;
      $("model").dispatchEvent(new Event("change"));
      $("model").focus();                            // the button is gone: the focus goes where the choice now shows
    });
    $("reading-mode").replaceChildren("This model sees the spaces, so finding words is easy for it. The real test is text "
      + `without spaces: ${spacelessModel.name} reads it that way and finds the words itself. `, tryIt);
  }
  $("reading-mode").hidden = m.spaces !== false && !spacelessModel;
  fillExamples(m);
  fillCompare(m);
  $("model-figures").replaceChildren(...details.map((d) => Object.assign(document.createElement("li"), { textContent: d })));
  const roles = layerRoles(m), select = $("layer");
  select.replaceChildren();
  roles.forEach((r, i) => { if (m.detectors[i]) select.add(new Option(`layer ${r.layer}${r.name ? ` (${r.name})` : ""}`, String(i))); });
  if (state.layer === null || !m.detectors[state.layer]) {
    const word = wordRole(roles);
    state.layer = m.spaces === false ? bestLayer(m) : word ? word.layer - 1 : Math.max(0, m.detectors.lastIndexOf(true));
  }
  select.value = String(state.layer);
}

// the compare menu: the other checkpoints; one that reads text another way (without its spaces, or
// with them) is listed but cannot be chosen, since its positions are not this model's
function fillCompare(m) {
  const select = $("compare");
  while (select.options.length > 1) select.remove(1);
  for (const other of models) {
    if (other.name === m.name) continue;
    const apart = (other.spaces === false) !== (m.spaces === false);
    const how = other.spaces === false ? "without" : "with";
    const label = apart ? `${other.name} (${how} spaces)` : other.name;
    select.add(Object.assign(new Option(label, other.name), {
      disabled: apart, title: apart ? `${other.name} reads text ${how} its spaces: its positions are not this model's` : "" }));
  }
  if (![...select.options].some((o) => o.value === state.compare && !o.disabled)) state.compare = "";
  select.value = state.compare;
  // nothing that can be chosen: the menu says so rather than look usable
  const none = ![...select.options].some((o) => o.value && !o.disabled);
  select.disabled = none;
  select.title = none ? `No other model reads text ${m.spaces === false ? "without" : "with"} its spaces, as ${m.name} does` : "";
}

// the examples: for a checkpoint that reads without spaces, our sentences typed without them
// first, then the spaced ones (whose spaces become the gold)
function examples(m) {
  const out = {};
  if (m && m.spaces === false) Object.assign(out, NO_SPACES);
  for (const [name, text] of Object.entries(EXAMPLES)) out[m && m.spaces === false ? name + SPACED_NOTE : name] = text;
  return out;
}

function fillExamples(m) {
  const select = $("examples");
  while (select.options.length > 1) select.remove(1);
  for (const name of Object.keys(examples(m))) select.add(new Option(name, name));
  select.value = "";
}

// --- permalink -------------------------------------------------------------------------------
// the link's fragment: the page's state, the detail window and the step inspected
const linkHash = () => toHash({ ...state, window: strips.placement(), step: cursor.t });

function saveHash() {
  clearTimeout(hashTimer);
  history.replaceState(null, "", linkHash());
}

function saveHashSoon() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(saveHash, 400);
}

// the link's state; null when the page came from none, {unreadable} from one that could not be read
function loadHash() {
  try {
    const s = fromHash(location.hash);
    if (!s) return null;
    Object.assign(state, { text: s.text || "", compare: s.compare || "", threshold: s.threshold ?? 0.5,
                           layer: s.layer ?? null });
    if (s.model && modelOf(s.model)) state.model = s.model;
    strips.restoreLater(s.window, s.step, linkProblem);
    return s;
  } catch (e) {
    return { unreadable: true };
  }
}

// the embed's snippet at the height the embed takes at its width (its rows depend on the models, on how
// they read the text and on its length), measured by drawing it unseen; a guess if that fails
const EMBED_WIDTH = 900;
async function embedSnippet() {
  const src = `${location.origin}/embed${linkHash()}`;
  const height = await measuredHeight(src, EMBED_WIDTH).catch(() => (lens.last.b ? 640 : 420));
  return `<iframe src="${src}" width="${EMBED_WIDTH}" height="${height}" style="border:0" title="HM-LSTM boundaries"></iframe>`;
}

// --- export ------------------------------------------------------------------------------------
// an element's words without its buttons' labels (the reading-mode note holds a "Try ..." button)
const wordsOf = (el) => (el.hidden ? "" : [...el.childNodes].filter((n) => n.nodeName !== "BUTTON").map((n) => n.textContent).join("").trim());

function exportParts() {
  const e = shown[0];
  strips.drawAll();
  const parts = [{ title: `HM-LSTM Boundary Lens · ${state.model}${shown[1] ? ` and ${state.compare}` : ""}`,
                   lines: [$("model-info").textContent, wordsOf($("reading-mode")), $("reading-note").textContent].filter(Boolean) }];
  if (e) {
    const r = readingOf(e);
    parts.push({ title: $("reading-title").textContent, lines: [$("scores").textContent], reading: r });
    parts.push({ legend: document.querySelector(".reading-panel .legend") });
    parts.push({ title: "The whole text (the detail window below shows a part of it)", plot: $("minimap") });
    const whose = { a: state.model, b: state.compare };
    for (const el of document.querySelectorAll("#strips .strip")) {
      if (!el.offsetParent || (!el.layout && !el.children.length)) continue;    // hidden, or empty
      const title = shown[1] && el.dataset.model ? `${el.dataset.title}, ${whose[el.dataset.model]}` : el.dataset.title;
      parts.push(el.layout ? { title, plot: el } : { title, cells: el });
    }
  }
  return { parts, width: $("strips").clientWidth };
}

// the answers as the API gives them (without what the page keeps beside them: `sent`, `input_spans`)
function answers() {
  const plain = (r) => { if (!r) return null; const { sent, input_spans, ...rest } = r; return rest; };
  return lens.last.a ? { a: plain(lens.last.a), b: plain(lens.last.b), text: lens.last.text } : null;
}

// --- start ---------------------------------------------------------------------------------------
// The explainer is open for a newcomer where the text box still shows on the first screen beside it
// (on a phone, or a laptop's short screen, it would push the box below), closed elsewhere; once the
// person opens or closes it, it stays as they left it. Checked again when the page's width changes, or
// its height by more than a phone's bars change it as the page scrolls (unless the text box is being typed in).
const BARS_PX = 160;           // more than a phone's address and tool bars together
function fitExplainer() {
  const explainer = $("explainer");
  if (explainer.dataset.chosen) return;
  explainer.open = true;
  explainer.open = $("text").getBoundingClientRect().bottom + scrollY <= innerHeight;
}

export async function start() {
  fitExplainer();
  $("explainer").querySelector("summary").addEventListener("click", () => { $("explainer").dataset.chosen = "yes"; });
  // once the resizing has settled (a phone turning reports a passing size on the way)
  let width = innerWidth, height = innerHeight, settling = 0;
  addEventListener("resize", () => {
    clearTimeout(settling);
    settling = setTimeout(() => {
      // a keyboard coming up under the text box is no new screen: the box must not jump while typed in
      const heightChanged = Math.abs(innerHeight - height) > BARS_PX && document.activeElement !== $("text");
      if (innerWidth !== width || heightChanged) fitExplainer();
      width = innerWidth;
      height = innerHeight;
    }, 150);
  });
  strips = new Strips({
    column: $("strips"), map: $("minimap"), cursor: $("cursor"), width: $("window-width"),
    brush: new Brush($("brush"), (a) => strips.moveTo(a)),
    strips: [
      { el: $("zgrid"), view: zgrid }, { el: $("ruler"), view: ruler }, { el: $("zgrid-b"), view: zgrid, of: 1 }, { el: $("disagree"), view: disagree, of: "pair" },
      { el: $("soft"), view: soft }, { el: $("soft-b"), view: soft, of: 1 },
      { el: $("segments"), view: segments }, { el: $("segments-b"), view: segments, of: 1 },
      { el: $("traces"), view: traces }, { el: $("traces-b"), view: traces, of: 1 },
      { el: $("ruler-end"), view: ruler },
    ],
    onStep: (t) => cursor.set(t),
    onShown: (info) => { if (reading) reading.window(info.win); inspectWithin(info.win, { again: false }); shownNow(); saveHashSoon(); },
    onDrawn: drawn,
  }).start();
  lens.strips = strips;
  reading = new Reading($("reading"), (t) => { strips.centreOn(t); cursor.set(t); });
  reading.start();
  cursor = new CursorSync((t) => strips.point(t), showStep, (t) => reading.point(t));
  live = new Live({ run, onResult: answered, onBusy: busy,
                    onError: (e) => status(e.message, true) });

  let list;
  try {
    list = await loadModels("text");
  } catch (e) {
    status(e.message, true);
    return;
  }
  models = list.models;
  state.model = modelOf(document.body.dataset.defaultModel) ? document.body.dataset.defaultModel : list.default;
  fillModels([$("model")], models, state.model);
  const link = loadHash(), linked = link && !link.unreadable;
  if (!models.length) {
    status("No text checkpoint is loaded on this server.", true);
    return;
  }
  if (!state.text) state.text = EXAMPLES.Words;      // a newcomer (or a link without a text it can use) lands on an example
  $("model").value = state.model;
  $("text").value = state.text;
  describe();                                        // fills the compare menu too
  if (link) linkProblem(linked ? [...link.ignored, ...replaced(link, state, ["model", "compare", "layer"])] : null);
  fitExplainer();                                    // with the model's lines above the text box
  bindThreshold(state.threshold, (v) => {
    state.threshold = v;
    saveHash();
    draw({ full: true });
  });
  $("text").addEventListener("beforeinput", (ev) => {
    // the box cuts a paste (or drop) past its limit without a word: say by how much
    const box = $("text"), incoming = ev.data ?? (ev.dataTransfer ? ev.dataTransfer.getData("text/plain") : "");
    const room = box.maxLength - box.value.length + (box.selectionEnd - box.selectionStart);
    if (box.maxLength < 0 || incoming.length <= room) return;
    const cut = `the box holds ${box.maxLength} characters, so the last ${incoming.length - Math.max(room, 0)} of what you put in were left out`;
    if (room > 0) sayWithNext(`${cut.charAt(0).toUpperCase()}${cut.slice(1)}.`);
    else status(`Nothing was added: ${cut}.`);
  });
  $("text").addEventListener("input", (ev) => {
    if (typedAt === null) typedAt = ev.timeStamp;
    state.text = $("text").value;
    if (examples(modelOf(state.model))[$("examples").value] !== state.text) $("examples").value = "";   // edited
    ask({ typing: true });
  });
  $("model").addEventListener("change", () => { state.model = $("model").value; state.layer = null; describe(); ask(); });
  $("compare").addEventListener("change", () => { state.compare = $("compare").value; ask(); });
  $("layer").addEventListener("change", () => { state.layer = Number($("layer").value); saveHash(); if (shown.length) drawReading(); });
  $("examples").addEventListener("change", () => {
    const t = examples(modelOf(state.model))[$("examples").value];
    if (t) { state.text = $("text").value = t; ask(); }
  });
  bindShare(() => { saveHash(); return location.href; }, embedSnippet);
  bindExport("lens", exportParts, () => ({ text: state.text, model: state.model, compare: state.compare || null,
                                           threshold: state.threshold, responses: answers() }));
  inspector.clear($("inspector"), HINT);
  exportable(false);
  ask();
}
