// Overview and detail: the minimap with its brush, and every strip in one column on one x
// axis (same width, same margins), all showing the viewport's window. A zoom or pan in any
// strip, the brush, the width control and a resize move the window everywhere. Only the
// window (and a window's width either side) is drawn, and a strip whose slice did not change
// is not drawn again. Pointer: hover (mouse, pen) or tap (touch) picks a step anywhere in the column.
import { touchDevice } from "./page.js";
import { frame, lengthOf, plotted, slice, stepAt, xOf } from "./plot.js";
import { Viewport } from "./viewport.js";
import * as minimap from "../views/minimap.js";
import * as zgrid from "../views/zgrid.js";

export class Strips {
  // strips: [{el, view, of: 0 | 1 | "pair"}]: which result each draws ("pair": both)
  // map: the minimap's element (mapIfLong: shown only when the text is longer than the window)
  constructor({ column, strips, map = null, mapIfLong = false, brush = null, cursor = null, width = null,
                onStep = () => {}, onDrawn = () => {} }) {
    Object.assign(this, { column, strips, map, mapIfLong, brush, cursor, widthInput: width, onStep, onDrawn });
    this.viewport = new Viewport();
    this.results = [];
    this.threshold = 0.5;
    this.version = 0;              // bumped when everything must be drawn again
    this.changedFrom = Infinity;   // first step whose values changed since the last draw
    this.step = null;
    this.fr = null;
    this.pending = 0;
  }

  start() {
    new ResizeObserver(() => this.later()).observe(this.column);
    const pick = (ev) => {
      if (!this.fr || !this.results.length) return;
      const t = stepAt(this.fr, this.viewport.window(), ev.clientX - this.column.getBoundingClientRect().left);
      if (t !== null && t < this.viewport.n) this.onStep(t);
    };
    let down = null, pan = null;
    this.column.addEventListener("pointermove", (ev) => {
      if (ev.pointerType === "touch") return;
      if (pan && this.fr) {                       // dragging an HTML strip (Segments, the axis) pans the window
        const dx = ev.clientX - pan.x, win = this.viewport.window();
        if (Math.abs(dx) > 3) { this.viewport.moveTo(pan.a - dx / (this.fr.plotW / (win.b - win.a))); this.later(); }
      }
      pick(ev);
    });
    this.column.addEventListener("pointerdown", (ev) => {
      down = [ev.clientX, ev.clientY];
      if (ev.pointerType === "touch") return;
      // Plotly's own strips zoom on a drag; the HTML ones pan
      if (ev.button === 0 && !ev.target.closest(".js-plotly-plot")) pan = { x: ev.clientX, a: this.viewport.window().a };
      pick(ev);
    });
    const stop = () => { pan = null; };
    this.column.addEventListener("pointercancel", stop);
    document.addEventListener("pointerup", stop);
    this.column.addEventListener("pointerup", (ev) => {       // a tap does what hover does
      if (ev.pointerType === "touch" && down && Math.hypot(ev.clientX - down[0], ev.clientY - down[1]) < 12) pick(ev);
      down = null;
    });
    this.column.addEventListener("dblclick", () => { this.viewport.reset(); this.later(); });
    if (this.brush) this.brush.start();
    if (this.widthInput) {
      this.widthInput.addEventListener("change", () => {
        const w = Number(this.widthInput.value);
        if (w > 0) { this.viewport.setWidth(w); this.later(); }
      });
    }
    return this;
  }

  // results: [{res, name, z(i), roles}], the first on top; changedFrom: first step that may differ
  // from what is drawn (0: all), full: the threshold, a layer or the models changed
  show(results, { threshold = this.threshold, changedFrom = 0, full = false } = {}) {
    const n = results.length ? lengthOf(results[0].res) : 0;
    if (full || results.length !== this.results.length || threshold !== this.threshold) this.version += 1;
    this.results = results;
    this.threshold = threshold;
    this.changedFrom = Math.min(this.changedFrom, changedFrom);
    this.viewport.setLength(n);
    this.draw();
  }

