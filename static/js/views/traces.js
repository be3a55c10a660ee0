// Stacked strips over the steps: the operation of each layer (COPY / UPDATE / FLUSH), ||h|| and
// the output gate of each layer, and the surprisal of each character (nll of each point for ink;
// ctx.compare {name, nll}: a second model's nll of the same points, as a line).
import { CONFIG, OP_CODES, OP_COLORS, detailAxis, layerColor, range, slice, stripLayout } from "../lib/plot.js";

// px heights, top to bottom
const OPS_ROW = 15, PANEL = 64, LOSS = 58, GAP = 10, AXIS = 4;
export const COMPARE_COLOR = "#8e44ad";

export function height(ctx) {
  return 4 + OPS_ROW * ctx.res.layers.length + GAP + PANEL + GAP + PANEL + GAP + LOSS + AXIS;
}

export function render(el, ctx) {
  const { res, fr, win } = ctx;
  const ink = res.task === "ink";
  const n = res.layers[0].op.length, { lo, hi } = slice(win, n), x = range(lo, hi);
  const H = height(ctx) - 4 - AXIS;
  // domains from the bottom: loss, gate, ||h||, ops
  let y = 0;
  const band = (px) => { const d = [y / H, (y + px) / H]; y += px + GAP; return d; };
  const dLoss = band(LOSS), dGate = band(PANEL), dNorm = band(PANEL), dOps = [y / H, 1];
  const ops = { type: "heatmap", x, y: res.layers.map((l) => `layer ${l.layer}`), yaxis: "y4",
    z: res.layers.map((l) => l.op.slice(lo, hi).map((o) => OP_CODES[o])), zmin: 0, zmax: 2, showscale: false,
    xgap: 0, ygap: 1, hoverinfo: "none", name: "op",
    colorscale: [[0, OP_COLORS.C], [0.33, OP_COLORS.C], [0.34, OP_COLORS.U], [0.66, OP_COLORS.U], [0.67, OP_COLORS.F], [1, OP_COLORS.F]] };
  const traces = [ops];
  for (const layer of res.layers) {
    const color = layerColor(layer.layer);
    traces.push({ x, y: layer.h_norm.slice(lo, hi), yaxis: "y3", type: "scatter", mode: "lines", name: `‖h‖ ${layer.layer}`,
                  line: { color, width: 1.5 }, hoverinfo: "none" });
    traces.push({ x, y: layer.gate.slice(lo, hi), yaxis: "y2", type: "scatter", mode: "lines", name: `gate ${layer.layer}`,
                  line: { color, width: 1.5 }, hoverinfo: "none" });
  }
  const loss = ink ? res.nll : res.surprisal;
  // a filled step line: one path, where bars would be one element per step
  traces.push({ x, y: loss.slice(lo, hi), type: "scatter", mode: "lines", name: ink ? "nll (nats)" : "surprisal (bits)",
                line: { color: "#7a869a", width: 1, shape: "hvh" }, fill: "tozeroy", fillcolor: "rgba(122,134,154,.55)",
                hoverinfo: "none" });
  // a character the model cannot read costs tens of bits: scaled to it, every other step would lie
  // flat; the axis is set by the readable ones and the others are marked off scale at its top
  const cap = ink ? null : readableMax(loss, res.unknown, lo, hi);
  if (cap !== null) {
    const off = x.filter((t) => loss[t] !== null && loss[t] > cap);
    if (off.length) {
      traces.push({ x: off, y: off.map(() => cap), type: "scatter", mode: "markers", name: "off scale (unknown)",
                    marker: { symbol: "triangle-up", size: 7, color: "#c0392b" }, cliponaxis: false, hoverinfo: "none" });
    }
  }
  // ink compared with another checkpoint (an LSTM baseline): its NLL of the same points, a line
  if (ink && ctx.compare) {
    traces.push({ x, y: ctx.compare.nll.slice(lo, hi), type: "scatter", mode: "lines", name: `nll ${ctx.compare.name}`,
                  line: { color: COMPARE_COLOR, width: 1.5, shape: "hvh" }, hoverinfo: "none" });
  }
  const title = (text) => ({ text, font: { size: 10 }, standoff: 4 });
  const small = { fixedrange: true, automargin: false, tickfont: { size: 9 }, nticks: 3 };
  const layout = stripLayout(fr, height(ctx), {
    margin: { b: AXIS }, xaxis: detailAxis(fr, win),
    yaxis: { ...small, domain: dLoss, title: title(ink ? "nll" : "bits"),
             ...(cap !== null ? { range: [0, cap * 1.05] } : { rangemode: "tozero" }) },
    yaxis2: { ...small, domain: dGate, range: [0, 1], title: title("gate") },
    yaxis3: { ...small, domain: dNorm, title: title("‖h‖"), rangemode: "tozero" },
    yaxis4: { fixedrange: true, automargin: false, domain: dOps, tickfont: { size: 9 }, type: "category",
              tickvals: res.layers.map((l) => `layer ${l.layer}`),
              ticktext: res.layers.map((l) => (fr.narrow ? `op${l.layer}` : `op layer ${l.layer}`)) },
  });
  Plotly.react(el, traces, layout, CONFIG);
}

// the largest surprisal of a readable character in [lo, hi), when an unreadable one there costs more
// (null: nothing to cap)
export function readableMax(loss, unknown, lo, hi) {
  let known = 0, all = 0;
  for (let t = lo; t < hi; t += 1) {
    if (loss[t] === null) continue;
    all = Math.max(all, loss[t]);
    if (!unknown || !unknown[t]) known = Math.max(known, loss[t]);
  }
  return known > 0 && all > known ? known : null;
}
