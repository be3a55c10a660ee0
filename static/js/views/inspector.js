// One step, everything about it: every layer's z (at the slider's threshold), z~, operation,
// ||h|| and gate, and the step's surprisal (or nll), for each model shown. A docked panel. Positions are
// said counting from 1, as a person counts characters (the API's lists count from 0).
import { OP_NAMES, glyph, visible } from "../lib/plot.js";

const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));

function heading(res, t, typed) {
  if (res.task === "ink") {
    const [x, y, k] = res.points[t];
    return `<div class="what"><b>point ${t + 1}</b> at (${fmt(x, 0)}, ${fmt(y, 0)}) · stroke ${k + 1}`
      + ` · the pen lifts after it: ${res.pen_up[t] ? "yes" : "no"}</div>`;
  }
  const [a, b] = res.source_spans[t];       // in characters as a person counts them (an emoji is one)
  const shown = typed !== null && typed !== undefined && typed !== res.chars[t] ? ` (typed ${visible(typed) === typed ? `“${esc(typed)}”` : visible(typed)})` : "";
  return `<div class="what"><b>character ${t + 1}</b>: “${esc(glyph(res.chars[t]))}”${shown}`
    + (res.unknown[t] ? " · unknown to the model" : "")
    + (b - a === 1 ? "" : ` · read from typed characters ${a + 1}–${b}`)
    + (b - a === 1 && a !== t ? ` · typed character ${a + 1}` : "")
    + ` · gold word end: ${res.gold_word_ends[t] ? "yes" : "no"}`
    + (res.baseline_rows && res.baseline_rows.length
      ? ` · baselines: ${res.baseline_rows.map((b) => `${esc(b.name)} ${b.z[t] ? "yes" : "no"}`).join(", ")}` : "")
    + "</div>";
}

const loss = (res, t) => (res.task === "ink" ? `nll ${fmt(res.nll[t], 2)} nats` : `surprisal ${fmt(res.surprisal[t], 2)} bits`);

// shown: [{name, res, z(i)}]; typed: the input that gave position t (text) or null
export function render(el, shown, t, typed = null) {
  const first = shown[0].res;
  const n = first.task === "ink" ? first.points.length : first.chars.length;
  if (t === null || t < 0 || t >= n) return;
  const parts = [heading(first, t, typed)];
  for (const { name, res, z, roles = [], lags = [] } of shown) {
    parts.push(`<table><caption>${esc(name)} · ${loss(res, t)}</caption>`
      + "<tr><th>layer</th><th>z</th><th>z~</th><th>op</th><th>‖h‖</th><th>gate</th></tr>"
      + res.layers.map((l, i) => `<tr><td>${l.layer}${roles[i] && roles[i].short ? ` <small>${esc(roles[i].short)}</small>` : ""}`
        + `${lags[i] === 1 ? ' <small title="a firing here marks the boundary before this character">lag 1</small>' : ""}</td>`
        + `<td>${l.z ? z(i)[t] : "–"}</td><td>${l.z_soft ? fmt(l.z_soft[t]) : "–"}</td>`
        + `<td class="op-${l.op[t]}">${OP_NAMES[l.op[t]]}</td><td>${fmt(l.h_norm[t], 2)}</td><td>${fmt(l.gate[t])}</td></tr>`).join("")
      + "</table>");
  }
  el.innerHTML = parts.join("");
  el.dataset.position = t;
}

export function clear(el, hint) {
  el.textContent = hint;
  delete el.dataset.position;
}
