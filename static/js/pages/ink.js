// The handwriting page: draw, and after each stroke every view follows. Pointer events cover
// mouse, pen and touch alike; the server normalises the ink the way the checkpoint was trained.
import { $, downloadJson, exportImages, status } from "./page.js";
import { encode, decode } from "./permalink.js";
import { cursorShape, onHover } from "./plot.js";
import { pack, unpack } from "./strokes.js";
import * as inspector from "./views/inspector.js";
import * as soft from "./views/soft.js";
import * as traces from "./views/traces.js";
import * as trajectory from "./views/trajectory.js";
import * as zgrid from "./views/zgrid.js";

const state = { model: "", layer: 0, view: "raw", threshold: 0.5, strokes: [] };
const lens = { last: null, rendered: 0 };
window.lens = lens;
const pad = $("pad"), ctx = pad.getContext("2d");
let drawing = null;


// --- drawing -----------------------------------------------------------------------
function toCanvas(ev) {
  const r = pad.getBoundingClientRect();
  return [(ev.clientX - r.left) * (pad.width / r.width), (ev.clientY - r.top) * (pad.height / r.height)];
}

function redraw() {
  ctx.clearRect(0, 0, pad.width, pad.height);
  ctx.lineWidth = 2.5; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#1d2330";
  for (const s of state.strokes.concat(drawing ? [drawing] : [])) {
    ctx.beginPath();
    s.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (s.length === 1) ctx.lineTo(s[0][0] + 0.1, s[0][1]);
    ctx.stroke();
  }
}

pad.addEventListener("pointerdown", (ev) => {
  if (ev.button !== undefined && ev.button > 0) return;
  pad.setPointerCapture(ev.pointerId);
  drawing = [toCanvas(ev)];
  ev.preventDefault();
});
pad.addEventListener("pointermove", (ev) => {
  if (!drawing) return;
  const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
  for (const e of events.length ? events : [ev]) drawing.push(toCanvas(e));
  redraw();
});
function endStroke(ev) {
  if (!drawing) return;
  if (ev.type !== "pointercancel") state.strokes.push(drawing);   // a cancelled stroke is dropped whole
  drawing = null;
  redraw();
  analyse();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

// --- analysis ----------------------------------------------------------------------
let seq = 0;
async function analyse() {
  saveHash();
  if (!state.strokes.length) {
    lens.last = null;
    status("Draw something to see how it is segmented.");
    return;
  }
  const mine = ++seq, t0 = performance.now();
  try {
    const r = await fetch("/api/ink", { method: "POST", headers: { "Content-Type": "application/json" },
                                        body: JSON.stringify({ strokes: state.strokes, model: state.model }) });
    const body = await r.json().catch(() => ({ detail: `HTTP ${r.status}` }));
    if (!r.ok) throw new Error(body.detail || `HTTP ${r.status}`);
    if (mine !== seq) return;
    lens.last = body;
    draw();
    status(`${body.points.length} points in ${state.strokes.length} strokes · ${(performance.now() - t0).toFixed(0)} ms`);
  } catch (e) {
    if (mine === seq) status(e.message, true);
  }
}

function draw() {
  const res = lens.last;
  if (!res) return;
  trajectory.render($("trajectory"), res, state.layer, state.view);
  zgrid.render($("zgrid"), res, "");
  soft.render($("soft"), res, state.threshold, "");
  traces.render($("traces"), res, "");
  for (const id of ["zgrid", "soft", "traces"]) onHover($(id), setCursor);
  onHover($("trajectory"), setCursor, (ev) => {
    const p = ev.points.find((q) => q.data.name === "points");
    return p ? p.pointNumber : null;
  });
  lens.rendered += 1;
}

function setCursor(t) {
  const res = lens.last;
  inspector.render($("inspector"), [{ name: state.model, res }], t);
  for (const id of ["zgrid", "soft", "traces"]) {
    const el = $(id);
    const base = (el.layout.shapes || []).filter((s) => s.name !== "cursor");
    Plotly.relayout(el, { shapes: [...base, cursorShape(t)] });
  }
  const [x, y] = trajectory.positions(res, state.view)[t];
  Plotly.relayout($("trajectory"), { shapes: [{ type: "circle", name: "cursor", xref: "x", yref: "y", x0: x - 6,
    x1: x + 6, y0: y - 6, y1: y + 6, line: { color: "#2f6fdd", width: 2 } }] });
}

// --- permalink, export -----------------------------------------------------------------
function saveHash() {
  const s = { m: state.model, l: state.layer, v: state.view, th: state.threshold, s: pack(state.strokes) };
  history.replaceState(null, "", `#${encode(s)}`);
}

function loadHash() {
  if (location.hash.length < 2) return;
  try {
    const s = decode(location.hash.slice(1));
    Object.assign(state, { model: s.m || state.model, layer: s.l || 0, view: s.v || "raw",
                           threshold: s.th ?? 0.5, strokes: unpack(s.s || []) });
  } catch (e) {
    status("The link could not be read; starting afresh.", true);
  }
}


// --- start ---------------------------------------------------------------------------
async function start() {
  const info = await (await fetch("/api/models")).json();
  const inkModels = info.models.filter((m) => m.task === "ink");
  for (const m of inkModels) $("model").add(new Option(m.name, m.name));
  state.model = inkModels.length ? inkModels[0].name : "";
  loadHash();
  if (!inkModels.length) {
    status("No handwriting checkpoint is loaded on this server.", true);
    return;
  }
  const m = inkModels.find((x) => x.name === state.model) || inkModels[0];
  state.model = m.name;
  m.detectors.forEach((d, i) => { if (d) $("layer").add(new Option(`layer ${i + 1}`, String(i))); });
  $("model").value = state.model;
  $("layer").value = String(state.layer);
  $("view").value = state.view;
  $("threshold").value = state.threshold;
  $("model").addEventListener("change", () => { state.model = $("model").value; analyse(); });
  $("layer").addEventListener("change", () => { state.layer = Number($("layer").value); saveHash(); draw(); });
  $("view").addEventListener("change", () => { state.view = $("view").value; saveHash(); draw(); });
  $("threshold").addEventListener("input", () => {
    state.threshold = Number($("threshold").value);
    $("threshold-value").value = state.threshold.toFixed(2);
    saveHash();
    if (lens.last) soft.render($("soft"), lens.last, state.threshold, "");
  });
  $("undo").addEventListener("click", () => { state.strokes.pop(); redraw(); analyse(); });
  $("clear").addEventListener("click", () => { state.strokes = []; redraw(); analyse(); });
  $("example").addEventListener("click", async () => {
    const ex = await (await fetch(`/api/ink/example?text=${encodeURIComponent("minimum")}&seed=${Date.now() % 97}`)).json();
    state.strokes = ex.strokes;
    redraw();
    analyse();
  });
  $("permalink").addEventListener("click", async () => {
    saveHash();
    $("share").hidden = false;
    $("share-link").value = location.href;
    try { await navigator.clipboard.writeText(location.href); status("Link copied."); } catch (e) { /* shown below */ }
  });
  for (const fmt of ["png", "svg"]) {
    $(`export-${fmt}`).addEventListener("click", () => exportImages(["trajectory", "zgrid", "soft", "traces"], fmt, "ink"));
  }
  $("export-json").addEventListener("click", () => downloadJson("ink-analysis.json",
    { strokes: state.strokes, model: state.model, response: lens.last }));
  redraw();
  if (state.strokes.length) analyse(); else status("Draw something to see how it is segmented.");
}

start();
