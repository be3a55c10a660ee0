// The drawing pad: pointer events cover mouse, pen and touch alike. Nothing is listened to until
// start(); each finished stroke is handed to onStroke. After an analysis the ink is coloured by
// the segments of the chosen layer (colour(ids, boundaries)).

const INK = "#1d2330", WIDTH = 1200, FIT_ROOM = 0.92;

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
    this.height = canvas.height;  // in ink units (WIDTH across), from the box's aspect once sized
    this.example = false;         // the strokes are an example: the person's first stroke replaces them
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

  // the ink keeps 1200 units across and the aspect the canvas's box has (3:1, 2:1 on a phone, wider on a short screen);
  // the canvas holds a pixel per device pixel, so the ink stays sharp on a phone's or a laptop's screen
  size() {
    const r = this.canvas.getBoundingClientRect();
    if (!r.width) return;
    const h = Math.round((WIDTH * r.height) / r.width);
    if (this.height !== h) {
      this.height = h;
      this.fit();
    }
    const ratio = window.devicePixelRatio || 1;
    const pw = Math.round(r.width * ratio), ph = Math.round(r.height * ratio);
    if (this.canvas.width !== pw || this.canvas.height !== ph) {
      this.canvas.width = pw;
      this.canvas.height = ph;
    }
    this.redraw();
  }

  // ink that fits the pad stays as drawn; ink that does not (a pad made shorter, a link from a taller
  // one) is shrunk to FIT_ROOM of it, so that it keeps a margin rather than touch the pad's edge
  fit() {
    let maxY = 0, maxX = 0;
    for (const s of this.strokes) for (const [x, y] of s) { maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); }
    const room = Math.min((this.height - 4) / (maxY || 1), (WIDTH - 4) / (maxX || 1));
    this.scale = room >= 1 ? 1 : FIT_ROOM * room;
  }

  set(strokes) {
    this.strokes = strokes;
    this.example = false;
    this.version += 1;
    this.seg = this.cuts = null;
    this.fit();
    this.redraw();
  }

  // an example: strokes moved and scaled (the aspect kept) to fill most of the pad, until the person writes
  fill(strokes) {
    const xs = strokes.flat().map((p) => p[0]), ys = strokes.flat().map((p) => p[1]);
    const x0 = Math.min(...xs), y0 = Math.min(...ys), w = Math.max(...xs) - x0 || 1, h = Math.max(...ys) - y0 || 1;
    const k = Math.min((0.9 * WIDTH) / w, (0.7 * this.height) / h);
    const dx = 0.05 * WIDTH, dy = (this.height - h * k) / 2;
    this.set(strokes.map((st) => st.map(([x, y]) => [Math.round(dx + (x - x0) * k), Math.round(dy + (y - y0) * k)])));
    this.example = true;
  }

  colour(seg, cuts) {
    this.seg = seg;
    this.cuts = cuts;
    this.redraw();
  }

  toCanvas(ev) {
    const r = this.canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * (WIDTH / r.width) / this.scale,
            (ev.clientY - r.top) * (this.height / r.height) / this.scale];
  }

  down(ev) {
    if (this.drawing || (ev.button !== undefined && ev.button > 0)) return;
    this.pointer = ev.pointerId;
    this.canvas.setPointerCapture(ev.pointerId);
    if (this.example) this.set([]);               // the person writes on a blank pad, not into the example
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

  // the height of the finished strokes in ink units (Infinity before the first is finished)
  inkHeight() {
    let lo = Infinity, hi = -Infinity;
    for (const s of this.strokes) for (const p of s) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); }
    return hi >= lo ? hi - lo : Infinity;
  }

  redraw() {
    const { ctx, canvas, scale } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const pixels = canvas.width / WIDTH;         // canvas pixels per ink unit
    ctx.setTransform(pixels, 0, 0, pixels, 0, 0);
    // a line 3 px wide on the screen and boundary dots 9 px across, whatever the width; thinner on ink
    // drawn small (an example fitted to a phone's pad), where they would cover the letters
    const perCss = canvas.clientWidth ? WIDTH / canvas.clientWidth : 1;
    const tall = this.inkHeight() * scale / perCss;                   // the finished ink's height in CSS px
    const line = Math.min(3, Math.max(1.25, tall / 16)), dot = Math.min(4.5, Math.max(1.5, tall / 16));
    ctx.lineWidth = line * perCss; ctx.lineCap = "round"; ctx.lineJoin = "round";
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
          ctx.arc(x * scale, y * scale, dot * perCss, 0, 2 * Math.PI);
          ctx.fill();
          ctx.restore();
        }
      }
      k += s.length;
    }
  }
}
