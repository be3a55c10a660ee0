// The handwriting page: draw, and after each stroke every view follows; the pad itself is
// coloured by the chosen layer's segments, and the paper's Figure 5 sets the ink cut by its
// pen-ups beside the ink cut by that layer. The server normalises the ink the way the
// checkpoint was trained. A plain LSTM checkpoint (no boundary detector) can be compared by its
// NLL per point: the same strokes go to it too and its NLL is a second line in the NLL strip.
import { analyse, inkExample, loadModels } from "../lib/api.js";
import { CursorSync, bindExport, bindShare, bindThreshold, exportable, fillModels, shareable } from "../lib/controls.js";
import { flatLayerNotes, inkModelSentences, inkSummary, isLstm, nllCaption } from "../lib/describe.js";
import { Live } from "../lib/live.js";
import { Pad } from "../lib/pad.js";
import { $, busy, linkProblem, status, touchDevice } from "../lib/page.js";
import { fromHash, replaced, toHash } from "../lib/permalink.js";
import { frame, listenOnce } from "../lib/plot.js";
import { boundaries, segmentIds } from "../lib/scoring.js";
import { pack, unpack } from "../lib/strokes.js";
import { Strips } from "../lib/strips.js";
import * as figure5 from "../views/figure5.js";
import * as inspector from "../views/inspector.js";
import { Brush } from "../views/minimap.js";
import * as ruler from "../views/ruler.js";
import * as soft from "../views/soft.js";
import * as traces from "../views/traces.js";
import * as trajectory from "../views/trajectory.js";
import * as zgrid from "../views/zgrid.js";

const HINT = "Hover a point (or tap it) to see every layer's z, z~, operation, ‖h‖ and gate there.";
const state = { model: "", layer: 0, view: "raw", threshold: 0.5, compare: "" };
const lens = window.lens;
let models = [], pad, strips, live, cursor, shown = [];
let cleared = null;             // the strokes Clear took away: Undo brings them back, until the person draws again

// --- asking ------------------------------------------------------------------------------------
function ask() {
  saveHash();
  padButtons();
  if (!pad.strokes.length) {                   // emptied by the person: no empty panels under the pad
    live.want("", null);
    clearViews();
    workspace().hidden = true;
    return;
  }
  const over = overLimit(pad.strokes);
  if (over) {                                   // kept on the pad, not posted: the server would refuse it
    live.want("", null);
    status(over, true);
    return;
  }
  const input = { strokes: pad.strokes.map((s) => s.slice()), model: state.model, compare: comparing() };
  live.want(JSON.stringify([input.model, input.compare, pad.version]), input);
}

// nothing to undo, clear or share on an empty pad
function padButtons() {
  const focused = document.activeElement;
  $("clear").disabled = !pad.strokes.length;
  $("undo").disabled = !pad.strokes.length && !cleared;
  $("undo").title = !pad.strokes.length && cleared ? "Bring back the ink that Clear took away" : "Take away the last stroke";
  shareable(pad.strokes.length > 0);
  if (focused && focused.disabled) $("example").focus();     // a button that disabled itself: the focus stays near
}

// the server's limits, which the page is given: what to do when the ink is past one ("" when it is not)
function overLimit(strokes) {
  const { maxPoints, maxStrokes } = document.body.dataset;
  const points = strokes.reduce((n, s) => n + s.length, 0);
  if (strokes.length > Number(maxStrokes)) return `${strokes.length} strokes: this server reads at most ${maxStrokes}. Undo a stroke, or Clear.`;
  if (points > Number(maxPoints)) return `${points} points: this server reads at most ${maxPoints}. Undo a stroke, or Clear.`;
  return "";
}

// the LSTM whose NLL is drawn beside the main model's ("" for none)
function comparing() {
  return state.compare && state.compare !== state.model && models.some((m) => m.name === state.compare && isLstm(m))
    ? state.compare : "";
}

