// The detail window's text again, once per layer (top first) and for the gold, cut where that
// layer fires: HTML cells on the strips' own grid, so each glyph sits over its column. Without
// spaces the text is what the model read, each layer is cut where it marks a boundary (a lag-1
// layer one to the left of its firing), and the baselines' cuts follow beneath the gold.
import { glyph } from "../lib/plot.js";
import { segmentIds } from "../lib/scoring.js";
import { baselineRows } from "./zgrid.js";

const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));

function row(label, chars, z, seg, unknown, win, cls = "") {
  // chars: what to show per position (the typed character where the model read it as unknown)
  const cells = [];
  for (let t = win.a; t < win.b; t += 1) {
    if (t >= chars.length) { cells.push("<span></span>"); continue; }
    const c = chars[t];
    const k = ["c", `s${seg[t] % 2}`, z[t] === 1 ? "end" : "", unknown && unknown[t] ? "unk" : ""].filter(Boolean).join(" ");
    cells.push(`<span class="${k}" data-t="${t}">${esc(c === " " ? " " : glyph(c))}</span>`);
  }
  return `<div class="row ${cls}"><b>${esc(label)}</b><div class="cells">${cells.join("")}</div></div>`;
}

// the model's characters, except where it read the typed one as unknown: that one is shown (in red)
export function shownChars(res, typed) {
  if (!typed) return res.chars;
  return res.chars.map((c, t) => (res.unknown[t] && typed[t] ? typed[t][0] : c));
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
  res.layers.map((l, i) => [l, i]).filter(([l]) => l.z).reverse().forEach(([l, i]) => {
    const z = ctx.cut ? ctx.cut(i) : ctx.z(i), lag = lags[i] === 1 ? (fr.narrow ? " lag1" : " (lag 1)") : "";
    out.push(row((fr.narrow ? `L${l.layer}` : `layer ${l.layer}`) + lag, chars, z, segmentIds(z), res.unknown, win));
  });
  out.push(row(res.task === "ink" ? "pen-up" : "gold", chars, gold, segmentIds(gold), res.unknown, win, "gold"));
  for (const b of baselines(res).reverse()) {
    out.push(row(fr.narrow ? b.short : b.name, chars, b.z, segmentIds(b.z), res.unknown, win, "baseline"));
  }
  el.innerHTML = out.join("");
}