  clear() {
    this.results = [];
    this.viewport.setLength(0);
    this.version += 1;
    // emptied, the strips give their height back: no panel of blank space under an empty text box
    for (const s of this.strips) {
      if (plotted(s.el)) Plotly.purge(s.el);
      s.el.replaceChildren();
      s.el.style.minHeight = "";
      s.drawn = null;
    }
    if (this.map) { if (plotted(this.map)) Plotly.purge(this.map); this.map.replaceChildren(); this.map.style.minHeight = ""; }
    if (this.brush) this.brush.el.hidden = true;
    this.point(null);
    this.onDrawn({ cleared: true });
  }

  // the window moved: e.g. the brush or a picked character
  moveTo(a) { this.viewport.moveTo(a); this.later(); }
  centreOn(t) { this.viewport.centreOn(t); this.later(); }

  later() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = 0; this.draw(); });
  }

  ctxFor(i) {
    const r = this.results[i];
    return r && { ...r, fr: this.fr, win: this.viewport.window(), threshold: this.threshold };
  }

  draw() {
    if (this.pending) { cancelAnimationFrame(this.pending); this.pending = 0; }
    if (!this.results.length) return;
    const width = this.column.clientWidth;
    if (!width) return;
    if (!this.fr || this.fr.width !== width) { this.fr = frame(width, touchDevice()); this.version += 1; }
    this.viewport.setFrame(this.fr);
    const win = this.viewport.window(), n = this.viewport.n;
    const drawn = [];
    for (const s of this.strips) {
      const ctx = s.of === "pair" ? (this.results[1] && { pair: [this.ctxFor(0), this.ctxFor(1)], fr: this.fr, win })
        : this.ctxFor(s.of || 0);
      if (!ctx) { if (s.drawn) { if (plotted(s.el)) Plotly.purge(s.el); s.el.replaceChildren(); s.drawn = null; } continue; }
      const { lo, hi } = slice(win, n);
      const sig = `${this.version}:${win.a}:${win.b}:${lo}`;
      if (s.drawn && s.drawn.sig === sig && this.changedFrom >= s.drawn.hi && hi === s.drawn.hi) continue;
      s.el.style.minHeight = `${s.view.height(ctx)}px`;
      s.view.render(s.el, ctx);
      s.drawn = { sig, hi };
      drawn.push(s.el.id);
      if (plotted(s.el) && !s.el._lensLinked) {
        s.el._lensLinked = true;
        s.el.on("plotly_relayout", (ev) => this.zoomed(ev));
      }
    }
    if (this.map && this.mapIfLong) this.map.parentElement.hidden = n <= win.b - win.a;
    if (this.map && !this.map.parentElement.hidden) {
      const ctx = this.ctxFor(0);
      minimap.render(this.map, zgrid.rows(ctx), this.fr, n);
      this.map.style.minHeight = `${minimap.height(zgrid.rows(ctx))}px`;
    }
    if (this.brush) this.brush.show(this.fr, n, win);
    if (this.widthInput && document.activeElement !== this.widthInput) this.widthInput.value = String(this.viewport.width());
    this.changedFrom = Infinity;
    this.point(this.step);
    this.onDrawn({ win, drawn });
  }

  // a zoom (or pan) in one strip: every strip follows
  zoomed(ev) {
    const r = ev["xaxis.range"] || [ev["xaxis.range[0]"], ev["xaxis.range[1]"]];
    if (r[0] !== undefined && r[1] !== undefined) { this.viewport.setRange(r[0], r[1]); this.later(); }
    else if (ev["xaxis.autorange"]) { this.viewport.reset(); this.later(); }
  }

  // the cursor: one line through every strip at step t (null: none)
  point(t) {
    this.step = t;
    if (!this.cursor) return;
    const win = this.viewport.window();
    if (t === null || !this.fr || t < win.a || t >= win.b) { this.cursor.hidden = true; return; }
    this.cursor.hidden = false;
    const w = Math.max(2, this.fr.plotW / (win.b - win.a));
    this.cursor.style.left = `${xOf(this.fr, win, t) - w / 2}px`;
    this.cursor.style.width = `${w}px`;
    this.cursor.dataset.position = String(t);
  }
}
