// The text page: type, and every view follows (debounced). The server computes the
// traces; this module only asks for them and hands them to the views.
import { postText } from "./api.js";
import { $, downloadJson, exportImages, status } from "./page.js";
import { fromHash, toHash } from "./permalink.js";
import { cursorShape, onHover } from "./plot.js";
import * as inspector from "./views/inspector.js";
import * as segments from "./views/segments.js";
import * as soft from "./views/soft.js";
import * as traces from "./views/traces.js";
import * as zgrid from "./views/zgrid.js";

const EXAMPLES = {
  "Words": "the cat sat on the mat and the dog watched it from the door",
  "A market day": "in the morning we walked to the market to buy fresh bread and a few apples",
  "Business news": "the company said its profit rose 12 percent in the third quarter as sales grew",
  "Numbers and capitals": "New York, 1,250 shares rose to $ 3.50 on Monday.",
  "Nonsense words": "blorft quandel zimp arrowing the plinth of unmarked dactyls",
};
const PLOTS = ["zgrid", "soft", "traces"];

const state = { model: "", compare: "", text: "", threshold: 0.5 };
const lens = { last: {}, requests: 0, rendered: 0 };
window.lens = lens;


let seq = 0;
async function analyse() {
  const text = state.text;
  saveHash();
  if (!text) {
    status("Type something to see its boundaries.");
    return;
  }
  const mine = ++seq;
  const t0 = performance.now();
  lens.requests += 1;
  try {
    const [a, b] = await Promise.all([postText(text, state.model), state.compare ? postText(text, state.compare) : null]);
    if (mine !== seq) return;                       // a newer keystroke already asked again
    lens.last = { a, b };
    draw();
    const unk = a.unknown.filter(Boolean).length;
    status(`${a.chars.length} characters read` + (unk ? `, ${unk} unknown to the model` : "")
           + ` · ${(performance.now() - t0).toFixed(0)} ms` + (a.reused_prefix ? ` (${a.reused_prefix} from cache)` : ""));
  } catch (e) {
    if (mine === seq) status(e.message, true);
  }
}

function shown() {
  const out = [{ name: state.model, res: lens.last.a }];
  if (lens.last.b) out.push({ name: state.compare, res: lens.last.b });
  return out;
}

function draw() {
  const { a, b } = lens.last;
  if (!a) return;
  const relaid = document.body.classList.contains("comparing") !== Boolean(b);
  document.body.classList.toggle("comparing", Boolean(b));
  const both = [[a, "", b ? state.model : ""], ...(b ? [[b, "-b", state.compare]] : [])];
  for (const [res, suffix, title] of both) {
    zgrid.render($(`zgrid${suffix}`), res, title);
    soft.render($(`soft${suffix}`), res, state.threshold, title);
    traces.render($(`traces${suffix}`), res, title);
    segments.render($(`segments${suffix}`), res);
    for (const p of PLOTS) onHover($(`${p}${suffix}`), setCursor);
  }
  if (relaid) {           // the columns changed width: Plotly's own resize only follows the window
    for (const [, suffix] of both) for (const p of PLOTS) Plotly.Plots.resize($(`${p}${suffix}`));
  }
  lens.rendered += 1;
}

function setCursor(t) {
  inspector.render($("inspector"), shown(), t);
  const suffixes = lens.last.b ? ["", "-b"] : [""];
  for (const s of suffixes) {
    for (const p of PLOTS) {
      const el = $(`${p}${s}`);
      const base = (el.layout.shapes || []).filter((sh) => sh.name !== "cursor");
      Plotly.relayout(el, { shapes: [...base, cursorShape(t)] });
    }
  }
}

// --- permalink: text, models and view in the URL's fragment (never sent to the server) ---
function saveHash() {
  history.replaceState(null, "", toHash(state));
}

function loadHash() {
  try {
    const s = fromHash(location.hash);
    if (s) Object.assign(state, { ...s, model: s.model || state.model });
  } catch (e) {
    status("The link could not be read; starting afresh.", true);
  }
}

