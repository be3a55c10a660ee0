// Stacked strips over the characters: the operation of each step (COPY / UPDATE / FLUSH),
// ||h|| and the output gate of each layer, and the surprisal of each character.
import { CONFIG, LAYER_COLORS, OP_CODES, charAxis, followZoom, labelsOf, layerName } from "../plot.js";

export function render(el, res, title) {
  const labels = labelsOf(res);
  const x = labels.map((_, i) => i);
  const L = res.layers.length;
  const color = (l) => LAYER_COLORS[(l - 1) % LAYER_COLORS.length];
  const traces = [
    { type: "heatmap", x, y: res.layers.map((l) => layerName(l.layer)),
      z: res.layers.map((l) => l.op.map((o) => OP_CODES[o])), zmin: 0, zmax: 2, yaxis: "y4", xgap: 1, ygap: 2,
      colorscale: [[0, "#e9edf3"], [0.33, "#e9edf3"], [0.34, "#7fb0ea"], [0.66, "#7fb0ea"], [0.67, "#c0392b"], [1, "#c0392b"]],
      colorbar: { tickvals: [0, 1, 2], ticktext: ["COPY", "UPDATE", "FLUSH"], len: 0.22, y: 0.89, thickness: 10 },
      hoverinfo: "none", name: "op" },
  ];
  for (const layer of res.layers) {
    traces.push({ x, y: layer.h_norm, yaxis: "y3", type: "scatter", mode: "lines", name: `‖h‖ ${layer.layer}`,
                  line: { color: color(layer.layer), width: 1.5 }, hoverinfo: "none", legendgroup: `l${layer.layer}` });
    traces.push({ x, y: layer.gate, yaxis: "y2", type: "scatter", mode: "lines", name: `gate ${layer.layer}`,
                  line: { color: color(layer.layer), width: 1.5, dash: "dot" }, hoverinfo: "none",
                  legendgroup: `l${layer.layer}` });
  }
  const ink = res.task === "ink";
  traces.push({ x, y: ink ? res.nll : res.surprisal, type: "bar", name: ink ? "nll (nats)" : "surprisal (bits)",
                marker: { color: "#7a869a" }, hoverinfo: "none" });
  const layout = {
    title: { text: title, font: { size: 13 } }, margin: { l: 70, r: 10, t: title ? 28 : 8, b: 36 }, height: 520,
    xaxis: charAxis(labels), barmode: "overlay", legend: { orientation: "h", y: -0.12, font: { size: 11 } },
    yaxis: { domain: [0, 0.2], title: { text: ink ? "nats" : "bits", font: { size: 11 } }, fixedrange: true },
    yaxis2: { domain: [0.25, 0.48], range: [0, 1], title: { text: "gate", font: { size: 11 } }, fixedrange: true },
    yaxis3: { domain: [0.53, 0.76], title: { text: "‖h‖", font: { size: 11 } }, fixedrange: true, rangemode: "tozero" },
    yaxis4: { domain: [0.8, 1], fixedrange: true, automargin: true },
    shapes: [],
  };
  Plotly.react(el, traces, layout, CONFIG);
  followZoom(el, labels);
  return L;
}
