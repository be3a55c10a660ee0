// The detail window every strip shows: [a, b) of n steps. The minimap's brush, a zoom or pan in
// any strip and the width control all move it; while it holds the end of the text it follows
// the end as the text grows.
const MIN_W = 10, MAX_W = 1000;       // the width box steps by 10 from its minimum

export class Viewport {
  constructor(widestCell = 24) {
    this.widestCell = widestCell;
    this.n = 0;
    this.a = 0;
    this.follow = true;          // the window holds the end
    this.chosen = null;          // a width the person set; null: fit the frame
    this.fr = null;
  }

  width() {
    const fit = this.fr ? Math.round(this.fr.plotW / 8) : 120;
    return this.chosen || Math.max(30, Math.min(150, fit));
  }

  // [a, b): a short text fills the frame but its cells never grow wider than widestCell
  window() {
    const w = this.width();
    if (this.n <= w) {
      const cells = Math.min(w, Math.max(this.n, this.fr ? Math.ceil(this.fr.plotW / this.widestCell) : 1, 1));
      return { a: 0, b: cells };
    }
    const a = this.follow ? this.n - w : Math.max(0, Math.min(this.a, this.n - w));
    return { a, b: a + w };
  }

  setFrame(fr) { this.fr = fr; }

  setLength(n) { this.n = n; }

  setWidth(w) {
    const c = this.centre();
    this.chosen = Math.max(MIN_W, Math.min(MAX_W, Math.round(w)));
    this.centreOn(c);
  }

  // a range from a zoom: [x0, x1] in data units
  setRange(x0, x1) {
    this.chosen = Math.max(MIN_W, Math.min(MAX_W, Math.round(x1 - x0)));
    this.moveTo(x0 + 0.5);
  }

  reset() {
    const c = this.centre();
    this.chosen = null;
    this.centreOn(c);
  }

  centre() { const { a, b } = this.window(); return (a + b) / 2; }

  centreOn(t) { this.moveTo(t - this.width() / 2); }

  moveTo(a) {
    const w = this.width();
    this.a = Math.max(0, Math.min(Math.round(a), this.n - w));
    this.follow = this.a + w >= this.n;
  }
}
