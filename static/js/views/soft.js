// Each detector's soft boundary z~ against a threshold; ✕ marks the cells that would flip
// if the threshold were moved from 0.5 to the slider's value.
import { CONFIG, LAYER_COLORS, charAxis, followZoom, labelsOf, layerName } from "../plot.js";

export function flips(layer, threshold) {
  const out = [];
  layer.z_soft.forEach((s, i) => { if ((s > threshold) !== (layer.z[i] === 1)) out.push(i); });
  return out;
}

export function render(el, res, threshold, title) {
  const labels = labelsOf(res);
  const x = labels.map((_, i) => i);
  const layers = res.layers.filter((l) => l.z_soft);
  const n = layers.length, gap = 0.06, h = (1 - gap * (n - 1)) / Math.max(n, 1);
  const traces = [], layout = {
    title: { text: title, font: { size: 13 } }, margin: { l: 60, r: 10, t: title ? 28 : 8, b: 36 },
    height: 60 + 90 * n, showlegend: false, xaxis: charAxis(labels), shapes: [],
  };
  layers.forEach((layer, k) => {
    const ax = k === 0 ? "" : String(k + 1);
    const color = LAYER_COLORS[(layer.layer - 1) % LAYER_COLORS.length];
    traces.push({ x, y: layer.z_soft, yaxis: `y${ax}`, type: "scatter", mode: "lines+markers",
                  name: layerName(layer.layer), line: { color, width: 1.5, shape: "hvh" }, marker: { size: 3 },
                  hoverinfo: "none" });
    const f = flips(layer, threshold);
    traces.push({ x: f, y: f.map((i) => layer.z_soft[i]), yaxis: `y${ax}`, type: "scatter", mode: "markers",
                  name: `flips ${layer.layer}`, marker: { symbol: "x", size: 9, color: "#111" }, hoverinfo: "none" });
    layout[`yaxis${ax}`] = { domain: [k * (h + gap), k * (h + gap) + h], range: [-0.05, 1.05], fixedrange: true,
                             title: { text: `z~ ${layer.layer}`, font: { size: 11 } }, anchor: "x" };
    layout.shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: `y${ax}`, y0: threshold, y1: threshold,
                         line: { color: "#888", dash: "dot", width: 1 } });
  });
  Plotly.react(el, traces, layout, CONFIG);
  followZoom(el, labels);
}
