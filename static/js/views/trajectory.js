// The ink itself, coloured by the segments one layer's boundaries make; boundaries marked,
// pen-up moves dotted. Raw: as drawn. Model: the offsets the model reads, summed back up, with
// the mean step the normalisation takes out added back, so the line still drifts left to right.
import { segmentIds } from "../lib/scoring.js";

// Past this many points the sampled points are not drawn: at that density they blur into the line, and
// thousands of SVG markers cost most of a second (WebGL is not used: where it is software only, as in
// many virtual machines, Plotly's first WebGL plot in an element can fail and leave a message instead)
const MANY = 1500;

export const SEGMENT_COLORS = ["#2f6fdd", "#d9822b", "#2e9d5b", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#b7950b"];

// the mean step, in the model's units: model_input = a * raw offset + b per axis, so b = -mean/std;
// fitted on the unclipped points (the server does not send its statistics)
function meanStep(res, axis) {
  let n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (let i = 1; i < res.points.length; i += 1) {
    const raw = res.points[i][axis] - res.points[i - 1][axis], v = res.model_input[i][axis];
    if (Math.abs(v) >= 7.99) continue;
    n += 1; sx += raw; sy += v; sxx += raw * raw; sxy += raw * v;
  }
  const d = n * sxx - sx * sx;
  if (n < 3 || Math.abs(d) < 1e-12) return 0;
  const a = (n * sxy - sx * sy) / d;
  return -((sy - a * sx) / n);           // -b: the mean step that was subtracted, in std units
}

export function positions(res, view) {
  if (view === "raw") return res.points.map(([x, y]) => [x, y]);
  const mx = meanStep(res, 0), my = meanStep(res, 1);
  let x = 0, y = 0;
  return res.model_input.map(([dx, dy], i) => {
    if (i > 0) { x += dx + mx; y += dy + my; }
    return [x, y];
  });
}

const MARGIN = { l: 30, r: 10, t: 6, b: 24 };
// the least extent shown, in each view's units (the pad's pixels; the model's standardised steps): a dot or
// a short tick is not blown up until its jitter fills the plot and its axis labels grow decimals
export const LEAST = { raw: 100, model: 5 };

// [low, high] of vs, widened about its middle to at least `least`
export function extent(vs, least) {
  const lo = Math.min(...vs), hi = Math.max(...vs), pad = Math.max(0, least - (hi - lo)) / 2;
  return [lo - pad, hi + pad];
}

// an axis fitted to the ink, or, where the ink is smaller than `least` along it, a range that wide about its
// middle; `down`: y as on a screen
function axisFor(vs, least, down = false) {
  if (Math.max(...vs) - Math.min(...vs) >= least) return down ? { autorange: "reversed" } : {};
  const r = extent(vs, least);
  return { range: down ? r.reverse() : r };
}

// The plot's height from the ink's own shape (x and y share a scale), so that a wide line on a narrow
// screen is not a thin band in an empty box; points and boundary ticks sized to the ink's scale.
export function fit(xs, ys, fr, least = 0) {
  const [x0, x1] = extent(xs, least), [y0, y1] = extent(ys, least);
  const w = Math.max(1e-6, x1 - x0), h = Math.max(1e-6, y1 - y0);
  const inner = fr.width - MARGIN.l - MARGIN.r, pxPerUnit = inner / w;
  const tall = fr.narrow ? 220 : 300, low = 150;
  const height = Math.round(Math.min(tall, Math.max(low, h * pxPerUnit * 1.15 + MARGIN.t + MARGIN.b)));
  const inkPx = Math.min(h * pxPerUnit, height - MARGIN.t - MARGIN.b);   // the ink's height on screen
  return { height, tick: Math.round(Math.min(10, Math.max(4, inkPx / 9))),
           point: Math.round(Math.min(5, Math.max(2, inkPx / 20))) };
}

export function render(el, res, z, view, fr) {
  const xy = positions(res, view), xs = xy.map((p) => p[0]), ys = xy.map((p) => p[1]);
  const seg = segmentIds(z);
  // one trace per colour, strokes and segments split by nulls; a segment's line starts at the
  // previous point of its stroke so that the ink stays joined; every vertex carries its point's number
  // (customdata, as in every trace here), so that a hover picks a point even where the points are not drawn
  const byColour = SEGMENT_COLORS.map((color) => ({ x: [], y: [], customdata: [], type: "scatter", mode: "lines",
                                                      hoverinfo: "none", line: { color, width: 3 }, showlegend: false,
                                                      name: "ink" }));
  let run = -1;                              // the colour of the run being drawn (-1: none)
  res.points.forEach(([, , stroke], i) => {
    const c = seg[i] % SEGMENT_COLORS.length, tr = byColour[c];
    const joined = i > 0 && res.points[i - 1][2] === stroke;
    if (run !== c || !joined) {
      tr.x.push(null); tr.y.push(null); tr.customdata.push(null);
      if (joined) { tr.x.push(xy[i - 1][0]); tr.y.push(xy[i - 1][1]); tr.customdata.push(i - 1); }
      run = c;
    }
    tr.x.push(xy[i][0]); tr.y.push(xy[i][1]); tr.customdata.push(i);
  });
  const traces = byColour.filter((t) => t.x.length);
  const up = { x: [], y: [], customdata: [], type: "scatter", mode: "lines", line: { color: "#999", dash: "dot", width: 1 },
               hoverinfo: "none", name: "pen up", showlegend: false };
  res.pen_up.forEach((v, i) => {
    if (v === 1 && i + 1 < xy.length) {
      up.x.push(xy[i][0], xy[i + 1][0], null); up.y.push(xy[i][1], xy[i + 1][1], null); up.customdata.push(i, i + 1, null);
    }
  });
  traces.push(up);
  const least = LEAST[view] ?? LEAST.model, box = fit(xs, ys, fr, least);
  if (res.points.length <= MANY) {
    traces.push({ x: xs, y: ys, customdata: xy.map((p, i) => i), type: "scatter",
                  mode: "markers", name: "points",
                  marker: { size: box.point, color: "rgba(0,0,0,0.12)" }, hoverinfo: "none", showlegend: false });
  }
  const b = z.map((v, i) => (v === 1 ? i : -1)).filter((i) => i >= 0);
  traces.push({ x: b.map((i) => xy[i][0]), y: b.map((i) => xy[i][1]), customdata: b, type: "scatter", mode: "markers",
                name: "boundaries", marker: { symbol: "line-ns-open", size: box.tick, line: { width: 2 }, color: "#1d2330" },
                hoverinfo: "none", showlegend: false });
  const layout = {
    width: fr.width, height: box.height, autosize: false, hovermode: "closest",
    margin: MARGIN, shapes: [], dragmode: fr.touch ? false : "zoom",
    xaxis: { zeroline: false, showgrid: false, scaleanchor: "y", automargin: false, ...axisFor(xs, least) },
    yaxis: { zeroline: false, showgrid: false, automargin: false, ...axisFor(ys, least, true) },
  };
  Plotly.react(el, traces, layout, { displayModeBar: false, responsive: false });
  return { segments: new Set(seg).size, boundaries: b.length };
}
