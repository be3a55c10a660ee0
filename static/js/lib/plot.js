// Shared plot plumbing: colours, the frame every strip shares (same width, same margins, so a
// character sits at the same x in every strip), the detail window's x axis, glyphs.

export const LAYER_COLORS = ["#2f6fdd", "#d9822b", "#2e9d5b", "#8e44ad", "#c0392b", "#16a085"];
export const OP_CODES = { C: 0, U: 1, F: 2 };
export const OP_COLORS = { C: "#e3e8ef", U: "#7fb0ea", F: "#c0392b" };
export const OP_NAMES = { C: "COPY", U: "UPDATE", F: "FLUSH" };
export const MONO = "ui-monospace, 'DejaVu Sans Mono', monospace";
export const FIRE = "#c0392b", QUIET = "#eef1f6";
// no toolbar over the data, no Plotly hover (the strips' own pointer handler does that), our own sizes
export const CONFIG = { displayModeBar: false, displaylogo: false, responsive: false, showTips: false,
                        doubleClick: false };

export const layerColor = (l) => LAYER_COLORS[(l - 1) % LAYER_COLORS.length];

export function glyph(c) {
  if (c === " ") return "␣";
  if (c === "\n") return "⏎";
  if (c === "\t") return "⇥";
  return c;
}

// a character that draws nothing (a joiner, a control, a lone combining mark) named by its code point
export const visible = (s) => (s && /^[\p{Cc}\p{Cf}\p{Z}\p{M}]+$/u.test(s) && !/^[ \n\t]$/.test(s)
  ? [...s].map((c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`).join(" ") : s);

export const lengthOf = (res) => (res.chars ? res.chars.length : res.points.length);

// The frame of every strip: width in px, left and right margins, the plotting width between them.
export function frame(width, touch = false) {
  const narrow = width < 640;
  const l = narrow ? 58 : 128, r = narrow ? 6 : 14;
  return { width, narrow, touch, l, r, plotW: Math.max(40, width - l - r) };
}

// x position (px from the strip's left edge) of the centre of step t in the window [a, b)
export function xOf(fr, win, t) {
  return fr.l + ((t - win.a + 0.5) / (win.b - win.a)) * fr.plotW;
}

// the step under px (from the strip's left edge), or null outside the plotting area
export function stepAt(fr, win, px) {
  const u = (px - fr.l) / fr.plotW;
  if (u < 0 || u >= 1) return null;
  return win.a + Math.floor(u * (win.b - win.a));
}

export const cellWidth = (fr, win) => fr.plotW / (win.b - win.a);

// The detail window's x axis: our range, no tick labels (views/ruler.js draws them, in HTML)
export function detailAxis(fr, win) {
  return { range: [win.a - 0.5, win.b - 0.5], fixedrange: fr.touch, showgrid: false, zeroline: false,
           showticklabels: false, ticks: "", automargin: false };
}

// The layout every strip starts from: our width and height, the shared margins, no Plotly hover.
export function stripLayout(fr, height, extra = {}) {
  return {
    width: fr.width, height, autosize: false, hovermode: false, showlegend: false,
    dragmode: fr.touch ? false : "zoom", paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff",
    font: { size: 11, color: "#1d2330" }, ...extra,
    margin: { l: fr.l, r: fr.r, t: 4, b: 4, pad: 0, ...(extra.margin || {}) },
  };
}

// the indices a strip draws: the window and one window's width either side, so that a pan shows data
export function slice(win, n) {
  const w = win.b - win.a;
  return { lo: Math.max(0, win.a - w), hi: Math.min(n, win.b + w) };
}

export function range(lo, hi) {
  return Array.from({ length: Math.max(0, hi - lo) }, (_, i) => lo + i);
}

// y labels: the long name where there is room, a short one on a phone
export function rowAxis(rows, fr) {
  // no grid lines: the cells are the rows, and past a short text's end a line would run on alone
  return { fixedrange: true, automargin: false, showgrid: false, tickmode: "array", tickvals: rows.map((r) => r.name),
           ticktext: rows.map((r) => (fr.narrow ? r.short : r.label || r.name)), tickfont: { size: fr.narrow ? 10 : 11 },
           type: "category" };
}

export const plotted = (el) => Boolean(el && el.data && el.layout);

// A plot's listeners live on its event emitter, which Plotly.purge throws away with them: attach
// them once per emitter (a flag alone would outlive a purge and leave the plot deaf).
export function listenOnce(el, key, attach) {
  if (!el._ev || el[key] === el._ev) return;
  el[key] = el._ev;
  attach();
}
