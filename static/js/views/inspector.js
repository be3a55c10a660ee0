// One hover, everything about a step: every layer's z, z~, operation, ||h|| and gate, and
// the character's surprisal, for each model shown.
import { glyph } from "../plot.js";

const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const OPS = { U: "UPDATE", C: "COPY", F: "FLUSH" };

function heading(res, t) {
  if (res.task === "ink") {
    const [x, y, k] = res.points[t];
    return `<div><b>point ${t}</b> at (${fmt(x, 0)}, ${fmt(y, 0)}) · stroke ${k + 1}`
      + ` · pen lifts after it: ${res.pen_up[t] ? "yes" : "no"}</div>`;
  }
  const span = res.source_spans[t];
  return `<div><b>position ${t}</b>: “${escape(glyph(res.chars[t]))}”`
    + (res.unknown[t] ? " (unknown to the model)" : "")
    + ` · input chars ${span[0]}–${span[1]}`
    + ` · gold word end: ${res.gold_word_ends[t] ? "yes" : "no"}</div>`;
}

const loss = (res, t) => (res.task === "ink" ? `nll ${fmt(res.nll[t], 2)} nats` : `surprisal ${fmt(res.surprisal[t], 2)} bits`);

export function render(el, shown, t) {
  const first = shown[0].res;
  const n = first.task === "ink" ? first.points.length : first.chars.length;
  if (t < 0 || t >= n) return;
  const parts = [heading(first, t)];
  for (const { name, res } of shown) {
    parts.push(`<table><caption>${escape(name)} · ${loss(res, t)}</caption>`
      + "<tr><th>layer</th><th>z</th><th>z~</th><th>op</th><th>‖h‖</th><th>gate</th></tr>"
      + res.layers.map((l) => `<tr><td>${l.layer}</td><td>${l.z ? l.z[t] : "–"}</td><td>${l.z_soft ? fmt(l.z_soft[t]) : "–"}</td>`
        + `<td>${OPS[l.op[t]]}</td><td>${fmt(l.h_norm[t], 2)}</td><td>${fmt(l.gate[t])}</td></tr>`).join("")
      + "</table>");
  }
  el.innerHTML = parts.join("");
  el.dataset.position = t;
}

function escape(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}
