// Controls both pages share: the model lists, the threshold slider, Share, export (one
// composite image, or the JSON), and the cursor that every view follows.
import { exportView } from "./export.js";
import { $, downloadJson, status } from "./page.js";

// Fill <select> elements with the checkpoints' names; the first keeps `chosen`.
export function fillModels(selects, models, chosen) {
  for (const el of selects) for (const m of models) el.add(new Option(m.name, m.name));
  if (selects.length) selects[0].value = chosen;
}

// The threshold slider and its read-out; onChange(value) at most once a frame, with the latest value
// (a drag fires many moves, and a long text's redraw takes longer than a frame: no backlog builds up).
export function bindThreshold(value, onChange) {
  const input = $("threshold"), out = $("threshold-value");
  const show = (v) => { input.value = v; out.value = Number(v).toFixed(2); };
  show(value);
  let latest = null;
  input.addEventListener("input", () => {
    const first = latest === null;
    latest = Number(input.value);
    out.value = latest.toFixed(2);
    if (first) requestAnimationFrame(() => { const v = latest; latest = null; onChange(v); });
  });
  return show;
}

// Share: puts the page's link (and, where there is one, an embed snippet) in the share box.
export function bindShare(link, embed = null) {
  $("permalink").addEventListener("click", async () => {
    const url = link();
    $("share-link").value = url;
    if (embed && $("embed-code")) {
      const code = $("embed-code");
      code.value = "measuring the embed's height…";
      Promise.resolve(embed()).then((snippet) => { if ($("share-link").value === url) code.value = snippet; });
    }
    $("share").hidden = false;
    try { await navigator.clipboard.writeText(url); status("Link copied."); }
    catch (e) { status("Copy the link below."); }
  });
}

// Share is for a page that holds something: with nothing typed or drawn, a link would restore nothing
// (and a link shown from before would be stale)
export function shareable(on) {
  $("permalink").disabled = !on;
  if (!on) $("share").hidden = true;
}

// PNG / SVG: one composite file of the whole view (view() gives {parts, width}); JSON: json().
export function bindExport(name, view, json) {
  for (const fmt of ["png", "svg"]) {
    $(`export-${fmt}`).addEventListener("click", async () => {
      const { parts, width } = view();
      try {
        window.lens.exported = await exportView(parts, width, fmt, name);
      } catch (e) {
        status(`The export failed: ${e.message}`, true);
      }
    });
  }
  $("export-json").addEventListener("click", () => downloadJson(`${name}-analysis.json`, json()));
}

// nothing shown, nothing to export
export function exportable(on) {
  for (const id of ["export-png", "export-svg", "export-json"]) if ($(id)) $(id).disabled = !on;
}

// One step for every view: set(t) hands t to each follower (strips' cursor, inspector, text, ink).
export class CursorSync {
  constructor(...followers) { this.followers = followers; this.t = null; }
  set(t) { this.t = t; for (const f of this.followers) f(t); }

  // the inspector shows a step the window [a, b) of n steps shows: its own (set again where `again`: its
  // values may have changed), or, once that left the window, the step `otherwise()` names
  keepWithin({ a, b }, n, otherwise, { again = true } = {}) {
    const inside = this.t !== null && this.t >= a && this.t < Math.min(b, n);
    if (!inside) this.set(otherwise());
    else if (again) this.set(this.t);
  }
}