async function run(input, signal) {
  const t0 = performance.now();
  const [res, other] = await Promise.all([
    analyse("ink", { strokes: input.strokes, model: input.model }, { signal }),
    input.compare ? analyse("ink", { strokes: input.strokes, model: input.compare }, { signal }) : null,
  ]);
  return { res, other, ms: performance.now() - t0, strokes: input.strokes.length };
}

function answered({ res, other, ms, strokes }) {
  lens.last = res;
  lens.compare = other;
  draw();
  const points = res.points.length;
  status(`${points} point${points === 1 ? "" : "s"} in ${strokes} stroke${strokes === 1 ? "" : "s"} · ${ms.toFixed(0)} ms`
    + (other ? ` · compared with ${other.model}` : ""));
}

// --- drawing -------------------------------------------------------------------------------------
const workspace = () => document.querySelector(".ink-workspace");
// why values of earlier points move when a stroke is added or undone: the whole ink is scaled at once
const AS_READ = "As the model reads it, the whole ink is scaled so that its typical step matches the training " +
  "lines', then standardised: a stroke added or undone rescales the others, so their values can move a little.";

function draw() {
  const res = lens.last;
  if (!res || !res.layers) return;
  workspace().hidden = false;                    // before drawing: the views take their widths from it
  const z = res.layers.map((l) => boundaries(l, state.threshold));
  const other = lens.compare && lens.compare.points.length === res.points.length ? lens.compare : null;
  shown = [{ name: state.model, res, z: (i) => z[i], compare: other ? { name: other.model, nll: other.nll } : null }];
  const zl = z[state.layer] || res.pen_up;
  pad.colour(segmentIds(zl), zl);
  $("trajectory-note").textContent = (z[state.layer]
    ? `the ink coloured by layer ${state.layer + 1}'s segments; boundaries marked, pen-up moves dotted`
    : `${state.model} has no boundary detector: the ink is coloured by its pen-ups; pen-up moves dotted`)
    + (state.view === "model" ? `. ${AS_READ}` : "");
  $("soft-heading").hidden = !res.layers.some((l) => l.z_soft);
  drawTrajectory();
  drawFigure();
  strips.show(shown, { threshold: state.threshold, changedFrom: 0, full: true });
  captionNll(other);
  $("ink-warning").textContent = flatLayerNotes(res.layers).join(" ");
  exportable(true);
  inspectWithin(strips.viewport.window());
}

// the inspector stays in the detail window; once its point left it, it goes to the window's last (the newest ink)
function inspectWithin(win, options) {
  if (!lens.last || !lens.last.points) return;
  const n = lens.last.points.length;
  cursor.keepWithin(win, n, () => Math.max(0, Math.min(win.b, n) - 1), options);
}

function drawTrajectory() {
  const res = lens.last, width = $("trajectory-area").clientWidth;
  if (!res || !shown.length || !width) return;
  const zl = shown[0].z(state.layer) || res.pen_up;
  trajectory.render($("trajectory"), res, zl, state.view, frame(width, touchDevice()));
  follow($("trajectory"));
}

// the width inside a Figure-5 panel's border (both panels have the same)
const figureWidth = () => $("fig-penup").clientWidth;

