// The layers x steps grid of z at the slider's threshold (layer 1 at the bottom), with the
// gold and the baselines beneath: gold word ends and the server's baseline rows for text (with
// spaces: the rule that fires on every space, surprisal peaks; without: surprisal and entropy
// peaks, unigram pieces), pen-ups for ink. A layer read at lag 1 is drawn where it fired and
// labelled so: its red cell sits on the first letter after the boundary it marks.
import { CONFIG, FIRE, QUIET, cellWidth, detailAxis, range, rowAxis, slice, stripLayout } from "../lib/plot.js";

export const ROW_PX = 22;
const SHORT = { "whitespace": "space", "surprisal peaks": "surpr.", "entropy peaks": "entropy", "unigram pieces": "unigram" };

// the baselines beside the layers, as the server gives them (bottom to top)
export function baselineRows(res) {
  if (res.baseline_rows) return res.baseline_rows.map((b) => ({ name: b.name, short: SHORT[b.name] || b.name.slice(0, 7), z: b.z, how: b.how }));
  return res.surprisal_boundaries ? [{ name: "surprisal peaks", short: "surpr.", z: res.surprisal_boundaries.z }] : [];
}

// rows bottom to top: {name, label, short, z}
export function rows(ctx) {
  const { res, roles = [], lags = [] } = ctx;
  const out = [];
  if (res.task === "ink") {
    out.push({ name: "pen-up", short: "pen-up", z: res.pen_up });
  } else {
    out.push(...baselineRows(res));
    out.push({ name: "gold word ends", short: "gold", z: res.gold_word_ends });
  }
  res.layers.forEach((layer, i) => {
    if (!layer.z) return;
    const role = roles[i] && roles[i].short, lag = lags[i] === 1;
    const label = lag ? `layer ${layer.layer} (lag 1)` : role ? `layer ${layer.layer} (${role})` : `layer ${layer.layer}`;
    out.push({ name: `layer ${layer.layer}`, label, short: lag ? `L${layer.layer} lag1` : `L${layer.layer}`, z: ctx.z(i) });
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
