// Overview and detail: the minimap with its brush, and every strip in one column on one x
// axis (same width, same margins), all showing the viewport's window. A zoom or pan in any
// strip, the brush, the width control and a resize move the window everywhere. Only the
// window (and a window's width either side) is drawn, and a strip whose slice did not change
// is not drawn again. A strip (or the overview) off screen is drawn when the page is idle, or as it
// scrolls into view, so that a keystroke waits only for what can be seen. Pointer: hover (mouse, pen)
// or tap (touch) picks a step anywhere in the column; keyboard: the column takes the focus, and the
// arrow keys move the step picked (the window follows it).
import { stepLine } from "./describe.js";
import { announce, touchDevice } from "./page.js";
import { frame, lengthOf, listenOnce, plotted, slice, stepAt, xOf } from "./plot.js";
import { Viewport } from "./viewport.js";
import * as minimap from "../views/minimap.js";
import * as zgrid from "../views/zgrid.js";

export class Strips {
  // strips: [{el, view, of: 0 | 1 | "pair"}]: which result each draws ("pair": both)
  // map: the minimap's element (mapIfLong: shown only when the text is longer than the window)
  // onShown({win, drawn}): the strips on screen are drawn; onDrawn({win}): all of them are
  // widestCell: the widest a short text's cells grow, in px (the rest of the frame is room to type into)
  constructor({ column, strips, map = null, mapIfLong = false, brush = null, cursor = null, width = null,
                widestCell = 24, onStep = () => {}, onShown = () => {}, onDrawn = () => {} }) {
    Object.assign(this, { column, strips, map, mapIfLong, brush, cursor, widthInput: width, onStep, onShown, onDrawn });
    this.viewport = new Viewport(widestCell);
    this.results = [];
    this.threshold = 0.5;
    this.version = 0;              // bumped when everything must be drawn again
    this.changedFrom = Infinity;   // first step whose values changed since the last draw
    this.step = null;
    this.fr = null;
    this.pending = 0;
    this.visible = null;           // the elements on screen; null until the observer first reports
    this.idle = null;              // the idle callback that draws what is owed
    this.mapDrawn = false;
  }

  start() {
    this.describe();
    new ResizeObserver(() => this.later()).observe(this.column);
    const seen = new IntersectionObserver((entries) => {
      this.visible ??= new Set();
      for (const e of entries) { if (e.isIntersecting) this.visible.add(e.target); else this.visible.delete(e.target); }
      if (entries.some((e) => e.isIntersecting) && this.owed()) this.later();
    }, { rootMargin: "0px" });
    for (const s of this.strips) seen.observe(s.el);
    if (this.map) seen.observe(this.map);
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
    this.column.addEventListener("keydown", (ev) => this.stepKey(ev));
    if (this.brush) this.brush.start();
    if (this.widthInput) {
      this.widthInput.addEventListener("change", () => {
        const w = Number(this.widthInput.value);
        if (w > 0) { this.viewport.setWidth(w); this.later(); }
        this.showWidth();                          // what the window holds: the width clamped, or the text's length
      });
    }
    return this;
  }

  // what assistive technology is told: how the keys work, and each strip a picture named by its title
  // (a chart's inner shapes say nothing; the step, in words, is said as the keys move it)
  describe() {
    const keys = Object.assign(document.createElement("p"), { id: `${this.column.id}-keys`, className: "sr-only",
      textContent: "The arrow keys move the step inspected (Shift: ten steps); Home and End go to the ends of the window." });
    this.column.before(keys);
    this.column.setAttribute("aria-describedby", keys.id);
    for (const s of this.strips) {
      if (!s.el.dataset.title) continue;
      s.el.setAttribute("role", "img");
      s.el.setAttribute("aria-label", s.el.dataset.title);
    }
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
    const step = n && this.restoring ? this.restore(n) : undefined;
    this.draw();
    if (step !== undefined) this.onStep(step);
  }

