// Permalinks, one scheme for every page: the state lives in the URL's fragment, URL-safe base64
// of JSON with short keys, so it is never sent to the server.

export function encode(obj) {
  const bytes = new TextEncoder().encode(JSON.stringify(obj));
  let s = "";
  bytes.forEach((b) => { s += String.fromCharCode(b); });
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decode(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

// long name <-> key in the link, and what each may hold; a page keeps only the fields it has
const KEYS = { text: "t", model: "m", compare: "c", threshold: "th", layer: "l", view: "v", strokes: "s",
               window: "w", step: "i" };
const isName = (v) => typeof v === "string";
const isCount = (v) => Number.isInteger(v) && v >= 0;
const VALID = {
  text: isName, model: isName, compare: isName,
  threshold: (v) => typeof v === "number" && v >= 0 && v <= 1,
  layer: isCount,
  view: (v) => v === "raw" || v === "model",
  strokes: (v) => Array.isArray(v) && v.every((d) => Array.isArray(d) && d.every(Number.isFinite)),
  window: (v) => Array.isArray(v) && v.length === 2 && v.every(isCount),     // the detail window: [first step, width or 0]
  step: isCount,                                                              // the step in the inspector
};

export function toHash(state) {
  const out = {};
  for (const [name, key] of Object.entries(KEYS)) {
    if (state[name] !== undefined && state[name] !== null && state[name] !== "") out[key] = state[name];
  }
  return `#${encode(out)}`;
}

// null for no fragment; throws on one that cannot be read. A field that holds what it may not (a link
// edited by hand) is left out, so the page keeps its default, and named in `ignored`.
export function fromHash(hash) {
  if (!hash || hash.length < 2) return null;
  const s = decode(hash.slice(1));
  if (typeof s !== "object" || s === null || Array.isArray(s)) throw new Error("not a link's state");
  const out = { ignored: [] };
  for (const [name, key] of Object.entries(KEYS)) {
    if (s[key] === undefined) continue;
    if (VALID[name](s[key])) out[name] = s[key];
    else out.ignored.push(name);
  }
  return out;
}

// what of a link's state the page replaced by its default once it knew its models (a model this server
// does not hold, a layer the model does not have), for the status line; `names`: the fields to compare
export function replaced(asked, state, names) {
  return names.filter((k) => asked[k] !== undefined && asked[k] !== state[k])
    .map((k) => (k === "layer" ? `layer ${asked[k] + 1}` : `${k} “${asked[k]}”`));
}