// Figure 5: pen-ups beside the chosen layer's segments, the same box and size for both
function drawFigure() {
  const res = lens.last;
  if (!res || !shown.length) return;
  const width = figureWidth();
  if (!width) return;
  const b = figure5.box(res.points), narrow = width < 420, height = figure5.heightFor(b, width, narrow);
  const strokes = res.points.length ? res.points.at(-1)[2] + 1 : 0;
  const up = figure5.render($("fig-penup"), res, res.pen_up, b, width, height);
  $("fig-penup").dataset.segments = String(up.segments);
  $("fig-penup-caption").textContent = `By its pen-ups: ${up.segments} segment${up.segments === 1 ? "" : "s"}, one per stroke `
    + `(${strokes}). Pen-ups are in the input: “fire at every pen-up” draws this panel exactly.`;
  const zl = shown[0].z(state.layer), caption = $("fig-layer-caption");
  if (!zl) {
    figure5.clear($("fig-layer"));
    delete $("fig-layer").dataset.segments;
    $("fig-layer").hidden = true;
    caption.textContent = `${state.model} has no boundary detector${isLstm(current()) ? " (a plain LSTM)" : ""}: `
      + "there are no boundaries to cut the ink by, only its pen-ups.";
    caption.className = "warn";
    return;
  }
  $("fig-layer").hidden = false;
  caption.className = "";
  const cut = figure5.render($("fig-layer"), res, zl, b, width, height);
  $("fig-layer").dataset.segments = String(cut.segments);
  caption.textContent = `By layer ${state.layer + 1}'s boundaries: ${cut.segments} segment${cut.segments === 1 ? "" : "s"} `
    + `(${cut.boundaries} firing${cut.boundaries === 1 ? "" : "s"} before the last point, at threshold ${state.threshold.toFixed(2)}).`;
}

// the compared LSTM's mean NLL beside the main model's, under the NLL strip's heading
function captionNll(other) {
  const el = $("nll-caption"), m = current(), o = other && models.find((x) => x.name === other.model);
  el.hidden = !(m && o);
  el.textContent = m && o ? nllCaption(m, o, lens.last, other).text : "";
}

const current = () => models.find((x) => x.name === state.model);

// hovering (or tapping) the ink picks the nearest point (its number is each vertex's customdata); the
// listeners are added once per plot (Clear purges it)
function follow(el) {
  const pick = (ev) => {
    const p = ev.points && ev.points.find((q) => Number.isInteger(q.customdata));
    if (p) cursor.set(p.customdata);
  };
  listenOnce(el, "_lensFollowed", () => {
    el.on("plotly_hover", pick);
    el.on("plotly_click", pick);
  });
}

function clearViews() {
  lens.last = null;
  lens.compare = null;
  shown = [];
  strips.clear();
  figure5.clear($("fig-penup"));
  figure5.clear($("fig-layer"));
  $("fig-layer").hidden = false;
  for (const id of ["fig-penup", "fig-layer"]) delete $(id).dataset.segments;
  $("fig-penup-caption").textContent = "";
  $("fig-layer-caption").textContent = "";
  $("nll-caption").hidden = true;
  if ($("trajectory").data) Plotly.purge($("trajectory"));
  $("trajectory").replaceChildren();
  pad.colour(null, null);
  cursor.t = null;
  inspector.clear($("inspector"), HINT);
  $("ink-warning").textContent = "";
  exportable(false);
  status("Draw something to see how it is segmented.");
}

function showStep(t) {
  if (!shown.length || t === null) return;
  const other = shown[0].compare && lens.compare;
  inspector.render($("inspector"), other ? [...shown, { name: `${other.model} (compared)`, res: other, z: () => null }] : shown, t);
  const p = trajectory.positions(lens.last, state.view)[t];
  if (!p || !$("trajectory").layout) return;
  const r = state.view === "raw" ? 7 : 0.35;
  Plotly.relayout($("trajectory"), { shapes: [{ type: "circle", name: "cursor", xref: "x", yref: "y", x0: p[0] - r,
    x1: p[0] + r, y0: p[1] - r, y1: p[1] + r, line: { color: "#2f6fdd", width: 2 } }] });
}