  // a link's window put in place for results of n steps; its step, to be picked once they are drawn. A
  // window or a step past the end (a link edited by hand) is said, not silently dropped.
  restore(n) {
    const { win, step, onUnused } = this.restoring;
    this.restoring = null;
    const unused = [win && win[0] >= n && "window", step >= n && "step"].filter(Boolean);
    if (win && !unused.includes("window")) this.placeWindow(win);
    if (unused.length) onUnused(unused);
    return unused.includes("step") ? undefined : step;
  }

  // the detail window as a link keeps it: [its first step, the width chosen (0: fitted to the frame)]
  placement() { return this.viewport.n ? [this.viewport.window().a, this.viewport.chosen || 0] : undefined; }

  // a link's window (as placement() gave it) and inspected step, put in place when results next arrive;
  // onUnused(names): those past the results' end
  restoreLater(win, step, onUnused) { this.restoring = { win, step, onUnused }; }

  placeWindow([a, width]) {
    if (width) this.viewport.setWidth(width);
    this.viewport.moveTo(a);
    this.showWidth();
  }

  clear() {
    this.cancelIdle();
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
    this.mapDrawn = false;
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

  isVisible(el) { return !this.visible || this.visible.has(el); }

  // the context strip s draws, or null where it has nothing to draw (a second model not chosen)
  ctxOf(s) {
    return s.of === "pair" ? (this.results[1] && { pair: [this.ctxFor(0), this.ctxFor(1)], fr: this.fr, win: this.viewport.window() })
      : this.ctxFor(s.of || 0);
  }

  mapShown() { return Boolean(this.map) && !this.map.parentElement.hidden; }

  // something is left to draw: a strip passed over off screen, or the overview
  owed() {
    return this.results.length > 0 && ((this.mapShown() && !this.mapDrawn) || this.strips.some((s) => !s.drawn && this.ctxOf(s)));
  }

  // the window and what changed are drawn where they are on screen; the rest is owed (drawOwedSoon)
  draw() {
    if (this.pending) { cancelAnimationFrame(this.pending); this.pending = 0; }
    if (!this.results.length) return;
    const width = this.column.clientWidth;
    if (!width) return;
    if (!this.fr || this.fr.width !== width) this.reframe(width);
    this.viewport.setFrame(this.fr);
    const win = this.viewport.window(), n = this.viewport.n;
    const drawn = [];
    for (const s of this.strips) {
      const ctx = this.ctxOf(s);
      if (!ctx) { if (s.drawn) { if (plotted(s.el)) Plotly.purge(s.el); s.el.replaceChildren(); s.drawn = null; } continue; }
      const { sig, hi } = this.signature(win, n);
      if (s.drawn && s.drawn.sig === sig && this.changedFrom >= s.drawn.hi && hi === s.drawn.hi) continue;
      if (!this.isVisible(s.el)) {                      // owed; it keeps its height, so nothing below moves
        s.el.style.minHeight = `${s.view.height(ctx)}px`;
        s.drawn = null;
        continue;
      }
      this.render(s, ctx, sig, hi);
      drawn.push(s.el.id);
    }
    if (this.map && this.mapIfLong) this.map.parentElement.hidden = n <= win.b - win.a;
    this.mapDrawn = false;
    if (this.mapShown() && this.isVisible(this.map)) this.renderMap();
    if (this.brush) this.brush.show(this.fr, n, win);
    if (document.activeElement !== this.widthInput) this.showWidth();
    this.changedFrom = Infinity;
    this.point(this.step);
    this.onShown({ win, drawn });
    if (this.owed()) this.drawOwedSoon();
    else { this.cancelIdle(); this.onDrawn({ win }); }
  }

  // a new width (the page resized) fits another number of steps: the step being inspected, if it was
  // shown, stays shown
  reframe(width) {
    const before = this.fr && this.viewport.window(), t = this.step;
    this.fr = frame(width, touchDevice());
    this.version += 1;
    this.viewport.setFrame(this.fr);
    if (!before || t === null || t < before.a || t >= before.b) return;
    const { a, b } = this.viewport.window();
    if (t < a) this.viewport.moveTo(t);
    else if (t >= b) this.viewport.moveTo(t - (b - a) + 1);
  }

  // what is owed, when the page is idle: one strip at a time, so that a keystroke is not kept waiting
  drawOwedSoon() {
    if (this.idle) return;
    const run = (deadline) => {
      this.idle = null;
      if (this.owed()) this.drawOwed(deadline);
    };
    this.idle = window.requestIdleCallback ? { id: requestIdleCallback(run, { timeout: 400 }), idle: true }
      : { id: setTimeout(run, 80), idle: false };
  }

  cancelIdle() {
    if (!this.idle) return;
    if (this.idle.idle) cancelIdleCallback(this.idle.id); else clearTimeout(this.idle.id);
    this.idle = null;
  }

  drawOwed(deadline = null) {
    const win = this.viewport.window(), n = this.viewport.n;
    if (this.mapShown() && !this.mapDrawn) this.renderMap();
    for (const s of this.strips) {
      const ctx = this.ctxOf(s);
      if (s.drawn || !ctx) continue;
      const { sig, hi } = this.signature(win, n);
      this.render(s, ctx, sig, hi);
      if (deadline && deadline.timeRemaining() < 10) break;   // the rest at the next idle moment
    }
    this.point(this.step);
    if (this.owed()) this.drawOwedSoon();
    else this.onDrawn({ win });
  }

  // what a strip drawn now shows: the version, the window and the slice of steps drawn
  signature(win, n) {
    const { lo, hi } = slice(win, n);
    return { sig: `${this.version}:${win.a}:${win.b}:${lo}`, hi };
  }

  render(s, ctx, sig, hi) {
    s.el.style.minHeight = `${s.view.height(ctx)}px`;
    s.view.render(s.el, ctx);
    s.drawn = { sig, hi };
    if (plotted(s.el)) listenOnce(s.el, "_lensLinked", () => s.el.on("plotly_relayout", (ev) => this.zoomed(ev)));
  }

  renderMap() {
    const rows = zgrid.rows(this.ctxFor(0));
    minimap.render(this.map, rows, this.fr, this.viewport.n);
    this.map.style.minHeight = `${minimap.height(rows)}px`;
    this.mapDrawn = true;
  }

  // nothing left to draw: every strip shows the latest results and window
  settled() { return !this.pending && !this.owed(); }

  // every strip drawn now (an export reads them all)
  drawAll() {
    this.cancelIdle();
    if (this.owed()) this.drawOwed();
  }

  // a zoom (or pan) in one strip: every strip follows
  zoomed(ev) {
    const r = ev["xaxis.range"] || [ev["xaxis.range[0]"], ev["xaxis.range[1]"]];
    if (r[0] !== undefined && r[1] !== undefined) { this.viewport.setRange(r[0], r[1]); this.later(); }
    else if (ev["xaxis.autorange"]) { this.viewport.reset(); this.later(); }
  }

  // the detail box says how many steps the window shows
  showWidth() {
    if (!this.widthInput || !this.viewport.n) return;
    const { a, b } = this.viewport.window();
    this.widthInput.value = String(Math.min(b, this.viewport.n) - a);
  }

  // keys on the focused column: ← → a step (with Shift ten), Home End the window's ends
  stepKey(ev) {
    const n = this.viewport.n, win = this.viewport.window();
    if (!n || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const t = this.step ?? win.a, last = Math.min(win.b, n) - 1, by = ev.shiftKey ? 10 : 1;
    const to = { ArrowLeft: t - by, ArrowRight: t + by, Home: win.a, End: last }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    const u = Math.max(0, Math.min(n - 1, to));
    if (u < win.a || u >= win.b) { this.viewport.moveTo(u < win.a ? u : u - (win.b - win.a) + 1); this.draw(); }
    this.onStep(u);
    announce(stepLine(this.results, u), { after: 150 });       // said once the key is let go
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
