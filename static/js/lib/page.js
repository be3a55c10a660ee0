// What every page needs: a status line, a busy indicator, downloads.
export const $ = (id) => document.getElementById(id);

export function status(msg, error = false) {
  $("status").textContent = msg;
  $("status").classList.toggle("error", error);
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
