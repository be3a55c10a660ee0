// The drawing pad: pointer events cover mouse, pen and touch alike. Nothing is listened to until
// start(); each finished stroke is handed to onStroke. After an analysis the ink is coloured by
// the segments of the chosen layer (colour(ids, boundaries)).

const INK = "#1d2330", WIDTH = 1200;

export class Pad {
  constructor(canvas, { onStroke = () => {}, palette = [] } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onStroke = onStroke;
    this.palette = palette;
    this.strokes = [];
    this.drawing = null;
    this.seg = null;              // per point, in the order posted: its segment (null: plain ink)
    this.cuts = null;             // per point: 1 where a boundary falls after it
    this.scale = 1;               // strokes from a taller pad (a shared link) are shown smaller
    this.version = 0;             // moves on with every change to the strokes: what an answer is for
    this.pointer = null;          // the one pointer drawing (a second finger or a palm is ignored)
  }

  start() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (ev) => this.down(ev));
    c.addEventListener("pointermove", (ev) => this.move(ev));
    c.addEventListener("pointerup", (ev) => this.end(ev));
    c.addEventListener("pointercancel", (ev) => this.end(ev));
    c.addEventListener("lostpointercapture", (ev) => this.end(ev));   // no pointerup will come: keep the stroke
    new ResizeObserver(() => this.size()).observe(c);
    this.size();
    return this;
  }

  // the canvas keeps 1200 units across and the aspect its box has (3:1, or 2:1 on a phone)
  size() {
    const r = this.canvas.getBoundingClientRect();
    if (!r.width) return;
    const h = Math.round((WIDTH * r.height) / r.width);
    if (this.canvas.width !== WIDTH || this.canvas.height !== h) {
      this.canvas.width = WIDTH;
      this.canvas.height = h;
      this.fit();
    }
    this.redraw();
  }

  fit() {
    let maxY = 0, maxX = 0;
    for (const s of this.strokes) for (const [x, y] of s) { maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); }
    this.scale = Math.min(1, (this.canvas.height - 4) / (maxY || 1), (this.canvas.width - 4) / (maxX || 1));
  }

  set(strokes) {
    this.strokes = strokes;
    this.version += 1;
    this.seg = this.cuts = null;
    this.fit();
    this.redraw();
  }

  // strokes moved and scaled (the aspect kept) to fill most of the pad: an example, say
  fill(strokes) {
    const xs = strokes.flat().map((p) => p[0]), ys = strokes.flat().map((p) => p[1]);
    const x0 = Math.min(...xs), y0 = Math.min(...ys), w = Math.max(...xs) - x0 || 1, h = Math.max(...ys) - y0 || 1;
    const k = Math.min((0.9 * this.canvas.width) / w, (0.7 * this.canvas.height) / h);
    const dx = 0.05 * this.canvas.width, dy = (this.canvas.height - h * k) / 2;
    this.set(strokes.map((st) => st.map(([x, y]) => [Math.round(dx + (x - x0) * k), Math.round(dy + (y - y0) * k)])));
  }

  colour(seg, cuts) {
    this.seg = seg;
    this.cuts = cuts;
    this.redraw();
  }

  toCanvas(ev) {
    const r = this.canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * (this.canvas.width / r.width) / this.scale,
            (ev.clientY - r.top) * (this.canvas.height / r.height) / this.scale];
  }

  down(ev) {
    if (this.drawing || (ev.button !== undefined && ev.button > 0)) return;
    this.pointer = ev.pointerId;
    this.canvas.setPointerCapture(ev.pointerId);
    this.drawing = [this.toCanvas(ev)];
    ev.preventDefault();
  }

  move(ev) {
    if (!this.drawing || ev.pointerId !== this.pointer) return;
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
    for (const e of events.length ? events : [ev]) this.drawing.push(this.toCanvas(e));
    this.redraw();
  }

  end(ev) {
    if (!this.drawing || ev.pointerId !== this.pointer) return;
    if (ev.type !== "pointercancel") this.strokes.push(this.drawing);   // a cancelled stroke is dropped whole
    this.version += 1;
    this.drawing = null;
    this.seg = this.cuts = null;                                        // the colours were for the old ink
    this.redraw();
    this.onStroke(this.strokes);
  }

  redraw() {
    const { ctx, canvas, scale } = this;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    // the canvas keeps its pixel size and the page scales it: a line 3 px wide on the screen, whatever the width
    const perCss = canvas.clientWidth ? canvas.width / canvas.clientWidth : 1;
    ctx.lineWidth = 3 * perCss; ctx.lineCap = "round"; ctx.lineJoin = "round";
    const strokes = this.strokes.concat(this.drawing ? [this.drawing] : []);
    let k = 0;                                   // index of the point in the order posted
    for (const s of strokes) {
      const coloured = this.seg && s !== this.drawing && k + s.length <= this.seg.length;
      for (let i = 0; i < s.length; i += 1) {
        const [x, y] = s[i];
        const [px, py] = i ? s[i - 1] : [x + 0.1, y];
        ctx.strokeStyle = coloured ? this.palette[this.seg[k + i] % this.palette.length] : INK;
        ctx.beginPath();
        ctx.moveTo(px * scale, py * scale);
        ctx.lineTo(x * scale, y * scale);
        ctx.stroke();
        if (coloured && this.cuts[k + i] === 1) {           // a boundary after this point
          ctx.save();
          ctx.fillStyle = INK;
          ctx.beginPath();
          ctx.arc(x * scale, y * scale, 4.5 * perCss, 0, 2 * Math.PI);
          ctx.fill();
          ctx.restore();
        }
      }
      k += s.length;
    }
  }
}
