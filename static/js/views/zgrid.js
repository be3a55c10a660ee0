// The layers x steps grid of z at the slider's threshold (layer 1 at the bottom), with the
// baselines beneath: gold word ends and surprisal peaks for text, pen-ups for ink.
import { CONFIG, FIRE, QUIET, cellWidth, detailAxis, range, rowAxis, slice, stripLayout } from "../lib/plot.js";

export const ROW_PX = 22;

// rows bottom to top: {name, label, short, z}
export function rows(ctx) {
  const { res, roles = [] } = ctx;
  const out = [];
  if (res.task === "ink") {
    out.push({ name: "pen-up", short: "pen-up", z: res.pen_up });
  } else {
    if (res.surprisal_boundaries) out.push({ name: "surprisal peaks", short: "surpr.", z: res.surprisal_boundaries.z });
    out.push({ name: "gold word ends", short: "gold", z: res.gold_word_ends });
  }
  res.layers.forEach((layer, i) => {
    if (!layer.z) return;
    const role = roles[i] && roles[i].short;
    out.push({ name: `layer ${layer.layer}`, label: role ? `layer ${layer.layer} (${role})` : `layer ${layer.layer}`,
               short: `L${layer.layer}`, z: ctx.z(i) });
  });
  return out;
}

export function height(ctx) { return 8 + ROW_PX * rows(ctx).length; }

export function render(el, ctx) {
  const r = rows(ctx), { fr, win } = ctx;
  const n = r[0].z.length, { lo, hi } = slice(win, n);
  const gap = cellWidth(fr, win) >= 5 ? 1 : 0;               // narrow cells: no gap, or nothing shows
  const trace = {
    type: "heatmap", z: r.map((row) => row.z.slice(lo, hi)), y: r.map((row) => row.name), x: range(lo, hi),
    zmin: 0, zmax: 1, showscale: false, xgap: gap, ygap: 2, colorscale: [[0, QUIET], [1, FIRE]], hoverinfo: "none",
  };
  const layout = stripLayout(fr, height(ctx), {
    xaxis: detailAxis(fr, win), yaxis: rowAxis(r, fr),
  });
  Plotly.react(el, [trace], layout, CONFIG);
}