// --- model, permalink, export ----------------------------------------------------------------------
function describe() {
  const m = current();
  if (!m) return;
  const sentences = inkModelSentences(m);
  $("model-info").textContent = inkSummary(sentences);
  $("model-figures").replaceChildren(...sentences.map((s) => {
    const p = document.createElement("p");
    p.textContent = s.text;
    p.dataset.kind = s.kind;
    if (s.warn) p.className = "warn";
    return p;
  }));
  $("layer").replaceChildren();
  m.detectors.forEach((d, i) => { if (d) $("layer").add(new Option(`layer ${i + 1}`, String(i))); });
  const none = !m.detectors.some(Boolean);
  if (none) $("layer").add(new Option("pen-ups (no boundary detector)", "-1"));
  $("layer").disabled = none;
  $("threshold").disabled = none;                   // no z~ to cut
  if (!m.detectors[state.layer]) state.layer = Math.max(0, m.detectors.indexOf(true));
  $("layer").value = none ? "-1" : String(state.layer);
  // the LSTMs other than the main model, for their NLL only (they have no boundaries to offer)
  const lstms = models.filter((x) => isLstm(x) && x.name !== m.name);
  $("compare").replaceChildren(new Option("nothing", ""), ...lstms.map((x) => new Option(`${x.name} (LSTM)`, x.name)));
  $("compare-label").hidden = !lstms.length;
  if (!lstms.some((x) => x.name === state.compare)) state.compare = "";
  $("compare").value = state.compare;
}

function saveHash() {
  history.replaceState(null, "", toHash({ model: state.model, layer: state.layer, view: state.view,
                                          threshold: state.threshold, compare: comparing(), strokes: pack(pad.strokes),
                                          window: strips.placement(), step: cursor.t }));
}

// the link's state, when the page came from one (its strokes, or none, are the link's); null when it came
// from none, {unreadable} from one that could not be read
function loadHash() {
  try {
    const s = fromHash(location.hash);
    if (!s) return null;
    Object.assign(state, { model: s.model || state.model, layer: s.layer || 0, view: s.view || "raw",
                           threshold: s.threshold ?? 0.5, compare: s.compare || "" });
    pad.set(unpack(s.strokes || []));
    strips.restoreLater(s.window, s.step, linkProblem);
    return s;
  } catch (e) {
    return { unreadable: true };
  }
}

// synthetic cursive on the pad, analysed; `unless`: dropped if it holds true when the example arrives
async function showExample(unless = () => false) {
  try {
    const { strokes } = await inkExample("minimum", Date.now() % 97);
    if (unless()) return;
    pad.fill(strokes);
    ask();
  } catch (e) {
    status(e.message, true);
  }
}

function exportParts() {
  strips.drawAll();
  const parts = [{ title: `HM-LSTM Boundary Lens · handwriting · ${state.model}`,
                   lines: [...$("model-figures").querySelectorAll("p")].map((p) => p.textContent) }];
  if (shown.length) {
    parts.push({ title: shown[0].z(state.layer) ? `The ink, coloured by layer ${state.layer + 1}'s segments`
      : "The ink, coloured by its pen-ups", plot: $("trajectory") });
    parts.push({ title: "Pen-ups and boundaries (as in the paper's Figure 5)", lines: [$("fig-penup-caption").textContent],
                 plot: $("fig-penup") });
    parts.push({ lines: [$("fig-layer-caption").textContent], plot: $("fig-layer").data ? $("fig-layer") : null });
    parts.push({ title: "All points (the detail window below shows a part of them)", plot: $("minimap") });
    for (const el of document.querySelectorAll("#strips .strip")) {
      const caption = el.id === "traces" && !$("nll-caption").hidden ? [$("nll-caption").textContent] : [];
      if (el.layout) parts.push({ title: el.dataset.title, lines: caption, plot: el });
      else if (el.children.length) parts.push({ title: el.dataset.title, cells: el });
    }
  }
  return { parts, width: $("strips").clientWidth };
}

// On a phone the summary shows four lines until pressed (lens.css): there it is a button, for the keyboard too
function foldOnPhones(el) {
  const phone = matchMedia("(max-width: 640px)");
  const mark = () => {
    for (const [name, value] of [["role", "button"], ["tabindex", "0"], ["aria-expanded", String(el.classList.contains("open"))]]) {
      if (phone.matches) el.setAttribute(name, value); else el.removeAttribute(name);
    }
  };
  const toggle = () => { el.classList.toggle("open"); mark(); };
  el.addEventListener("click", toggle);
  el.addEventListener("keydown", (ev) => {
    if (phone.matches && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); toggle(); }
  });
  phone.addEventListener("change", mark);
  mark();
}

