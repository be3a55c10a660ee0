// The x axis of the strips, in HTML (far cheaper than Plotly's tick labels, which measure
// every label on every draw): each character's glyph where the cells have room for one, else
// step numbers at a round interval (counted from 1, as the inspector counts), spaced so that no two
// labels touch.
import { MONO, cellWidth, glyph, xOf } from "../lib/plot.js";
import { shownChars } from "./segments.js";

const NICE = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000];

export function height() { return 18; }

// the labels a window gets: [{t, text}], glyphs or numbers
export function labels(res, fr, win, typed = null) {
  const chars = res.chars ? shownChars(res, typed) : null;
  const cell = cellWidth(fr, win), n = res.chars ? res.chars.length : res.points.length;
  const glyphs = Boolean(res.chars) && cell >= 6.5;
  const need = glyphs ? 7 : 7 * String(win.b).length + 10;                 // px per label
  const step = NICE.find((s) => s * cell >= need) || NICE[NICE.length - 1];
  const out = [];
  // glyphs at steps 0, step, 2 step...; numbers where they are round: at the steps numbered step, 2 step...
  const first = glyphs ? Math.ceil(win.a / step) * step : Math.ceil((win.a + 1) / step) * step - 1;
  for (let t = first; t < Math.min(win.b, n); t += step) {
    out.push({ t, text: glyphs ? glyph(chars[t]) : String(t + 1), unknown: glyphs && res.unknown[t] });
  }
  return { glyphs, step, cell, items: out };
}

export function render(el, ctx) {
  const { res, fr, win } = ctx, l = labels(res, fr, win, ctx.typed);
  const size = l.glyphs ? Math.max(9, Math.min(14, Math.floor(l.cell * 1.5))) : 10;
  el.style.font = `${size}px/18px ${MONO}`;
  el.classList.add("ruler");
  el.innerHTML = l.items.map(({ t, text, unknown }) => `<span data-t="${t}"${unknown ? ' class="unk"' : ""} style="left:${xOf(fr, win, t).toFixed(1)}px">${
    text.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" }[c]))}</span>`).join("");
}
