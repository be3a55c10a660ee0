// What every page needs: a status line, a busy indicator, downloads.
export const $ = (id) => document.getElementById(id);

// said once, after the next status: what of a shared link the page could not read or use, and other notes
const NOTHING_PENDING = { unreadable: false, unused: [], notes: [] };
let pending = structuredClone(NOTHING_PENDING);

export function status(msg, error = false) {
  const { unreadable, unused, notes } = pending;
  const link = unreadable ? "The link could not be read, so the page opened afresh."
    : unused.length ? `Part of the link could not be used (${unused.join(", ")}), so ${unused.length > 1 ? "those take" : "it takes"} the page's default.`
    : "";
  const said = [msg, link, ...notes].filter(Boolean).join(" · ");
  $("status").textContent = said;
  $("status").classList.toggle("error", error);
  pending = structuredClone(NOTHING_PENDING);
  $("alert").textContent = error ? said : "";        // emptied, so that the same error again is heard again
  if (!error) announce(said);
}

// What a screen reader hears: one short line once the page settles (typing, a drag, a key held down
// would otherwise queue a line each), without the timings a sighted reader may glance at.
let announcing = 0;
export function announce(line, { after = 700 } = {}) {
  clearTimeout(announcing);
  announcing = setTimeout(() => { $("announce").textContent = line.replace(/ · \d+ ms\b/, ""); }, after);
}

// a shared link that could not be read (null), or parts of it that could not be used (a field edited by
// hand, a model this server does not hold, a step past the text's end): the page opens on what it could,
// and says so beside the next answer (a status said now would be replaced by it at once)
export function linkProblem(unused) {
  if (unused === null) pending.unreadable = true;
  else pending.unused.push(...unused);
}

// a note said with the next status (what an edit did that its answer will not show)
export function sayWithNext(note) { pending.notes.push(note); }

// the "working…" sign (shown by the caller when an answer takes long)
export function busy(on) {
  const el = $("busy");
  if (el) el.hidden = !on;
}

export function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 5000);
}

export function downloadJson(name, value) {
  download(name, new Blob([JSON.stringify(value, null, 1)], { type: "application/json" }));
}

// The height a page of this site takes at `width`: drawn unseen in a frame of that width, measured once
// it says that every view is drawn (window.lens.rendered), the frame then removed
export function measuredHeight(src, width, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const frame = document.createElement("iframe");
    frame.setAttribute("aria-hidden", "true");
    frame.tabIndex = -1;
    frame.style.cssText = `position: fixed; left: ${-2 * width}px; top: 0; width: ${width}px; height: 40px; border: 0`;
    const started = performance.now();
    const poll = setInterval(() => {
      const w = frame.contentWindow, drawn = w && w.lens && w.lens.rendered > 0;
      if (!drawn && performance.now() - started < timeoutMs) return;
      clearInterval(poll);
      const height = drawn ? Math.ceil(w.document.documentElement.scrollHeight) : 0;
      frame.remove();
      if (height) resolve(height); else reject(new Error("the page did not draw in time"));
    }, 100);
    frame.src = src;
    document.body.append(frame);
  });
}

export const touchDevice = () => matchMedia("(pointer: coarse)").matches || navigator.maxTouchPoints > 0;