// --- start -------------------------------------------------------------------------------------------
export async function start() {
  lens.last = null;
  let touched = false;          // the person drew, cleared or undid: the opening example must not replace it
  pad = new Pad($("pad"), { onStroke: () => { touched = true; cleared = null; ask(); }, palette: trajectory.SEGMENT_COLORS }).start();
  strips = new Strips({
    column: $("strips"), map: $("minimap"), cursor: $("cursor"), width: $("window-width"),
    brush: new Brush($("brush"), (a) => strips.moveTo(a)),
    strips: [{ el: $("zgrid"), view: zgrid }, { el: $("ruler"), view: ruler }, { el: $("soft"), view: soft }, { el: $("traces"), view: traces },
             { el: $("ruler-end"), view: ruler }],
    onStep: (t) => cursor.set(t),
    onShown: (info) => { if (cursor) inspectWithin(info.win, { again: false }); },
    onDrawn: () => { lens.rendered += 1; },
  }).start();
  lens.strips = strips;
  lens.pad = pad;
  cursor = new CursorSync((t) => strips.point(t), showStep);
  let resized = 0;
  const observer = new ResizeObserver(() => {
    cancelAnimationFrame(resized);
    resized = requestAnimationFrame(() => {
      if ($("trajectory").layout && $("trajectory").layout.width !== $("trajectory-area").clientWidth) drawTrajectory();
      if ($("fig-penup").layout && $("fig-penup").layout.width !== figureWidth()) drawFigure();
    });
  });
  for (const id of ["trajectory-area", "fig-penup-box", "fig-layer-box"]) observer.observe($(id));
  live = new Live({ run, onResult: answered, onBusy: busy, onError: (e) => status(e.message, true) });
  let list;
  try {
    list = await loadModels("ink");
  } catch (e) {
    status(e.message, true);
    return;
  }
  models = list.models;
  state.model = list.default;
  fillModels([$("model")], models, state.model);
  const link = loadHash(), linked = link && !link.unreadable;
  if (!models.length) {
    status("No handwriting checkpoint is loaded on this server.", true);
    return;
  }
  if (!models.some((m) => m.name === state.model)) state.model = models[0].name;
  $("model").value = state.model;
  $("view").value = state.view;
  describe();
  bindThreshold(state.threshold, (v) => { state.threshold = v; saveHash(); draw(); });
  $("model").addEventListener("change", () => { state.model = $("model").value; describe(); ask(); });
  $("compare").addEventListener("change", () => { state.compare = $("compare").value; ask(); });
  $("layer").addEventListener("change", () => { state.layer = Number($("layer").value); saveHash(); draw(); });
  $("view").addEventListener("change", () => { state.view = $("view").value; saveHash(); draw(); });
  $("undo").addEventListener("click", () => {
    touched = true;
    if (!pad.strokes.length && cleared) pad.set(cleared); else { pad.strokes.pop(); pad.set(pad.strokes); }
    cleared = null;
    ask();
  });
  $("clear").addEventListener("click", () => { touched = true; cleared = pad.strokes.slice(); pad.set([]); ask(); });
  $("example").addEventListener("click", () => { touched = true; cleared = null; showExample(); });
  foldOnPhones($("model-info"));
  bindShare(() => { saveHash(); return location.href; });
  bindExport("ink", exportParts, () => ({ strokes: pad.strokes, model: state.model, response: lens.last }));
  inspector.clear($("inspector"), HINT);
  exportable(false);
  padButtons();
  // what of a link the page could not use: said with the first answer (at once for a link without ink)
  if (linked) linkProblem([...link.ignored, ...replaced(link, { ...state, compare: comparing() }, ["model", "compare", "layer"])]);
  if (pad.strokes.length) ask(); else clearViews();
  if (linked) return;
  showExample(() => touched);                        // a newcomer lands on an analysed example
  if (link) linkProblem(null);                       // a link that could not be read: said with the example
}
