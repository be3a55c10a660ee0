// The detail window's text again, once per layer (top first) and for the gold, cut where that
// layer fires: HTML cells on the strips' own grid, so each glyph sits over its column. Without
// spaces the text is what the model read, each layer is cut where it marks a boundary (a lag-1
// layer one to the left of its firing), and the baselines' cuts follow beneath the gold. Where the
// checkpoint's evaluation measured a phrase layer above the word layer, the word layer's row is
// banded by the phrase layer's segments.
import { glyph } from "../lib/plot.js";
import { segmentIds } from "../lib/scoring.js";
import { baselineRows } from "./zgrid.js";

const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));

function row(label, chars, z, seg, unknown, win, cls = "", phrases = null) {
  // chars: what to show per position (the typed character where the model read it as unknown);
  // phrases: the phrase layer's {z, seg}, drawn as bands under the word layer's segments
  const cells = [];
  for (let t = win.a; t < win.b; t += 1) {
    if (t >= chars.length) { cells.push("<span></span>"); continue; }
    const c = chars[t];
    const band = phrases ? [`p${phrases.seg[t] % 2}`, phrases.z[t] === 1 ? "pend" : ""] : [];
    const k = ["c", `s${seg[t] % 2}`, z[t] === 1 ? "end" : "", ...band, unknown && unknown[t] ? "unk" : ""].filter(Boolean).join(" ");
    cells.push(`<span class="${k}" data-t="${t}">${esc(c === " " ? " " : glyph(c))}</span>`);
  }
  return `<div class="row ${cls}"><b>${esc(label)}</b><div class="cells">${cells.join("")}</div></div>`;
}

// the model's characters, except where it read the typed one as unknown: that one is shown (in red;
// the whole character, an emoji's two UTF-16 units too)
export function shownChars(res, typed) {
  if (!typed) return res.chars;
  return res.chars.map((c, t) => (res.unknown[t] && typed[t] ? [...typed[t]][0] : c));
}

// without spaces the baselines' cuts are shown too; with spaces they would only repeat the gold
const baselines = (res) => (res.spaces === false ? baselineRows(res) : []);

export function height(ctx) {
  return 4 + 22 * (ctx.res.layers.filter((l) => l.z).length + 1 + baselines(ctx.res).length);
}

export function render(el, ctx) {
  const { res, fr, win } = ctx;
  const chars = res.chars ? shownChars(res, ctx.typed) : res.points.map(() => "·");
  const gold = res.gold_word_ends || res.pen_up;
  const cell = fr.plotW / (win.b - win.a);
  el.style.setProperty("--label", `${fr.l}px`);
  el.style.setProperty("--right", `${fr.r}px`);
  el.style.setProperty("--cols", String(win.b - win.a));
  el.style.setProperty("--glyph", `${Math.max(7, Math.min(15, Math.floor(cell * 1.45)))}px`);
  el.classList.toggle("tiny", cell < 5);
  const out = [];
  const lags = ctx.lags || [];
  const cutOf = (i) => (ctx.cut ? ctx.cut(i) : ctx.z(i));
  // a measured hierarchy nests the phrase layer's segments (bands) around the word layer's
  const h = ctx.hierarchy && ctx.hierarchy.holds ? ctx.hierarchy : null;
  const phrases = h && res.layers[h.phrase - 1] && res.layers[h.phrase - 1].z
    ? { z: cutOf(h.phrase - 1), seg: segmentIds(cutOf(h.phrase - 1)) } : null;
  res.layers.map((l, i) => [l, i]).filter(([l]) => l.z).reverse().forEach(([l, i]) => {
    const z = cutOf(i), lag = lags[i] === 1 ? (fr.narrow ? " lag1" : " (lag 1)") : "";
    const nested = phrases && i === h.word - 1;
    const label = (fr.narrow ? `L${l.layer}` : `layer ${l.layer}`) + lag + (nested ? (fr.narrow ? "+P" : `, L${h.phrase} bands`) : "");
    out.push(row(label, chars, z, segmentIds(z), res.unknown, win, nested ? "nested" : "", nested ? phrases : null));
  });
  out.push(row(res.task === "ink" ? "pen-up" : "gold", chars, gold, segmentIds(gold), res.unknown, win, "gold"));
  for (const b of baselines(res).reverse()) {
    out.push(row(fr.narrow ? b.short : b.name, chars, b.z, segmentIds(b.z), res.unknown, win, "baseline"));
  }
  el.innerHTML = out.join("");
}
