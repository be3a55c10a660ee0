// The embed view: one shared link's z grid and segments, for an iframe.
import { postText } from "./api.js";
import { $ } from "./page.js";
import { fromHash } from "./permalink.js";
import * as segments from "./views/segments.js";
import * as zgrid from "./views/zgrid.js";

window.lens = { last: {}, rendered: 0 };

async function start() {
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
  try {
    const res = await postText(state.text, state.model || document.body.dataset.defaultModel);
    window.lens.last = { a: res };
    $("status").textContent = `${res.model}: “${state.text.length > 60 ? state.text.slice(0, 60) + "…" : state.text}”`;
    zgrid.render($("zgrid"), res, "");
    segments.render($("segments"), res);
    window.lens.rendered += 1;
  } catch (e) {
    $("status").textContent = e.message;
  }
}

start();
