// Boundaries at the slider's threshold and how they meet the gold word ends, as the tolerant
// score counts them (DESIGN.md 6): a firing on a word's last character, or on the whitespace
// right after it, credits that word end once.

const SPACE = /^\s$/;
export const isSpace = (c) => SPACE.test(c);

// z of one layer at a threshold: the server's own z at 0.5 (z~ is rounded in the answer), else z~ > threshold
export function boundaries(layer, threshold) {
  if (!layer.z) return null;
  if (Math.abs(threshold - 0.5) < 1e-9) return layer.z;
  return layer.z_soft.map((s) => (s > threshold ? 1 : 0));
}

// per position: "hit" (a firing that credits a word end), "false" (a firing that does not),
// "miss" (a word end no firing credits) or "" ; and the counts behind precision and recall
export function marks(z, chars, gold) {
  const n = chars.length, out = new Array(n).fill("");
  let hits = 0, fired = 0, golds = 0;
  for (let t = 0; t < n; t += 1) {
    if (gold[t]) golds += 1;
    if (!z[t]) continue;
    fired += 1;
    const onEnd = gold[t] === 1;
    const onSpaceAfter = t > 0 && isSpace(chars[t]) && gold[t - 1] === 1 && !z[t - 1];
    if (onEnd || onSpaceAfter) { out[t] = "hit"; hits += 1; } else out[t] = "false";
  }
  for (let t = 0; t < n; t += 1) {
    if (!gold[t]) continue;
    const credited = z[t] || (t + 1 < n && isSpace(chars[t + 1]) && z[t + 1]);
    if (!credited) out[t] = "miss";
  }
  return { marks: out, hits, fired, golds,
           precision: fired ? hits / fired : null, recall: golds ? hits / golds : null };
}

// segment number of each position: a boundary falls after its position
export function segmentIds(z) {
  let k = 0;
  return z.map((v) => { const id = k; if (v === 1) k += 1; return id; });
}

// 1 where two models' boundaries of the same layer differ
export function disagreement(za, zb) {
  const n = Math.min(za.length, zb.length);
  return Array.from({ length: n }, (_, i) => (za[i] !== zb[i] ? 1 : 0));
}

export const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`);