function embedSnippet() {
  const src = `${location.origin}/embed${toHash(state)}`;
  return `<iframe src="${src}" width="900" height="420" style="border:0" title="HM-LSTM boundaries"></iframe>`;
}


function exportJson() {
  downloadJson("lens-analysis.json", { text: state.text, model: state.model, compare: state.compare || null,
                                       threshold: state.threshold, responses: lens.last });
}

// --- start ---
function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

async function start() {
  const res = await fetch("/api/models");
  const info = await res.json();
  const textModels = info.models.filter((m) => m.task === "text");
  state.model = document.body.dataset.defaultModel;
  if (!textModels.some((m) => m.name === state.model)) state.model = textModels.length ? textModels[0].name : "";
  for (const m of textModels) {
    $("model").add(new Option(m.name, m.name));
    $("compare").add(new Option(m.name, m.name));
  }
  for (const name of Object.keys(EXAMPLES)) $("examples").add(new Option(name, name));
  loadHash();
  if (!textModels.length) {
    status("No text checkpoint is loaded on this server.", true);
    return;
  }
  $("model").value = state.model;
  $("compare").value = state.compare;
  $("text").value = state.text;
  $("threshold").value = state.threshold;
  $("threshold-value").value = Number(state.threshold).toFixed(2);
  describe(textModels);
  const later = debounce(analyse, 120);
  $("text").addEventListener("input", () => { state.text = $("text").value; later(); });
  $("model").addEventListener("change", () => { state.model = $("model").value; describe(textModels); analyse(); });
  $("compare").addEventListener("change", () => { state.compare = $("compare").value; analyse(); });
  $("examples").addEventListener("change", () => {
    const t = EXAMPLES[$("examples").value];
    if (t) { state.text = $("text").value = t; analyse(); }
  });
  $("threshold").addEventListener("input", () => {
    state.threshold = Number($("threshold").value);
    $("threshold-value").value = state.threshold.toFixed(2);
    saveHash();
    for (const { res } of shown().filter((s) => s.res)) {
      soft.render($(res === lens.last.b ? "soft-b" : "soft"), res, state.threshold,
                  lens.last.b ? (res === lens.last.b ? state.compare : state.model) : "");
    }
  });
  $("permalink").addEventListener("click", async () => {
    saveHash();
    $("embed-code").value = embedSnippet();
    $("share").hidden = false;
    try { await navigator.clipboard.writeText(location.href); status("Link copied."); }
    catch (e) { status("Copy the link below."); }
    $("share-link").value = location.href;
  });
  $("export-png").addEventListener("click", () => exportImages(PLOTS, "png", "lens"));
  $("export-svg").addEventListener("click", () => exportImages(PLOTS, "svg", "lens"));
  $("export-json").addEventListener("click", exportJson);
  if (state.text) analyse(); else status("Type something to see its boundaries.");
}

function describe(models) {
  const m = models.find((x) => x.name === state.model);
  if (!m) return;
  const metrics = m.metrics || {};
  const bpc = metrics.test_bpc ?? metrics.valid_bpc;
  // the layer whose boundaries best match word ends on the test split, if it was evaluated
  const scored = ((metrics.test || {}).layers || []).filter((l) => l.word_boundary_tolerant);
  const best = scored.reduce((a, l) => (a && a.word_boundary_tolerant.f1 >= l.word_boundary_tolerant.f1 ? a : l), null);
  $("model-info").textContent = `${m.name}: ${m.layers} layers of ${m.hidden_sizes.join("/")} units`
    + (bpc ? `, ${metrics.test_bpc ? "test" : "valid"} BPC ${bpc.toFixed(3)}` : "")
    + (best ? `; word ends: layer ${best.layer}, test F1 ${best.word_boundary_tolerant.f1.toFixed(2)} (tolerant`
      + (best.random_f1_tolerant != null ? `; random ${best.random_f1_tolerant.toFixed(2)}` : "")
      + `), ${best.word_boundary.f1.toFixed(2)} (strict; random ${best.random_f1.toFixed(2)})` : "")
    + `, trained on ${m.training.data || "?"}`;
}

start();
