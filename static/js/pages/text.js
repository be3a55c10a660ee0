// The text page: type, and every view follows. The server computes the traces (continuing from
// its cached prefix); this module asks for them (one request at a time, stale answers dropped)
// and hands them to the views, which draw only what changed.
import { loadModels, postText } from "../lib/api.js";
import { CursorSync, bindExport, bindShare, bindThreshold, exportable, fillModels } from "../lib/controls.js";
import { layerRoles, textModelSentence, unreadable } from "../lib/describe.js";
import { Live } from "../lib/live.js";
import { $, busy, status } from "../lib/page.js";
import { fromHash, toHash } from "../lib/permalink.js";
import { boundaries, isSpace, marks, pct, segmentIds } from "../lib/scoring.js";
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
const HINT = "Hover a step (or tap it) to see every layer's z, z~, operation, ‖h‖ and gate there.";

const state = { model: "", compare: "", text: "", threshold: 0.5, layer: null };
const lens = window.lens;
let models = [], strips, reading, live, cursor;
let shown = [];                 // [{name, res, z(i), roles}] drawn now
let typedAt = null;             // when the oldest keystroke not yet drawn happened
let hashTimer = null;

const modelOf = (name) => models.find((m) => m.name === name);
const rolesOf = (name) => (modelOf(name) ? layerRoles(modelOf(name)) : []);

// --- asking --------------------------------------------------------------------------------
function ask({ typing = false } = {}) {
  if (typing) saveHashSoon(); else saveHash();
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
  const [a, b] = await Promise.all([postText(input.text, input.model, { signal }),
                                    input.compare ? postText(input.text, input.compare, { signal }) : null]);
  performance.measure("lens:request", { start: t0, end: performance.now() });
  return { a, b, ms: performance.now() - t0 };
}

// the first step whose values may differ from the last answer's: the gold and surprisal-peak
// rows look one character (and any spaces) ahead
function firstChange(prev, next) {
  if (!prev || prev.model !== next.model) return 0;
  const n = Math.min(prev.chars.length, next.chars.length);
  let i = 0;
  while (i < n && prev.chars[i] === next.chars[i]) i += 1;
  while (i > 0 && isSpace(next.chars[i - 1])) i -= 1;
  return Math.max(0, i - 1);
}

function answered({ a, b, ms }, input) {
  const prev = lens.last || {};
  const changedFrom = Math.min(firstChange(prev.a, a), b ? firstChange(prev.b, b) : Infinity);
  const same = b && b.chars.length === a.chars.length;
  lens.last = { a, b: same ? b : null };
  draw({ changedFrom, full: Boolean(prev.b) !== Boolean(lens.last.b) });
  const unk = a.unknown.filter(Boolean).length;
  status(`${a.chars.length} characters read` + (unk ? `, ${unk} unknown to the model` : "")
         + ` · ${ms.toFixed(0)} ms` + (a.reused_prefix ? ` (${a.reused_prefix} from cache)` : "")
         + (b && !same ? ` · ${state.compare} reads this text differently, so it is not shown beside it` : ""));
  $("reading-note").textContent = unreadable(a, input.text);
}

// --- drawing ---------------------------------------------------------------------------------
function entry(name, res) {
  const z = res.layers.map((l) => boundaries(l, state.threshold));
  const typed = res.source_spans.map(([s, t]) => state.text.slice(s, t));
  return { name, res, z: (i) => z[i], roles: rolesOf(name), typed };
}

function draw({ changedFrom = 0, full = false } = {}) {
  const { a, b } = lens.last;
  if (!a) return;
  const t0 = performance.now();
  shown = [entry(state.model, a), ...(b ? [entry(state.compare, b)] : [])];
  document.body.classList.toggle("comparing", Boolean(b));
  if (b) {
    for (const h of document.querySelectorAll("#strips .model-a")) h.textContent = `: ${state.model}`;
    for (const h of document.querySelectorAll("#strips .model-b")) h.textContent = `${state.compare}, on the same characters`;
  }
  strips.show(shown, { threshold: state.threshold, changedFrom, full });
  drawReading();
  exportable(true);
  if (cursor.t === null || cursor.t >= a.chars.length) cursor.set(firstHit(shown[0]));
  else cursor.set(cursor.t);
  performance.measure("lens:draw", { start: t0, end: performance.now() });
}

// the chosen layer's segments over the typed text, and its precision and recall on it
function readingOf(e) {
  const res = e.res, k = layerIndex(e), z = k === null ? res.gold_word_ends : e.z(k);
  const m = marks(z, res.chars, res.gold_word_ends);
  const pieces = e.typed;
  return { k, z, m, pieces, seg: segmentIds(z), marks: m.marks };
}

function drawReading() {
  const e = shown[0], r = readingOf(e);
  reading.render(r.pieces, r.seg, r.marks, e.res.unknown);
  reading.window(strips.viewport.window());
  const name = r.k === null ? "" : `layer ${r.k + 1}`;
  $("reading-title").textContent = name ? `The text as ${name} cuts it` : "The text";
  $("scores").textContent = r.k === null ? "" : `At threshold ${state.threshold.toFixed(2)}, ${name} fires on `
    + `${pct(r.m.recall)} of this text's ${r.m.golds} word ends (recall) and ${pct(r.m.precision)} of its `
    + `${r.m.fired} firings are word ends (precision).` + otherLayers(e, r.k);
}

function otherLayers(e, chosen) {
  const parts = [];
  e.res.layers.forEach((l, i) => {
    if (!l.z || i === chosen) return;
    const m = marks(e.z(i), e.res.chars, e.res.gold_word_ends);
    parts.push(`layer ${l.layer}: recall ${pct(m.recall)}, precision ${pct(m.precision)}`);
  });
  return parts.length ? ` Others: ${parts.join("; ")}.` : "";
}

