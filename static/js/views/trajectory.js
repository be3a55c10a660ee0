// The ink itself, coloured by the segments one layer's boundaries make; boundaries marked,
// pen-up moves dotted. Raw: as drawn. Model: the offsets the model reads, summed back up.
import { CONFIG, LAYER_COLORS } from "../plot.js";

const SEGMENT_COLORS = ["#2f6fdd", "#d9822b", "#2e9d5b", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#b7950b"];

export function positions(res, view) {
  if (view === "raw") return res.points.map(([x, y]) => [x, y]);
  let x = 0, y = 0;
  return res.model_input.map(([dx, dy]) => { x += dx; y += dy; return [x, y]; });
}

// segment k of a layer: the points after its k-th boundary (a boundary falls after a point)
export function segmentIds(z) {
  let k = 0;
  return z.map((v) => { const id = k; if (v === 1) k += 1; return id; });
}

export function render(el, res, layerIndex, view) {
  const xy = positions(res, view);
  const layer = res.layers[layerIndex];
  const z = layer && layer.z ? layer.z : res.pen_up;
  const seg = segmentIds(z);
  const traces = [];
  // pen-down strokes, one trace per (stroke, segment) run so each segment has its colour
  let run = null;
  const flush = () => { if (run && run.x.length) traces.push(run); };
  res.points.forEach(([, , stroke], i) => {
    if (!run || run.stroke !== stroke || run.seg !== seg[i]) {
      const bridge = run && run.stroke === stroke ? [run.x[run.x.length - 1], run.y[run.y.length - 1]] : null;
      flush();
      run = { x: bridge ? [bridge[0]] : [], y: bridge ? [bridge[1]] : [], stroke, seg: seg[i], type: "scatter",
              mode: "lines", line: { color: SEGMENT_COLORS[seg[i] % SEGMENT_COLORS.length], width: 3 },
              hoverinfo: "none", showlegend: false };
    }
    run.x.push(xy[i][0]);
    run.y.push(xy[i][1]);
  });
  flush();
  // pen-up moves, dotted
  const up = { x: [], y: [], type: "scatter", mode: "lines", line: { color: "#999", dash: "dot", width: 1 },
               hoverinfo: "none", name: "pen up", showlegend: false };
  res.pen_up.forEach((v, i) => {
    if (v === 1 && i + 1 < xy.length) up.x.push(xy[i][0], xy[i + 1][0], null), up.y.push(xy[i][1], xy[i + 1][1], null);
  });
  traces.push(up);
  // every point, for hovering, and the boundaries marked
  traces.push({ x: xy.map((p) => p[0]), y: xy.map((p) => p[1]), type: "scatter", mode: "markers", name: "points",
                marker: { size: 4, color: "rgba(0,0,0,0.15)" }, hoverinfo: "none", showlegend: false });
  const b = z.map((v, i) => (v === 1 ? i : -1)).filter((i) => i >= 0);
  traces.push({ x: b.map((i) => xy[i][0]), y: b.map((i) => xy[i][1]), type: "scatter", mode: "markers",
                name: "boundaries", marker: { symbol: "line-ns-open", size: 14, line: { width: 3 },
                color: LAYER_COLORS[layerIndex % LAYER_COLORS.length] }, hoverinfo: "none", showlegend: false });
  const layout = {
    margin: { l: 30, r: 10, t: 10, b: 30 }, height: 320, shapes: [],
    xaxis: { zeroline: false, showgrid: false, scaleanchor: "y" },
    yaxis: { zeroline: false, showgrid: false, autorange: "reversed" },        // screen-style: y down
  };
  Plotly.react(el, traces, layout, CONFIG);
  return { segments: new Set(seg).size, boundaries: b.length };
}
