// Shared plot helpers: glyphs, the character axis, colours, the linked cursor.

export const LAYER_COLORS = ["#2f6fdd", "#d9822b", "#2e9d5b", "#8e44ad", "#c0392b", "#16a085"];
export const OP_CODES = { C: 0, U: 1, F: 2 };
export const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

export function glyph(c) {
  if (c === " ") return "␣";
  if (c === "\n") return "⏎";
  if (c === "\t") return "⇥";
  return c;
}

// Tick labels for the visible range: every character when it fits, every k-th otherwise.
export function charTicks(chars, x0 = -0.5, x1 = chars.length - 0.5, room = 200) {
  const a = Math.max(0, Math.ceil(x0)), b = Math.min(chars.length - 1, Math.floor(x1));
  const widest = Math.max(1, ...chars.slice(a, b + 1).map((c) => c.length));   // point numbers need more room
  const step = Math.max(1, Math.ceil((b - a + 1) * (widest + 1) / room));       // room: label widths in glyphs
  const vals = [];
  for (let i = a; i <= b; i += step) vals.push(i);
  return { tickmode: "array", tickvals: vals, ticktext: vals.map((i) => glyph(chars[i])),
           tickfont: { family: "ui-monospace, DejaVu Sans Mono, monospace", size: 12 }, tickangle: 0 };
}

export function charAxis(chars, extra = {}) {
  return { ...charTicks(chars), range: [-0.5, chars.length - 0.5], showgrid: false, zeroline: false, ...extra };
}

// Re-label the character axis when the user zooms, so zooming in shows every glyph.
export function followZoom(el, chars, axes = ["xaxis"]) {
  if (el._lensZoom) el.removeListener("plotly_relayout", el._lensZoom);
  el._lensZoom = (ev) => {
    const lo = ev["xaxis.range[0]"], hi = ev["xaxis.range[1]"];
    const update = {};
    for (const ax of axes) {
      const t = lo === undefined ? charTicks(chars) : charTicks(chars, lo, hi);
      update[`${ax}.tickvals`] = t.tickvals;
      update[`${ax}.ticktext`] = t.ticktext;
    }
    if (lo !== undefined || ev["xaxis.autorange"]) Plotly.relayout(el, update);
  };
  el.on("plotly_relayout", el._lensZoom);
}

export function cursorShape(t) {
  return { type: "line", name: "cursor", x0: t, x1: t, xref: "x", yref: "paper", y0: 0, y1: 1,
           line: { color: "rgba(47,111,221,.7)", width: 2 } };
}

// Hover on any plot moves the cursor everywhere and fills the inspector.
export function onHover(el, callback, position = (ev) => Math.round(ev.points[0].x)) {
  // one listener per plot, however often it is redrawn
  if (el._lensHover) el.removeListener("plotly_hover", el._lensHover);
  el._lensHover = (ev) => {
    if (!ev.points || !ev.points.length) return;
    const t = position(ev);
    if (t !== null && t !== undefined) callback(t);
  };
  el.on("plotly_hover", el._lensHover);
}

export function layerName(l) { return `layer ${l}`; }

// What the x axis is labelled with: the characters read, or for ink the point numbers.
export function labelsOf(res) {
  return res.chars || res.points.map((_, i) => String(i));
}