function layerIndex(e) {
  const k = state.layer;
  if (k !== null && e.res.layers[k] && e.res.layers[k].z) return k;
  const found = e.res.layers.findIndex((l) => l.z);
  return found >= 0 ? found : null;
}

// where the inspector opens: the chosen layer's first firing that marks a word end
function firstHit(e) {
  const t = readingOf(e).marks.indexOf("hit");
  return t >= 0 ? t : 0;
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

function drawn({ cleared } = {}) {
  lens.rendered += 1;
  if (cleared || typedAt === null || !lens.last.a) return;
  const start = typedAt;
  typedAt = null;
  // after the browser has painted this frame
  requestAnimationFrame(() => setTimeout(() => performance.measure("lens:keystroke", { start, end: performance.now() }), 0));
}

function showStep(t) {
  if (!shown.length || t === null) return;
  const res = shown[0].res, span = res.source_spans[t];
  inspector.render($("inspector"), shown, t, span ? state.text.slice(span[0], span[1]) : null);
}

// --- the model line and the layer list ---------------------------------------------------------
function describe() {
  const m = modelOf(state.model);
  if (!m) return;
  const { sentence, details } = textModelSentence(m);
  $("model-info").textContent = sentence;
  $("model-figures").replaceChildren(...details.map((d) => Object.assign(document.createElement("li"), { textContent: d })));
  const roles = layerRoles(m), select = $("layer");
  select.replaceChildren();
  roles.forEach((r, i) => { if (m.detectors[i]) select.add(new Option(`layer ${r.layer}${r.name ? ` (${r.name})` : ""}`, String(i))); });
  if (state.layer === null || !m.detectors[state.layer]) {
    const word = roles.find((r) => r.name === "word detector");
    state.layer = word ? word.layer - 1 : Math.max(0, m.detectors.lastIndexOf(true));
  }
  select.value = String(state.layer);
}

// --- permalink -------------------------------------------------------------------------------
function saveHash() {
  clearTimeout(hashTimer);
  history.replaceState(null, "", toHash(state));
}

function saveHashSoon() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(saveHash, 400);
}

function loadHash() {
  try {
    const s = fromHash(location.hash);
    if (!s) return false;
    Object.assign(state, { text: s.text || "", compare: s.compare || "", threshold: s.threshold ?? 0.5,
                           layer: Number.isInteger(s.layer) ? s.layer : null });
    if (s.model && modelOf(s.model)) state.model = s.model;
    return true;
  } catch (e) {
    status("The link could not be read; starting afresh.", true);
    return false;
  }
}

function embedSnippet() {
  const src = `${location.origin}/embed${toHash(state)}`;
  return `<iframe src="${src}" width="900" height="420" style="border:0" title="HM-LSTM boundaries"></iframe>`;
}

// --- export ------------------------------------------------------------------------------------
function exportParts() {
  const e = shown[0];
  const parts = [{ title: `HM-LSTM Boundary Lens · ${state.model}${shown[1] ? ` and ${state.compare}` : ""}`,
                   lines: [$("model-info").textContent, $("reading-note").textContent].filter(Boolean) }];
  if (e) {
    const r = readingOf(e);
    parts.push({ title: $("reading-title").textContent, lines: [$("scores").textContent], reading: r });
    parts.push({ title: "The whole text (the detail window below shows a part of it)", plot: $("minimap") });
    for (const el of document.querySelectorAll("#strips .strip")) {
      if (!el.offsetParent || (!el.layout && !el.children.length)) continue;    // hidden, or empty
      parts.push(el.layout ? { title: el.dataset.title, plot: el } : { title: el.dataset.title, cells: el });
    }
  }
  return { parts, width: $("strips").clientWidth };
}

// --- start ---------------------------------------------------------------------------------------
export async function start() {
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
    onDrawn: (info) => { if (info.win && reading) reading.window(info.win); drawn(info); },
  }).start();
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
  fillModels([$("model"), $("compare")], models, state.model);
  for (const name of Object.keys(EXAMPLES)) $("examples").add(new Option(name, name));
  const linked = loadHash();
  if (!models.length) {
    status("No text checkpoint is loaded on this server.", true);
    return;
  }
  if (!linked) state.text = EXAMPLES.Words;          // a newcomer lands on an analysed example
  $("model").value = state.model;
  $("compare").value = state.compare;
  $("text").value = state.text;
  describe();
  bindThreshold(state.threshold, (v) => {
    state.threshold = v;
    saveHash();
    draw({ full: true });
  });
  $("text").addEventListener("input", (ev) => {
    if (typedAt === null) typedAt = ev.timeStamp;
    state.text = $("text").value;
    ask({ typing: true });
  });
  $("model").addEventListener("change", () => { state.model = $("model").value; describe(); ask(); });
  $("compare").addEventListener("change", () => { state.compare = $("compare").value; ask(); });
  $("layer").addEventListener("change", () => { state.layer = Number($("layer").value); saveHash(); if (shown.length) drawReading(); });
  $("examples").addEventListener("change", () => {
    const t = EXAMPLES[$("examples").value];
    if (t) { state.text = $("text").value = t; ask(); }
  });
  bindShare(() => { saveHash(); return location.href; }, embedSnippet);
  bindExport("lens", exportParts, () => ({ text: state.text, model: state.model, compare: state.compare || null,
                                           threshold: state.threshold, responses: lens.last }));
  inspector.clear($("inspector"), HINT);
  exportable(false);
  ask();
}
