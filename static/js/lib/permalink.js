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

// long name <-> key in the link; a page keeps only the fields it has
const KEYS = { text: "t", model: "m", compare: "c", threshold: "th", layer: "l", view: "v", strokes: "s",
               window: "w" };

export function toHash(state) {
  const out = {};
  for (const [name, key] of Object.entries(KEYS)) {
    if (state[name] !== undefined && state[name] !== null && state[name] !== "") out[key] = state[name];
  }
  return `#${encode(out)}`;
}

// null for no fragment; throws on one that cannot be read
export function fromHash(hash) {
  if (!hash || hash.length < 2) return null;
  const s = decode(hash.slice(1));
  const out = {};
  for (const [name, key] of Object.entries(KEYS)) if (s[key] !== undefined) out[name] = s[key];
  return out;
}
