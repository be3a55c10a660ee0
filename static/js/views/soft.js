// Each detector's soft boundary z~ against the slider's threshold; ✕ marks a cell whose z the
// threshold flips (against the model's own 0.5).
import { CONFIG, detailAxis, layerColor, range, slice, stripLayout } from "../lib/plot.js";

const PER_LAYER = 62;

export function flips(layer, threshold, lo = 0, hi = layer.z_soft.length) {
  const out = [];
  for (let i = lo; i < hi; i += 1) if ((layer.z_soft[i] > threshold) !== (layer.z[i] === 1)) out.push(i);
  return out;
}

const detectors = (res) => res.layers.filter((l) => l.z_soft);

export function height(ctx) { return 8 + PER_LAYER * detectors(ctx.res).length; }

export function render(el, ctx) {
  const { res, fr, win, threshold } = ctx;
  const layers = detectors(res);
  if (!layers.length) {                 // no detector (a plain LSTM): nothing to draw
    if (el.data) Plotly.purge(el);
    el.replaceChildren();
    return;
  }
  const n = layers.length ? layers[0].z_soft.length : 0, { lo, hi } = slice(win, n);
  const x = range(lo, hi), gap = 12 / height(ctx), h = (1 - gap * (layers.length - 1)) / Math.max(layers.length, 1);
  const traces = [], layout = stripLayout(fr, height(ctx), { xaxis: detailAxis(fr, win),
                                                          shapes: [] });
  layers.forEach((layer, k) => {
    const ax = k === 0 ? "" : String(k + 1);
    traces.push({ x, y: layer.z_soft.slice(lo, hi), yaxis: `y${ax}`, type: "scatter", mode: "lines",
                  name: `z~ ${layer.layer}`, line: { color: layerColor(layer.layer), width: 1.5, shape: "hvh" },
                  hoverinfo: "none" });
    const f = flips(layer, threshold, lo, hi);
    traces.push({ x: f, y: f.map((i) => layer.z_soft[i]), yaxis: `y${ax}`, type: "scatter", mode: "markers",
                  name: `flips ${layer.layer}`, marker: { symbol: "x", size: 8, color: "#111" }, hoverinfo: "none" });
    layout[`yaxis${ax}`] = { domain: [k * (h + gap), k * (h + gap) + h], range: [-0.05, 1.05], fixedrange: true,
                             tickvals: [0, 0.5, 1], tickfont: { size: 9 }, automargin: false,
                             title: { text: fr.narrow ? `z~${layer.layer}` : `z~ layer ${layer.layer}`, font: { size: 10 }, standoff: 4 },
                             anchor: "x" };
    layout.shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: `y${ax}`, y0: threshold, y1: threshold,
                         line: { color: "#888", dash: "dot", width: 1 } });
  });
  Plotly.react(el, traces, layout, CONFIG);
}
