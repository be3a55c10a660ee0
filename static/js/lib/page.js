// What every page needs: a status line, a busy indicator, downloads.
export const $ = (id) => document.getElementById(id);

// said once, after the next status: what of a shared link the page could not read or use
let pending = { unreadable: false, unused: [] };

export function status(msg, error = false) {
  const { unreadable, unused } = pending;
  const note = unreadable ? "The link could not be read, so the page opened afresh."
    : unused.length ? `Part of the link could not be used (${unused.join(", ")}), so ${unused.length > 1 ? "those take" : "it takes"} the page's default.`
    : "";
  $("status").textContent = note ? `${msg} · ${note}` : msg;
  $("status").classList.toggle("error", error);
  pending = { unreadable: false, unused: [] };
}

// a shared link that could not be read (null), or parts of it that could not be used (a field edited by
// hand, a model this server does not hold, a step past the text's end): the page opens on what it could,
// and says so beside the next answer (a status said now would be replaced by it at once)
export function linkProblem(unused) {
  if (unused === null) pending.unreadable = true;
  else pending.unused.push(...unused);
}

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

export const touchDevice = () => matchMedia("(pointer: coarse)").matches || navigator.maxTouchPoints > 0;
