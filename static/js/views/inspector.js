// One hover, everything about a step: every layer's z, z~, operation, ||h|| and gate, and
// the character's surprisal, for each model shown.
import { glyph } from "../plot.js";

const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const OPS = { U: "UPDATE", C: "COPY", F: "FLUSH" };

export function render(el, shown, t) {
  const first = shown[0].res;
  if (t < 0 || t >= first.chars.length) return;
  const span = first.source_spans[t];
  const parts = [`<div><b>position ${t}</b>: “${escape(glyph(first.chars[t]))}”`
    + (first.unknown[t] ? " (unknown to the model)" : "")
    + ` · input chars ${span[0]}–${span[1]}`
    + ` · gold word end: ${first.gold_word_ends[t] ? "yes" : "no"}</div>`];
  for (const { name, res } of shown) {
    parts.push(`<table><caption>${escape(name)} · surprisal ${fmt(res.surprisal[t], 2)} bits</caption>`
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
