// The embed view: one shared link's z grid and segments, for an iframe; a long text gets the
// overview and its brush too.
import { postText } from "../lib/api.js";
import { $ } from "../lib/page.js";
import { fromHash } from "../lib/permalink.js";
import { boundaries } from "../lib/scoring.js";
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
  try {
    const res = await postText(state.text, state.model || document.body.dataset.defaultModel);
    window.lens.last = { a: res };
    $("status").textContent = `${res.model}: “${state.text.length > 60 ? state.text.slice(0, 60) + "…" : state.text}”`;
    const threshold = state.threshold ?? 0.5;
    const z = res.layers.map((l) => boundaries(l, threshold));
    strips.show([{ name: res.model, res, z: (i) => z[i] }], { threshold });
  } catch (e) {
    $("status").textContent = e.message;
  }
}
