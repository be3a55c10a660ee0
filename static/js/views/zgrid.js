// The layers x characters grid of z, layer 1 at the bottom, with gold word ends and the
// surprisal-peak baseline beneath for comparison.
import { CONFIG, charAxis, followZoom, labelsOf, layerName } from "../plot.js";

export function rows(res) {
  const out = [];
  if (res.task === "ink") {
    out.push({ name: "pen-up", z: res.pen_up });
  } else {
    if (res.surprisal_boundaries) out.push({ name: "surprisal peaks", z: res.surprisal_boundaries.z });
    out.push({ name: "gold word ends", z: res.gold_word_ends });
  }
  for (const layer of res.layers) {
    if (layer.z) out.push({ name: layerName(layer.layer), z: layer.z });
  }
  return out;
}

export function render(el, res, title) {
  const r = rows(res), labels = labelsOf(res);
  const trace = {
    type: "heatmap", z: r.map((row) => row.z), y: r.map((row) => row.name),
    x: labels.map((_, i) => i), zmin: 0, zmax: 1, showscale: false, xgap: 1, ygap: 2,
    colorscale: [[0, "#eef1f6"], [1, "#c0392b"]], hoverinfo: "none",
  };
  const layout = {
    title: { text: title, font: { size: 13 } }, margin: { l: 110, r: 10, t: title ? 28 : 8, b: 36 },
    xaxis: charAxis(labels), yaxis: { fixedrange: true, automargin: true },
    height: 70 + 26 * r.length, shapes: [],
  };
  Plotly.react(el, [trace], layout, CONFIG);
  followZoom(el, labels);
}
