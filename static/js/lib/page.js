// What every page needs: a status line, a busy indicator, downloads.
export const $ = (id) => document.getElementById(id);

let pending = "";     // said once, after the next status: what of a shared link the page could not use

export function status(msg, error = false) {
  $("status").textContent = pending ? `${msg} ${pending}` : msg;
  $("status").classList.toggle("error", error || Boolean(pending));
  pending = "";
}

// a shared link that could not be read, or not all of it used (a field edited by hand, a model this
// server does not hold): the page opens on what it could, and says so beside the first answer (a status
// said now would be replaced by it at once)
export function linkProblem(unused) {
  pending = unused === null ? "The link could not be read, so the page opened afresh."
    : unused.length ? `Part of the link could not be used (${unused.join(", ")}), so ${unused.length > 1 ? "those take" : "it takes"} the page's default.`
    : "";
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
