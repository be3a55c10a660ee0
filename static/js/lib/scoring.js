// Boundaries at the slider's threshold and how they meet the gold word ends. With spaces, as the
// tolerant score counts them (DESIGN.md 6): a firing on a word's last character, or on the
// whitespace right after it, credits that word end once. Without spaces (DESIGN.md 8), as the
// spaceless scorer does: each line on its own, only the gaps inside lines scored, a layer read at
// its lag (lag 1: z_t = 1 is a boundary before t).

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

// boundaries after each position from a detector's z: lag 0 as is, lag 1 one to the left
export function readAtLag(z, lag) {
  if (!z || !lag) return z;
  return z.map((_, t) => (t + 1 < z.length && z[t + 1] === 1 ? 1 : 0));
}

// the lines of a spaceless reading: [start, end) of each non-empty line (newlines left out)
export function lineSpans(chars) {
  const spans = [];
  let start = 0;
  for (let t = 0; t <= chars.length; t += 1) {
    if (t === chars.length || chars[t] === "\n") {
      if (t > start) spans.push([start, t]);
      start = t + 1;
    }
  }
  return spans;
}

const prf = (correct, predicted, gold) => {
  const p = predicted ? correct / predicted : null, r = gold ? correct / gold : null;
  const f1 = p === null || r === null ? null : p + r > 0 ? (2 * p * r) / (p + r) : 0;
  return { precision: p, recall: r, f1 };
};

// the (start, end) of the words of line [a, b) cut after the positions where `after` is 1
function words(after, a, b) {
  const out = new Set();
  let s = a;
  for (let t = a; t < b; t += 1) {
    if (t === b - 1 || after[t] === 1) { out.add(`${s}:${t}`); s = t + 1; }
  }
  return out;
}

// The spaceless scorer on one typed text: `after` (boundaries after each position) against gold.
// Per position: "hit", "false", "miss" or "" (line-final gaps are given, so never marked); the
// boundary counts behind precision and recall, and the word-token scores.
export function spacelessMarks(after, chars, gold) {
  const n = chars.length, out = new Array(n).fill("");
  let hits = 0, fired = 0, golds = 0, correct = 0, predicted = 0, goldWords = 0;
  for (const [a, b] of lineSpans(chars)) {
    for (let t = a; t < b - 1; t += 1) {
      if (gold[t]) golds += 1;
      if (after[t]) fired += 1;
      if (after[t] && gold[t]) { out[t] = "hit"; hits += 1; } else if (after[t]) out[t] = "false"; else if (gold[t]) out[t] = "miss";
    }
    const mine = words(after, a, b), truth = words(gold, a, b);
    for (const w of mine) if (truth.has(w)) correct += 1;
    predicted += mine.size;
    goldWords += truth.size;
  }
  return { marks: out, hits, fired, golds, precision: fired ? hits / fired : null, recall: golds ? hits / golds : null,
           token: { ...prf(correct, predicted, goldWords), correct, predicted, gold: goldWords } };
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
