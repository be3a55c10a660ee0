// Two models on one axis: 1 where their boundaries of the same layer differ.
import { CONFIG, cellWidth, detailAxis, range, rowAxis, slice, stripLayout } from "../lib/plot.js";
import { disagreement } from "../lib/scoring.js";

export function rows(ctx) {
  const [a, b] = ctx.pair;
  const out = [];
  a.res.layers.forEach((layer, i) => {
    const other = b.res.layers[i];
    if (!layer.z || !other || !other.z) return;
    out.push({ name: `layer ${layer.layer} differs`, short: `≠L${layer.layer}`, z: disagreement(a.z(i), b.z(i)) });
  });
  return out;
}

export function height(ctx) { return 10 + 22 * Math.max(1, rows(ctx).length); }

export function render(el, ctx) {
  const r = rows(ctx), { fr, win } = ctx;
  if (!r.length) { Plotly.purge(el); return; }
  const { lo, hi } = slice(win, r[0].z.length);
  const trace = {
    type: "heatmap", z: r.map((row) => row.z.slice(lo, hi)), y: r.map((row) => row.name), x: range(lo, hi),
    zmin: 0, zmax: 1, showscale: false, xgap: cellWidth(fr, win) >= 5 ? 1 : 0, ygap: 2,
    colorscale: [[0, "#f4f6f9"], [1, "#8e44ad"]], hoverinfo: "none",
  };
  const layout = stripLayout(fr, height(ctx), {
    xaxis: detailAxis(fr, win), yaxis: rowAxis(r, fr),
  });
  Plotly.react(el, [trace], layout, CONFIG);
}
