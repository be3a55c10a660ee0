// The whole text (or ink) at a glance: each row's boundaries binned to the pixels there are
// (a bin's colour is the share of its steps that fire), and a brush for the detail window.
// Drag the brush, or press anywhere on the map to put the window there; the arrow keys move it (as a
// slider's: left and down back, right and up on).
import { CONFIG, FIRE, rowAxis, stripLayout } from "../lib/plot.js";

const ROW = 13;

export function height(rows) { return 6 + ROW * rows.length; }

// densities of z over `bins` equal runs of the n steps
function binned(z, bins) {
  const n = z.length, out = new Array(bins).fill(0);
  for (let k = 0; k < bins; k += 1) {
    const a = Math.floor((k * n) / bins), b = Math.max(a + 1, Math.floor(((k + 1) * n) / bins));
    let s = 0;
    for (let t = a; t < b; t += 1) s += z[t];
    out[k] = s / (b - a);
  }
  return out;
}

export function render(el, rows, fr, n) {
  const bins = Math.max(1, Math.min(n, Math.floor(fr.plotW / 2)));
  const trace = {
    type: "heatmap", z: rows.map((r) => binned(r.z, bins)), y: rows.map((r) => r.name),
    x0: n / bins / 2 - 0.5, dx: n / bins, zmin: 0, zmax: bins < n ? 0.6 : 1, showscale: false, xgap: 0, ygap: 1,
    colorscale: [[0, "#f4f6f9"], [1, FIRE]], hoverinfo: "none",
  };
  const layout = stripLayout({ ...fr, touch: true }, height(rows), {
    xaxis: { range: [-0.5, n - 0.5], fixedrange: true, showticklabels: false, showgrid: false, zeroline: false, ticks: "" },
    yaxis: rowAxis(rows, fr), margin: { t: 3, b: 3 }, dragmode: false,
  });
  Plotly.react(el, [trace], layout, CONFIG);
}

// The brush: an element over the map's plotting area. move(a) asks for a window starting at a.
export class Brush {
  constructor(el, move) {
    this.el = el;
    this.move = move;
    this.state = null;            // {fr, n, a, b}
  }

  start() {
    const area = this.el.parentElement;
    let grab = null;              // steps between the pointer and the window's start
    const at = (ev) => {
      const { fr, n } = this.state;
      const px = ev.clientX - area.getBoundingClientRect().left;
      return ((px - fr.l) / fr.plotW) * n;
    };
    area.addEventListener("pointerdown", (ev) => {
      if (!this.state || ev.button > 0) return;
      const x = at(ev), { a, b } = this.state;
      grab = x >= a && x <= b ? x - a : (b - a) / 2;      // outside the window: centre it there
      area.setPointerCapture(ev.pointerId);
      this.move(x - grab);
      ev.preventDefault();
    });
    area.addEventListener("pointermove", (ev) => { if (grab !== null) this.move(at(ev) - grab); });
    const drop = () => { grab = null; };
    area.addEventListener("pointerup", drop);
    area.addEventListener("pointercancel", drop);
    this.el.addEventListener("keydown", (ev) => {
      if (!this.state) return;
      const { a, b } = this.state, w = b - a;
      const by = { ArrowLeft: -w / 4, ArrowDown: -w / 4, ArrowRight: w / 4, ArrowUp: w / 4, PageUp: -w, PageDown: w,
                   Home: -Infinity, End: Infinity }[ev.key];
      if (by === undefined) return;
      this.move(Number.isFinite(by) ? a + by : (by < 0 ? 0 : this.state.n));
      ev.preventDefault();
    });
  }

  show(fr, n, win) {
    this.state = { fr, n, a: win.a, b: Math.min(win.b, n) };
    const span = Math.max(n, 1);
    // at least a finger's width on a touch screen (a few pixels on a mouse one), kept inside the map:
    // a window at the end of a long text grows to the left, not out of sight
    const least = Math.min(fr.plotW, fr.narrow ? 16 : 6);
    const width = Math.max(least, ((Math.min(win.b, n) - win.a) / span) * fr.plotW);
    const left = Math.min(fr.l + (win.a / span) * fr.plotW, fr.l + fr.plotW - width);
    this.el.hidden = n === 0;
    this.el.style.left = `${left}px`;
    this.el.style.width = `${width}px`;
    this.el.setAttribute("aria-valuenow", String(win.a));       // the window's first step, from 0 to where it ends the text
    this.el.setAttribute("aria-valuemin", "0");
    this.el.setAttribute("aria-valuemax", String(Math.max(0, n - (Math.min(win.b, n) - win.a))));
    this.el.setAttribute("aria-valuetext", `steps ${win.a + 1}–${Math.min(win.b, n)} of ${n}`);
  }
}
