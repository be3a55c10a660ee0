// The embed view: one shared link's z grid and segments, for an iframe; a long text gets the
// overview and its brush too.
import { loadModels, postText } from "../lib/api.js";
import { layerLags } from "../lib/describe.js";
import { $ } from "../lib/page.js";
import { fromHash } from "../lib/permalink.js";
import { boundaries, readAtLag } from "../lib/scoring.js";
import { Strips } from "../lib/strips.js";
import { Brush } from "../views/minimap.js";
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
    strips: [{ el: $("zgrid"), view: zgrid }, { el: $("ruler"), view: ruler }, { el: $("segments"), view: segments }],
    onStep: (t) => strips.point(t),
    onDrawn: () => { window.lens.rendered += 1; },
  }).start();
  window.lens.strips = strips;
  try {
    const res = await postText(state.text, state.model || document.body.dataset.defaultModel);
    window.lens.last = { a: res, text: state.text };
    $("status").textContent = `${res.model}: “${state.text.length > 60 ? state.text.slice(0, 60) + "…" : state.text}”`;
    const threshold = state.threshold ?? 0.5;
    const z = res.layers.map((l) => boundaries(l, threshold));
    // a checkpoint read without spaces: its segments are cut at each layer's lag
    const m = res.spaces === false ? (await loadModels("text").catch(() => ({ models: [] }))).models.find((x) => x.name === res.model) : null;
    const lags = m ? layerLags(m) : res.layers.map(() => 0);
    const cut = z.map((zi, i) => readAtLag(zi, lags[i]));
    strips.show([{ name: res.model, res, z: (i) => z[i], cut: (i) => cut[i], lags }], { threshold });
  } catch (e) {
    $("status").textContent = e.message;
  }
}
