// The paper's Figure 5: the same ink cut two ways, in two small panels at the same scale — by
// its pen-ups (one segment per stroke) and by one layer's boundaries — each segment in its own
// colour. One trace per colour (strokes and segments split by nulls); each vertex carries its
// segment's number in customdata, so what is drawn can be counted.
import { segmentIds } from "../lib/scoring.js";
import { LEAST, SEGMENT_COLORS, extent } from "./trajectory.js";

const STATIC = { staticPlot: true, displayModeBar: false, responsive: false };

// the box every panel shows: the ink's extent (at least the trajectory's least, so that a dot stays a dot), a
// margin around it (screen-style, y down)
export function box(points) {
  const [x0, x1] = extent(points.map((p) => p[0]), LEAST.raw), [y0, y1] = extent(points.map((p) => p[1]), LEAST.raw);
  const pad = 0.04 * Math.max(x1 - x0, y1 - y0);
  return { x: [x0 - pad, x1 + pad], y: [y1 + pad, y0 - pad] };
}

// the panel's height for its width: the ink's aspect, within limits that keep it small
export function heightFor(b, width, narrow) {
  const aspect = (b.y[0] - b.y[1]) / Math.max(1e-9, b.x[1] - b.x[0]);
  return Math.round(Math.max(narrow ? 90 : 110, Math.min(narrow ? 200 : 230, width * aspect + 8)));
}

// el: the panel; res: the answer; z: 1 where a segment ends (pen_up, or a layer's z);
// b, height: the shared box and height. Returns {segments, boundaries}.
export function render(el, res, z, b, width, height) {
  const seg = segmentIds(z);
  const byColour = SEGMENT_COLORS.map((color) => ({ x: [], y: [], customdata: [], type: "scatter", mode: "lines",
    hoverinfo: "none", showlegend: false, name: `colour ${color}`, line: { color, width: 2.5 } }));
  let run = -1;
  res.points.forEach(([x, y, stroke], i) => {
    const s = seg[i], tr = byColour[s % SEGMENT_COLORS.length];
    const joined = i > 0 && res.points[i - 1][2] === stroke;
    if (run !== s || !joined) {
      tr.x.push(null); tr.y.push(null); tr.customdata.push(null);
      if (joined) { tr.x.push(res.points[i - 1][0]); tr.y.push(res.points[i - 1][1]); tr.customdata.push(s); }
      run = s;
    }
    tr.x.push(x); tr.y.push(y); tr.customdata.push(s);
  });
  // a lone point (a dot, a one-point segment) shows as a marker too
  const traces = byColour.filter((t) => t.x.length).map((t) => ({ ...t, mode: "lines+markers",
    marker: { size: 3, color: t.line.color } }));
  const layout = {
    width, height, autosize: false, showlegend: false, hovermode: false, dragmode: false,
    margin: { l: 4, r: 4, t: 4, b: 4 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff",
    xaxis: { range: b.x, visible: false, fixedrange: true, scaleanchor: "y", scaleratio: 1, constrain: "domain" },
    yaxis: { range: b.y, visible: false, fixedrange: true, constrain: "domain" },
  };
  Plotly.react(el, traces, layout, STATIC);
  return { segments: new Set(seg).size, boundaries: z.slice(0, -1).reduce((n, v) => n + (v === 1 ? 1 : 0), 0) };
}

export function clear(el) {
  if (el.data) Plotly.purge(el);
  el.replaceChildren();
}
