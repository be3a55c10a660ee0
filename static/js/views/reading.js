// The text itself, LSTMVis style: each character coloured by the chosen layer's segments, with
// the layer's firings marked as hits or false alarms and the word ends it missed (scored as the
// tolerant score does). The detail window is outlined; pressing a character moves it there.
// Drawing is incremental: typing at the end redraws only the tail.

const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));

export class Reading {
  constructor(el, onPick) {
    this.el = el;
    this.onPick = onPick;
    this.sigs = [];            // what each span shows, to redraw only what changed
    this.pieces = [];          // the character each span holds
    this.win = null;
    this.cursor = null;
  }

  start() {
    this.el.addEventListener("click", (ev) => {
      const span = ev.target.closest("span[data-t]");
      if (span) this.onPick(Number(span.dataset.t));
    });
  }

  clear() {
    this.el.replaceChildren();
    this.sigs = [];
    this.pieces = [];
    this.win = null;
  }

  // pieces[t]: what was typed for position t; seg, marks, unknown: per position
  render(pieces, seg, marks, unknown) {
    const n = pieces.length, sigs = new Array(n), classes = new Array(n);
    for (let t = 0; t < n; t += 1) {
      classes[t] = [`s${seg[t] % 3}`, marks[t] && `m-${marks[t]}`, unknown[t] && "unk"].filter(Boolean).join(" ");
      sigs[t] = `${classes[t]}|${pieces[t]}`;
    }
    let from = 0;
    while (from < n && from < this.sigs.length && sigs[from] === this.sigs[from]) from += 1;
    const kids = this.el.children;
    // the same characters, other colours (a threshold moved): classes changed in place, nothing rebuilt
    let same = from;
    while (same < Math.min(n, this.pieces.length) && this.pieces[same] === pieces[same]) same += 1;
    for (let t = from; t < same; t += 1) {
      if (sigs[t] === this.sigs[t]) continue;
      const span = kids[t], keep = span.classList.contains("win"), here = span.classList.contains("here");
      span.className = classes[t];
      if (keep) span.classList.add("win");
      if (here) span.classList.add("here");
      if (unknown[t]) span.title = "unknown to the model"; else span.removeAttribute("title");
    }
    while (kids.length > same) this.el.lastChild.remove();
    const html = [];
    for (let t = same; t < n; t += 1) {
      const text = pieces[t] === "\n" ? "⏎\n" : pieces[t];
      html.push(`<span data-t="${t}" class="${classes[t]}"${unknown[t] ? ' title="unknown to the model"' : ""}>${esc(text)}</span>`);
    }
    if (html.length) this.el.insertAdjacentHTML("beforeend", html.join(""));
    this.sigs = sigs;
    this.pieces = pieces.slice();
    const win = this.win;
    this.win = null;
    if (win) this.window(win);
    return n - from;                    // spans drawn or recoloured this time
  }

  // outline the detail window [a, b)
  window({ a, b }) {
    const kids = this.el.children, old = this.win;
    if (old) for (let t = old.a; t < Math.min(old.b, kids.length); t += 1) if (t < a || t >= b) kids[t].classList.remove("win");
    for (let t = a; t < Math.min(b, kids.length); t += 1) kids[t].classList.add("win");
    this.win = { a, b };
    if (!old || old.a !== a || old.b !== b) this.reveal(Math.min(b, kids.length) - 1, a);
  }

  // scroll the text box (only the box, never the page) so that positions first..last show
  reveal(last, first = last) {
    const kids = this.el.children, box = this.el;
    if (!kids[last] || box.scrollHeight <= box.clientHeight) return;
    const top = kids[first].offsetTop - box.offsetTop, bottom = kids[last].offsetTop - box.offsetTop + kids[last].offsetHeight;
    if (top < box.scrollTop) box.scrollTop = Math.max(0, Math.min(top, bottom - box.clientHeight)) - 4;
    else if (bottom > box.scrollTop + box.clientHeight) box.scrollTop = bottom - box.clientHeight + 4;
  }

  point(t) {
    const kids = this.el.children;
    if (this.cursor !== null && kids[this.cursor]) kids[this.cursor].classList.remove("here");
    this.cursor = t !== null && kids[t] ? t : null;
    if (this.cursor !== null) kids[t].classList.add("here");
  }
}
