// The server, as the pages see it: one call that analyses (text or ink), one loader for the
// model list. An error's message comes back as an Error; an aborted call as an AbortError.
import { boundaries, readAtLag } from "./scoring.js";

async function post(path, body, signal) {
  const r = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  });
  const answer = await r.json().catch(() => ({ detail: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(sentence(typeof answer.detail === "string" ? answer.detail : `HTTP ${r.status}`));
  return answer;
}

// the server's message as the status line says it: "text has 5500 characters; ..." -> "Text has 5500 characters; ...."
const sentence = (s) => s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? "" : ".");

// kind: "text" ({text, model}) or "ink" ({strokes, model})
export function analyse(kind, body, { signal } = {}) {
  if (kind !== "text" && kind !== "ink") throw new Error(`nothing analyses ${kind}`);
  return post(`/api/${kind}`, body, signal);
}

// held: an answer the page holds for this model (whole, as merged() makes it), or null. The server
// then sends only the lists from the first position that may differ; merged() puts them back together.
// The answer gains `input_spans`: its source_spans in the units of `text` as the page indexes it.
export async function postText(text, model, { signal, held = null } = {}) {
  const since = held && held.model === model && held.digest ? held.digest : undefined;
  const answer = merged(since ? held : null, await analyse("text", { text, model, since }, { signal }));
  answer.input_spans = inPageUnits(text, answer.source_spans);
  return answer;
}

// The server counts a text's characters as Python does, one per code point; a JavaScript string
// counts UTF-16 units, two for a character beyond the first 65,536 (an emoji, say). The spans in the
// latter, so that text.slice() finds what was typed.
export function inPageUnits(text, spans) {
  if (!/[\uD800-\uDFFF]/.test(text)) return spans;
  const at = [0];                               // at[k]: where code point k starts
  for (const c of text) at.push(at[at.length - 1] + c.length);
  return spans.map(([a, b]) => [at[a], at[b]]);
}

// what was typed where an answer for `text` has position t (null past its end)
export function typedPiece(text, res, t) {
  const span = res.input_spans[t];
  return span ? text.slice(span[0], span[1]) : null;
}

// A text answer as the strips draw it: z(i), layer i's firings at the threshold; cut(i), the boundaries
// after each position they mark (a lag-1 layer's one to the left); typed, what was typed per position
export function drawnText(res, text, threshold, lags) {
  const z = res.layers.map((l) => boundaries(l, threshold));
  const cut = z.map((zi, i) => readAtLag(zi, lags[i]));
  const typed = res.input_spans.map((_, t) => typedPiece(text, res, t));
  return { name: res.model, res, z: (i) => z[i], cut: (i) => cut[i], lags, typed };
}

// the lists of a text answer that hold one value per position
const PER_POSITION = ["chars", "source_spans", "unknown", "surprisal", "gold_word_ends"];
const PER_LAYER = ["z", "z_soft", "op", "h_norm", "gate"];

// the whole answer: `held`'s values before the answer's offset, the answer's from there
export function merged(held, answer) {
  const o = answer.offset;
  if (!o) return answer;
  if (!held || held.length < o) throw new Error("the server answered from a text this page does not hold");
  const join = (a, b) => a.slice(0, o).concat(b);
  const out = { ...answer, offset: 0, sent: answer.chars.length };
  for (const k of PER_POSITION) out[k] = join(held[k], answer[k]);
  out.layers = answer.layers.map((l, i) => {
    const h = held.layers[i], layer = { ...l };
    for (const k of PER_LAYER) layer[k] = l[k] === null ? null : join(h[k], l[k]);
    return layer;
  });
  out.baseline_rows = answer.baseline_rows.map((r, i) => ({ ...r, z: join(held.baseline_rows[i].z, r.z) }));
  if (answer.surprisal_boundaries) {
    out.surprisal_boundaries = { ...answer.surprisal_boundaries, z: join(held.surprisal_boundaries.z, answer.surprisal_boundaries.z) };
  }
  return out;
}

let modelList = null;       // GET /api/models once per page

// {default, models}: the checkpoints of one task ("text" or "ink"), with their metrics
export async function loadModels(task) {
  if (!modelList) {
    modelList = fetch("/api/models").then((r) => {
      if (!r.ok) throw new Error(`the model list could not be loaded (HTTP ${r.status})`);
      return r.json();
    });
  }
  const info = await modelList;
  const models = info.models.filter((m) => m.task === task);
  const fallback = models.length ? models[0].name : "";
  return { default: models.some((m) => m.name === info.default) ? info.default : fallback, models };
}

export async function inkExample(text, seed) {
  const r = await fetch(`/api/ink/example?text=${encodeURIComponent(text)}&seed=${seed}`);
  if (!r.ok) throw new Error(`no example (HTTP ${r.status})`);
  return r.json();
}
