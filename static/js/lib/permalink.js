// Permalinks: the state lives in the URL's fragment, URL-safe base64 of JSON, so it is never
// sent to the server. Shared by the full page and the embed view.

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

// {text, model, compare, threshold} <-> the short keys kept in the link
export function toHash(state) {
  return `#${encode({ t: state.text, m: state.model, c: state.compare, th: state.threshold })}`;
}

export function fromHash(hash) {
  if (!hash || hash.length < 2) return null;
  const s = decode(hash.slice(1));
  return { text: s.t || "", model: s.m || "", compare: s.c || "", threshold: s.th ?? 0.5 };
}
