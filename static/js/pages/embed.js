// The embed view: one shared link's z grid and segments, for an iframe (with the compared model's z
// grid and where the two disagree, when the link compares two); a long text gets the overview and its
// brush too, and opens on the link's detail window.
import { drawnText, loadModels, postText } from "../lib/api.js";
import { layerLags } from "../lib/describe.js";
import { $ } from "../lib/page.js";
import { fromHash } from "../lib/permalink.js";
import { Strips } from "../lib/strips.js";
import { Brush } from "../views/minimap.js";
import * as disagree from "../views/disagree.js";
import * as ruler from "../views/ruler.js";
import * as segments from "../views/segments.js";
import * as zgrid from "../views/zgrid.js";

export async function start() {
  let state;
  try {
    state = fromHash(location.hash);
  } catch (e) {
    state = null;
  }
  if (!state || !state.text) {
    $("status").textContent = "This embed needs a shared link (the Share button of the Boundary Lens).";
    return;
  }
  $("open").href = `/${location.hash}`;
  const strips = new Strips({
    column: $("strips"), map: $("minimap"), mapIfLong: true, cursor: $("cursor"), brush: new Brush($("brush"), (a) => strips.moveTo(a)),
    strips: [{ el: $("zgrid"), view: zgrid }, { el: $("ruler"), view: ruler }, { el: $("zgrid-b"), view: zgrid, of: 1 },
             { el: $("disagree"), view: disagree, of: "pair" }, { el: $("segments"), view: segments }],
    widestCell: 64,               // a shared text is whole: no room to type into, so it fills more of the frame
    onStep: (t) => strips.point(t),
    onDrawn: () => { window.lens.rendered += 1; },
  }).start();
  window.lens.strips = strips;
  try {
    const [res, other] = await Promise.all([postText(state.text, state.model || document.body.dataset.defaultModel),
                                            state.compare ? postText(state.text, state.compare) : null]);
    window.lens.last = { a: res, b: other, text: state.text };
    const threshold = state.threshold ?? 0.5;
    const shown = [res, other].filter((r) => r && r.chars.length === res.chars.length);   // one axis for both
    // a checkpoint read without spaces: its segments are cut at each layer's lag
    const info = res.spaces === false ? await loadModels("text").catch(() => ({ models: [] })) : { models: [] };
    const entries = shown.map((r) => {
      const m = info.models.find((x) => x.name === r.model);
      return drawnText(r, state.text, threshold, m ? layerLags(m) : r.layers.map(() => 0));
    });
    const quoted = [...state.text].length > 60 ? `${[...state.text].slice(0, 60).join("")}…` : state.text;
    $("status").textContent = `${entries.map((e) => e.name).join(" and ")}: “${quoted}”`
      + (other && entries.length < 2 ? ` (${other.model} reads it differently: open it in the Boundary Lens)` : "");
    $("embed-threshold").value = threshold.toFixed(2);
    $("embed-key").hidden = false;
    document.body.classList.toggle("comparing", entries.length > 1);
    if (entries.length > 1) document.querySelector(".compare-only .model-b").textContent = `${other.model}, on the same characters`;
    strips.restoreLater(state.window, state.step, () => {});   // the shared window and step, where they fit
    strips.show(entries, { threshold });
  } catch (e) {
    $("status").textContent = e.message;
  }
}
