// Plain words from a checkpoint's measured metrics (GET /api/models): what each layer does,
// a name for it where the numbers support one, and what the model cannot read of a text.
import { pct } from "./scoring.js";

const f2 = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(2));

// the per-layer word-end scores of a text checkpoint: the test split, else what was chosen on valid
function textLayers(m) {
  const metrics = m.metrics || {};
  const test = (metrics.test || {}).layers;
  if (test && test.some((l) => l.word_boundary_tolerant)) {
    return { split: "test", layers: test.map((l) => ({
      layer: l.layer, rate: l.boundary_rate, p: l.word_boundary_tolerant.precision,
      r: l.word_boundary_tolerant.recall, f1: l.word_boundary_tolerant.f1, random: l.random_f1_tolerant,
      strict: l.word_boundary ? l.word_boundary.f1 : null, strictRandom: l.random_f1 })) };
  }
  const rates = metrics.valid_boundary_rate || [];
  return { split: "valid", layers: rates.map((rate, i) => ({ layer: i + 1, rate })).filter((l, i) => m.detectors[i]) };
}

// what a layer measurably does: {layer, name, short, sentence}
export function layerRoles(m) {
  const { split, layers } = textLayers(m);
  const roles = [];
  for (let i = 0; i < m.layers; i += 1) {
    const k = i + 1, l = layers.find((x) => x.layer === k);
    if (!m.detectors[i]) {
      roles.push({ layer: k, name: "top layer", short: "top",
                   sentence: `Layer ${k} is the top layer: it has no boundary detector and is updated only when layer ${k - 1} fires.` });
    } else if (!l || l.f1 === undefined) {
      roles.push({ layer: k, name: "", short: "",
                   sentence: l && l.rate !== undefined ? `Layer ${k} fires on ${pct(l.rate)} of characters (${split} split); its word ends were not scored.`
                     : `Layer ${k} has not been scored.` });
    } else if (l.f1 >= 0.5 && (l.random == null || l.f1 >= 1.4 * l.random)) {
      roles.push({ layer: k, name: "word detector", short: "words", scores: l,
                   sentence: `Layer ${k} marks word ends: it fires on ${pct(l.r)} of them, and ${pct(l.p)} of its firings are word ends.` });
    } else if (l.random != null && l.f1 <= 1.15 * l.random) {
      roles.push({ layer: k, name: l.rate > 0.5 ? "fast layer" : "no clear unit", short: l.rate > 0.5 ? "fast" : "", scores: l,
                   sentence: `Layer ${k} fires on ${pct(l.rate)} of all characters, no better than random at word ends `
                     + `(F1 ${f2(l.f1)}; firing at random at that rate scores ${f2(l.random)}).` });
    } else {
      roles.push({ layer: k, name: "partial word marker", short: "some words", scores: l,
                   sentence: `Layer ${k} marks some word ends: it fires on ${pct(l.r)} of them, and ${pct(l.p)} of its firings are word ends.` });
    }
  }
  return roles;
}

// the one sentence under the model list, and the figures behind it for whoever wants them
export function textModelSentence(m) {
  const roles = layerRoles(m);
  const word = roles.find((r) => r.name === "word detector") || roles.find((r) => r.name === "partial word marker");
  const first = word ? word.sentence : (roles.find((r) => r.sentence && m.detectors[r.layer - 1]) || { sentence: "" }).sentence;
  const metrics = m.metrics || {};
  const bpc = metrics.test_bpc ?? metrics.valid_bpc;
  const details = [
    `${m.name}: ${m.layers} layers of ${m.hidden_sizes.join("/")} units, trained on ${(m.training || {}).data || "?"}.`,
    bpc ? `It predicts the next character at ${bpc.toFixed(3)} bits per character (${metrics.test_bpc ? "test" : "valid"} split).` : "",
    ...roles.filter((r) => r !== word).map((r) => r.sentence),
    ...roles.filter((r) => r.scores && r.scores.strict != null).map((r) => `Layer ${r.layer} word-end F1 on the test split: `
      + `${f2(r.scores.f1)} counting a firing on the space after a word (random ${f2(r.scores.random)}), `
      + `${f2(r.scores.strict)} counting only the word's last character (random ${f2(r.scores.strictRandom)}).`),
  ].filter(Boolean);
  return { sentence: first || `${m.name}: no boundary scores were measured for this checkpoint.`, details };
}

// The ink checkpoint's metrics in words. Random firing at a layer's rate r catches a fraction r
// of any gold, so a recall near the rate is a coin toss.
export function inkModelSentences(m) {
  const metrics = m.metrics || {};
  const valid = metrics.valid || {};
  const ll = valid.loglik_per_sequence ?? metrics.valid_loglik_per_sequence;
  const out = [];
  if (ll != null) out.push(`${m.name}: validation log-likelihood ${ll.toFixed(1)} nats per line`
    + (valid.sequences ? ` over ${valid.sequences.toLocaleString("en")} validation lines` : "")
    + ((m.training || {}).data ? `; trained on ${m.training.data}` : "") + ".");
  for (const l of valid.layers || []) {
    const parts = [];
    let random = true;
    for (const [key, what] of [["penup", "pen lifts"], ["char_boundary", "character ends inside strokes"]]) {
      const s = l[key];
      if (!s) continue;
      const lift = l.boundary_rate ? s.recall / l.boundary_rate : 0, rate = pct(l.boundary_rate);
      if (lift > 1.5) random = false;
      const against = lift > 1.5 ? `where random firing at its rate would catch about ${rate}`
        : lift >= 0.67 ? `about what random firing at its rate would (${rate})`
          : `fewer than random firing at its rate would (${rate})`;
      parts.push(`it catches ${pct(s.recall)} of ${what}, ${against}, and ${pct(s.precision)} of its firings are `
        + `${key === "penup" ? "pen lifts" : "character ends"}`);
    }
    const verdict = random ? " That is about as random: its boundaries say little about the ink." : "";
    out.push(`Layer ${l.layer} fires on ${pct(l.boundary_rate)} of points; ${parts.join("; ")}.${verdict}`);
  }
  if (!out.length) out.push(`${m.name}: no metrics were measured for this checkpoint.`);
  return out;
}

// what the model could not read of the typed text, from chars, unknown and source_spans
export function unreadable(res, text) {
  const lowered = new Set(), numbers = new Set(), unknown = new Set(), other = new Set();
  res.chars.forEach((c, t) => {
    const [a, b] = res.source_spans[t];
    const typed = text.slice(a, b);
    if (res.unknown[t]) unknown.add(typed);
    else if (typed === c) return;
    else if (c === "N" && /\d/.test(typed)) numbers.add(typed);
    else if (typed.toLowerCase() === c) lowered.add(typed);
    else if (typed.length) other.add(`${typed}→${c}`);
  });
  const list = (s, k = 6) => [...s].slice(0, k).map((x) => `“${x}”`).join(", ") + (s.size > k ? "…" : "");
  const parts = [];
  if (lowered.size) parts.push(`reads capitals as small letters (${list(lowered)})`);
  if (numbers.size) parts.push(`reads every number as N (${list(numbers, 3)})`);
  if (unknown.size) parts.push(`does not know ${list(unknown)} (shown in red)`);
  if (other.size) parts.push(`reads ${list(other)}`);
  return parts.length ? `The model ${parts.join("; ")}.` : "";
}
