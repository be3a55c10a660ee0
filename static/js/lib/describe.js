// Plain words from a checkpoint's measured metrics (GET /api/models): what each layer does,
// a name for it where the numbers support one, and what the model cannot read of a text.
import { glyph, visible } from "./plot.js";
import { pct } from "./scoring.js";

const f2 = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(2));

// the per-layer word-end scores of a text checkpoint: the test split, else what was chosen on valid.
// Without spaces (DESIGN.md 8) f1 is the word-token F1 and random the random boundaries' at the
// layer's rate; lag is the one chosen on valid.
function textLayers(m) {
  const metrics = m.metrics || {};
  const test = (metrics.test || {}).layers;
  if (m.spaces === false && test && test.some((l) => l.token)) {
    return { split: "test", layers: test.map((l) => ({
      layer: l.layer, rate: l.boundary_rate, lag: l.lag || 0, f1: l.token ? l.token.f1 : undefined,
      p: l.token && l.token.precision, r: l.token && l.token.recall, boundary: l.boundary || null,
      random: l.random && l.random.token ? l.random.token.f1 : null,
      boundaryRandom: l.random && l.random.boundary ? l.random.boundary.f1 : null })) };
  }
  if (test && test.some((l) => l.word_boundary_tolerant)) {
    return { split: "test", layers: test.map((l) => ({
      layer: l.layer, rate: l.boundary_rate, p: l.word_boundary_tolerant.precision,
      r: l.word_boundary_tolerant.recall, f1: l.word_boundary_tolerant.f1, random: l.random_f1_tolerant,
      strict: l.word_boundary ? l.word_boundary.f1 : null, strictRandom: l.random_f1 })) };
  }
  const rates = metrics.valid_boundary_rate || [];
  return { split: "valid", layers: rates.map((rate, i) => ({ layer: i + 1, rate })).filter((l, i) => m.detectors[i]) };
}

// the hierarchy the evaluation measured (DESIGN.md section 9), or null: the word layer, the
// detector layer above it, whether that one marks a sparser subset of the word ends (at least 90% of
// its firings on word ends, at most half the word layer's rate: `holds`), and whether its cuts line
// up with phrase ends better than random word ends at its rate do (`phrases`, from the phrase proxy)
export function hierarchyOf(m) {
  const h = ((m.metrics || {}).test || {}).hierarchy;
  if (m.spaces === false || !h || !h.phrase_layer || h.phrase_on_word_ends == null || h.rate_ratio == null) return null;
  const proxy = h.phrase_proxy && h.phrase_proxy.scores && h.phrase_proxy.random_word_ends
    ? { f1: h.phrase_proxy.scores.f1, random: h.phrase_proxy.random_word_ends.f1 } : null;
  const holds = h.phrase_on_word_ends >= 0.9 && h.rate_ratio <= 0.5;
  return { word: h.word_layer, phrase: h.phrase_layer, onWordEnds: h.phrase_on_word_ends, rateRatio: h.rate_ratio,
           wordsPerPhrase: h.words_per_phrase, holds, proxy, phrases: holds && proxy != null && proxy.f1 > proxy.random };
}

function withHierarchy(roles, h) {
  if (!h) return roles;
  const i = h.phrase - 1, measured = `${pct(h.onWordEnds)} of its firings are on word ends, at ${f2(h.rateRatio)} of `
    + `layer ${h.word}'s rate`;
  const every = `a cut every ${Number(h.wordsPerPhrase).toFixed(1)} words`;
  const punctuation = h.proxy ? `on our punctuated sentences its cuts score F1 ${f2(h.proxy.f1)} at the phrase ends `
    + `(after , ; : and dashes), against ${f2(h.proxy.random)} for random word ends at its rate` : "";
  if (h.phrases) {
    roles[i] = { ...roles[i], name: "phrase layer", short: "phrases", sentence: `Layer ${h.phrase} marks phrases, groups `
      + `of layer ${h.word}'s words: ${measured} (${every}); ${punctuation}.` };
  } else if (h.holds) {
    roles[i] = { ...roles[i], name: "coarser level", short: "coarser", sentence: `Layer ${h.phrase} marks a coarser level, `
      + `groups of layer ${h.word}'s words: ${measured} (${every}); but they are not phrases${punctuation ? `: ${punctuation}` : ""}.` };
  } else {
    // "the word layer" only where layer h.word was itself read as marking words
    const below = /word/.test((roles[h.word - 1] || {}).name || "") ? "the word layer" : `layer ${h.word}`;
    roles[i] = { ...roles[i], sentence: `${roles[i].sentence} Above ${below} it marks no coarser level: ${measured}.` };
  }
  return roles;
}

// the layer that marks words best: of the word detectors the one with the best measured F1, else
// the best of those that mark some word ends, else none
export function wordRole(roles) {
  const best = (...names) => roles.filter((r) => names.includes(r.name))
    .reduce((a, b) => (!a || (b.scores && b.scores.f1 > a.scores.f1) ? b : a), null);
  return best("word detector") || best("partial word marker", "word ends and more");
}

// what a layer measurably does: {layer, name, short, sentence}
export function layerRoles(m) {
  return withHierarchy(layerRolesAlone(m), hierarchyOf(m));
}

// a layer without a detector (the top one, as in the paper), on both pages
const topLayerSentence = (k) => `Layer ${k} is the top layer: it has no boundary detector and is updated only when layer ${k - 1} fires.`;

function layerRolesAlone(m) {
  const { split, layers } = textLayers(m);
  const spaceless = m.spaces === false;
  // one layer is the word detector: of those that score like one, the best; the others mark some word ends
  const wordLike = (l) => l && l.f1 !== undefined && l.f1 >= 0.5 && (l.random == null || l.f1 >= 1.4 * l.random);
  const wordLayer = layers.filter(wordLike).reduce((a, b) => (!a || b.f1 > a.f1 ? b : a), null);
  const roles = [];
  for (let i = 0; i < m.layers; i += 1) {
    const k = i + 1, l = layers.find((x) => x.layer === k);
    if (!m.detectors[i]) {
      roles.push({ layer: k, name: "top layer", short: "top", sentence: topLayerSentence(k) });
    } else if (!l || l.f1 === undefined) {
      roles.push({ layer: k, name: "", short: "",
                   sentence: l && l.rate !== undefined ? `Layer ${k} fires on ${pct(l.rate)} of characters (${split} split); its word ends were not scored.`
                     : `Layer ${k} has not been scored.` });
    } else if (l === wordLayer) {
      roles.push({ layer: k, name: "word detector", short: "words", scores: l, sentence: spaceless
        ? `Layer ${k} finds words without spaces: it cuts out ${pct(l.r)} of the words exactly, and ${pct(l.p)} of the pieces it cuts are words.`
        : `Layer ${k} marks word ends: it fires on ${pct(l.r)} of them, and ${pct(l.p)} of its firings are word ends.` });
    } else if ((l.random != null && l.f1 <= 1.15 * l.random) || (spaceless && (l.f1 < 0.15 || (l.random != null && l.f1 < 1.4 * l.random)))) {
      roles.push({ layer: k, name: l.rate > 0.5 ? "fast layer" : "no clear unit", short: l.rate > 0.5 ? "fast" : "", scores: l,
                   sentence: spaceless
                     ? `Layer ${k} marks a boundary in ${pct(l.rate)} of the gaps between letters and cuts out few words `
                       + `(word-token F1 ${f2(l.f1)}; random boundaries at that rate score ${f2(l.random)}).`
                     : `Layer ${k} fires on ${pct(l.rate)} of all characters, no better than random at word ends `
                       + `(F1 ${f2(l.f1)}; firing at random at that rate scores ${f2(l.random)}).` });
    } else if (!spaceless && l.r > l.p) {     // it finds most word ends, among many other firings: named so
      roles.push({ layer: k, name: "word ends and more", short: "words+", scores: l,
                   sentence: `Layer ${k} fires at word ends and inside words too: on ${pct(l.r)} of the word ends, and only ${pct(l.p)} of its firings are word ends.` });
    } else {
      roles.push({ layer: k, name: "partial word marker", short: "some words", scores: l, sentence: spaceless
        ? `Layer ${k} finds some words without spaces: it cuts out ${pct(l.r)} of the words exactly, and ${pct(l.p)} of the pieces it cuts are words.`
        : `Layer ${k} marks some word ends: it fires on ${pct(l.r)} of them, and ${pct(l.p)} of its firings are word ends.` });
    }
  }
  return roles;
}

// how each detector's z is read: lag 1 (from a spaceless checkpoint's metrics) marks a boundary
// before the position it fires at; every other layer, and every checkpoint with spaces, lag 0
export function layerLags(m) {
  const out = new Array(m.layers).fill(0);
  if (m.spaces !== false) return out;
  for (const l of ((m.metrics || {}).test || {}).layers || []) if (l.lag === 1) out[l.layer - 1] = 1;
  return out;
}

// the detector layer that finds words best (by its measured token F1, else the highest detector)
export function bestLayer(m) {
  const { layers } = textLayers(m);
  const scored = layers.filter((l) => l.f1 != null && m.detectors[l.layer - 1]);
  if (scored.length) return scored.reduce((a, b) => (b.f1 > a.f1 ? b : a)).layer - 1;
  return Math.max(0, m.detectors.lastIndexOf(true));
}

// the baselines a spaceless checkpoint's test metrics recorded, in the order the model line names them
const SPACELESS_BASELINES = [
  ["entropy", "the model's own entropy peaks"], ["surprisal", "its surprisal peaks"],
  ["sentencepiece", "a unigram segmenter"], ["morfessor", "Morfessor"],
];

function chosenWhere(test, base) {
  const from = (base.entropy || {}).threshold_from || (base.surprisal || {}).threshold_from || test.chosen_on || "";
  return /valid/.test(from) ? "on valid" : from ? `on ${from.replace(/ split$/, "")}` : "on valid";
}

// A spaceless checkpoint: which layer finds words, and how well against the baselines
function spacelessSentence(m) {
  const metrics = m.metrics || {}, test = metrics.test || {}, base = test.baselines || {};
  const roles = layerRoles(m), { layers } = textLayers(m);
  const scored = layers.filter((l) => l.f1 != null && m.detectors[l.layer - 1]);
  const bpc = metrics.test_bpc ?? test.bpc ?? metrics.valid_bpc;
  const details = [
    `${m.name}: ${m.layers} layers of ${m.hidden_sizes.join("/")} units, trained on ${(m.training || {}).data || "?"}; it reads text without its spaces.`,
    bpc ? `It predicts the next character at ${bpc.toFixed(3)} bits per character without spaces (${metrics.test_bpc ?? test.bpc ? "test" : "valid"} split).` : "",
  ];
  if (!scored.length) {
    details.push(...roles.map((r) => r.sentence));
    return { sentence: `${m.name} reads text without its spaces; its word discovery has not been scored yet.`, details: details.filter(Boolean) };
  }
  const best = scored.reduce((a, b) => (b.f1 > a.f1 ? b : a));
  const against = [];
  let strongest = null;
  for (const [key, words] of SPACELESS_BASELINES) {
    const b = base[key];
    if (!b || !b.token || b.token.f1 == null) continue;
    against.push(`${f2(b.token.f1)} for ${words}`);
    strongest = Math.max(strongest ?? -1, b.token.f1);
  }
  const random = best.random ?? (base.random && base.random.token ? base.random.token.f1 : null);
  if (random != null) against.push(`${f2(random)} for random boundaries${best.random != null ? " at its rate" : ""}`);
  const list = against.length > 1 ? `${against.slice(0, -1).join(", ")} and ${against.at(-1)}` : against.join("");
  const clear = (random == null || best.f1 >= 1.4 * random) && best.f1 >= 0.15;
  const lead = clear && (strongest == null || best.f1 > strongest) ? `Layer ${best.layer} finds words without spaces: word-token F1`
    : clear ? `Layer ${best.layer} finds some words without spaces, fewer than the baselines do: word-token F1`
      : `No layer finds many words without spaces: the best, layer ${best.layer}, has word-token F1`;
  const thresholds = ["entropy", "surprisal"].some((k) => base[k] && base[k].threshold_bits != null);
  const chosen = [thresholds ? "the peaks' thresholds" : "", best.lag === 1 ? "the layer's lag" : ""].filter(Boolean);
  const supervised = chosen.length ? ` (${chosen.join(" and ")} ${chosen.length > 1 ? "were" : "was"} chosen ${chosenWhere(test, base)} `
    + "against the gold word ends: a supervised choice)" : "";
  const sentence = `${lead} ${f2(best.f1)} on the test split${list ? `, against ${list}` : ""}${supervised}.`;
  for (const l of scored) {
    details.push(`Layer ${l.layer}, read at lag ${l.lag}${l.lag === 1 ? " (a firing marks the boundary before its character)" : ""}: `
      + `word-token precision ${f2(l.p)}, recall ${f2(l.r)}, F1 ${f2(l.f1)} (random ${f2(l.random)}); `
      + `boundary F1 ${f2(l.boundary && l.boundary.f1)} (random ${f2(l.boundaryRandom)}); it fires on ${pct(l.rate)} of the gaps.`);
  }
  for (const [key, words] of [...SPACELESS_BASELINES, ["random", "random boundaries at the gold rate"]]) {
    const b = base[key];
    if (!b || !b.token) continue;
    const how = b.threshold_bits != null ? `, threshold ${f2(b.threshold_bits)} bits` : b.vocab_size ? `, ${b.vocab_size} pieces` : "";
    details.push(`Baseline, ${words}${how}: word-token F1 ${f2(b.token.f1)}, boundary F1 ${f2(b.boundary && b.boundary.f1)}.`);
  }
  return { sentence, details: details.filter(Boolean) };
}

// with spaces: a rule that fires on every space finds every word; say so beside any with-spaces score
function whitespaceClause(m) {
  const w = (((m.metrics || {}).test || {}).baselines || {}).whitespace;
  const f1 = w && w.word_boundary_tolerant ? w.word_boundary_tolerant.f1 : null;
  return ` (With spaces in the text, a rule that fires on every space finds every word${f1 != null ? `: tolerant F1 ${f2(f1)} on the test split` : ""}.)`;
}

// the one sentence under the model list, and the figures behind it for whoever wants them
export function textModelSentence(m) {
  if (m.spaces === false) return spacelessSentence(m);
  const roles = layerRoles(m);
  const word = wordRole(roles);
  const phrase = roles.find((r) => r.name === "phrase layer" || r.name === "coarser level");
  const lead = word ? word.sentence : (roles.find((r) => r.sentence && m.detectors[r.layer - 1]) || { sentence: "" }).sentence;
  const first = phrase ? `${lead} ${phrase.sentence}` : lead;
  const metrics = m.metrics || {};
  const bpc = metrics.test_bpc ?? metrics.valid_bpc;
  const details = [
    `${m.name}: ${m.layers} layers of ${m.hidden_sizes.join("/")} units, trained on ${(m.training || {}).data || "?"}.`,
    bpc ? `It predicts the next character at ${bpc.toFixed(3)} bits per character (${metrics.test_bpc ? "test" : "valid"} split).` : "",
    ...roles.filter((r) => r !== word && r !== phrase).map((r) => r.sentence),
    ...roles.filter((r) => r.scores && r.scores.strict != null).map((r) => `Layer ${r.layer} word-end F1 on the test split: `
      + `${f2(r.scores.f1)} counting a firing on the space after a word (random ${f2(r.scores.random)}), `
      + `${f2(r.scores.strict)} counting only the word's last character (random ${f2(r.scores.strictRandom)}).`),
  ].filter(Boolean);
  const w = (((m.metrics || {}).test || {}).baselines || {}).whitespace;
  if (w && w.word_boundary_tolerant) details.push(`The rule that fires on every whitespace character: tolerant F1 `
    + `${f2(w.word_boundary_tolerant.f1)}, strict F1 ${f2(w.word_boundary && w.word_boundary.f1)}, word-token F1 ${f2(w.word_token_f1)} (test split).`);
  return { sentence: (first || `${m.name}: no boundary scores were measured for this checkpoint.`) + (first ? whitespaceClause(m) : ""), details };
}

// --- ink ---------------------------------------------------------------------------------------

// A plain LSTM baseline (model.train --arch lstm): the checkpoint's own word where the server
// gives it, else the training command, else no detector on any layer.
export function isLstm(m) {
  if (!m) return false;
  const arch = m.arch ?? (m.model || {}).arch;
  if (arch) return arch === "lstm";
  if (/--arch[= ]lstm\b/.test((m.training || {}).command || "")) return true;
  return Array.isArray(m.detectors) && m.detectors.length > 0 && m.detectors.every((d) => !d);
}

// the kind of model in a few words, for the pickers and captions
export const inkKind = (m) => (isLstm(m) ? "LSTM, no boundary detector" : "HM-LSTM");

// the validation log-likelihood per line, or null
export function inkLoglik(m) {
  const metrics = (m && m.metrics) || {};
  return (metrics.valid || {}).loglik_per_sequence ?? metrics.valid_loglik_per_sequence ?? null;
}

// how a layer's F1 compares with random firing at its rate: "clear", "some" or "random"
function against(f1, random) {
  if (f1 == null || random == null) return null;
  if (f1 >= 1.4 * random && f1 >= 0.1) return "clear";
  if (f1 > 1.15 * random) return "some";
  return "random";
}

// A layer scored the way model.evaluate now scores ink (DESIGN.md 10): each F1 beside the exact
// F1 of random firings at the layer's rate, character ends with a 2-point tolerance.
function exactLayer(l, tolerance) {
  const c = l.char_boundary, u = l.penup, ut = l.penup_tolerant;
  // a detector that fires as the pen lands, a point after the pen-up, marks the same gap: judged within the tolerance
  const cv = c ? against(c.f1, l.char_random_f1) : null;
  const uv = ut ? against(ut.f1, l.penup_random_f1_tolerant) : u ? against(u.f1, l.penup_random_f1) : null;
  const inside = l.rate_inside_strokes != null ? ` (${pct(l.rate_inside_strokes)} of the points inside strokes of synthetic cursive)` : "";
  const charWords = {
    clear: "marks character ends inside strokes", some: "marks some character ends inside strokes",
    random: "is about as good as random at character ends inside strokes" }[cv];
  const upWords = {
    clear: "fires where the pen lifts or lands", some: "fires where the pen lifts or lands a little more often than chance",
    random: "is about as good as random at pen-ups" }[uv];
  const charFig = c ? `character-end F1 ${f2(c.f1)} within ${tolerance} points (precision ${pct(c.precision)}, recall ${pct(c.recall)}), `
    + `where random firing at its rate scores ${f2(l.char_random_f1)}` : "";
  const upFig = ut ? `pen-up F1 ${f2(u.f1)} on the pen-up itself and ${f2(ut.f1)} within ${tolerance} points `
    + `(precision ${pct(ut.precision)}, recall ${pct(ut.recall)}), where random firing at its rate scores `
    + `${f2(l.penup_random_f1)} and ${f2(l.penup_random_f1_tolerant)}`
    : u ? `pen-up F1 ${f2(u.f1)} (precision ${pct(u.precision)}, recall ${pct(u.recall)}), `
    + `where random firing at its rate scores ${f2(l.penup_random_f1)}` : "";
  const random = (cv === null || cv === "random") && (uv === null || uv === "random");
  let lead;
  if (random) lead = `Layer ${l.layer} is about as good as random: its boundaries say little about the ink`;
  else if (cv === "clear" || (cv === "some" && uv !== "clear")) lead = `Layer ${l.layer} ${charWords}${uv ? `, and ${upWords}` : ""}`;
  else lead = `Layer ${l.layer} ${upWords}${cv ? `, and ${charWords}` : ""}`;
  const figs = [charFig, upFig].filter(Boolean).join("; ");
  // issue 16's test of a decided detector: under 20% of points with z~ within 0.05 of 0.5
  const undecided = l.undecided == null ? "" : ` Its z~ is undecided (within 0.05 of 0.5) on ${pct(l.undecided)} of the `
    + `validation points: ${l.undecided < 0.2 ? "a decided detector" : "an undecided detector"} by the test of under 20%.`;
  return { text: `${lead}. It fires on ${pct(l.boundary_rate)} of points${inside}; ${figs}.${undecided}`, lead, warn: random,
           layer: l.layer, verdict: { char: cv, penup: uv } };
}

// A layer scored the older way (no random F1 recorded): random firing at a layer's rate r catches a
// fraction r of any gold, so a recall near the rate is a coin toss.
function estimatedLayer(l) {
  const parts = [];
  let random = true;
  for (const [key, what] of [["penup", "pen lifts"], ["char_boundary", "character ends inside strokes"]]) {
    const s = l[key];
    if (!s) continue;
    const lift = l.boundary_rate ? s.recall / l.boundary_rate : 0, rate = pct(l.boundary_rate);
    if (lift > 1.5) random = false;
    const words = lift > 1.5 ? `where random firing at its rate would catch about ${rate}`
      : lift >= 0.67 ? `about what random firing at its rate would (${rate})`
        : `fewer than random firing at its rate would (${rate})`;
    parts.push(`it catches ${pct(s.recall)} of ${what}, ${words}, and ${pct(s.precision)} of its firings are `
      + `${key === "penup" ? "pen lifts" : "character ends"}`);
  }
  const verdict = random ? " That is about as random: its boundaries say little about the ink." : "";
  const lead = random ? `Layer ${l.layer} is about as good as random: its boundaries say little about the ink`
    : `Layer ${l.layer} catches more than random firing at its rate would`;
  return { text: `Layer ${l.layer} fires on ${pct(l.boundary_rate)} of points; ${parts.join("; ")}.${verdict}`, lead, warn: random,
           layer: l.layer };
}

// the pen-up rule beside the layers' pen-up scores (DESIGN.md 10)
export function penupRule(m) {
  const rule = ((((m || {}).metrics || {}).valid || {}).baselines || {}).penup_rule || {};
  const on = rule.penup ? rule.penup.f1 : 1, inside = rule.char_boundary ? rule.char_boundary.f1 : 0;
  return `Pen-ups are part of the input, so “fire at every pen-up” is the trivial rule: perfect on pen-ups `
    + `(F1 ${f2(on)}), nothing inside strokes (character-end F1 ${f2(inside)}).`;
}

// a segmenter's character-end F1 as a multiple of random firing's at its rate
const timesRandom = (s) => s.char_boundary.f1 / s.char_random_f1;

// the model's own surprisal as a segmenter inside strokes, beside random at its rate (model.evaluate)
function inkSurprisal(m) {
  const valid = ((m || {}).metrics || {}).valid || {};
  const s = (valid.baselines || {}).surprisal;
  if (!s || !s.char_boundary) return null;
  const verdict = against(s.char_boundary.f1, s.char_random_f1);
  return `The model's own surprisal, as a segmenter (a boundary before each point that surprises it by more than `
    + `${s.threshold_nats.toFixed(1)} nats, a threshold chosen on other synthetic lines), fires on ${pct(s.rate_inside_strokes)} `
    + `of the points inside strokes of synthetic cursive: character-end F1 ${f2(s.char_boundary.f1)}, where random firing at its rate scores `
    + `${f2(s.char_random_f1)} (${timesRandom(s).toFixed(2)} times${verdict === "random" ? ", about as good as random" : ""}).`
    + (isLstm(m) ? "" : " A layer that segments should beat both.");
}

// model.probe: a read-out trained with labels, on the layer whose state holds character ends best
function inkProbe(m) {
  const probe = ((m || {}).metrics || {}).probe;
  if (!probe || !(probe.layers || []).length) return null;
  const best = probe.layers.reduce((a, b) => (timesRandom(b) > timesRandom(a) ? b : a));
  // in the summary beside the detectors' scores (an LSTM has none)
  const lead = isLstm(m) ? "" : "The model's states hold character ends inside strokes all the same: a read-out trained "
    + `with labels finds them in layer ${best.layer}'s state at ${timesRandom(best).toFixed(1)} times random`;
  return {
    kind: "probe", lead, warn: false,
    text: `A linear read-out trained with labels (a ceiling, not a baseline: the model's detectors learn without labels) `
      + `finds character ends inside strokes of synthetic cursive in layer ${best.layer}'s state: F1 ${f2(best.char_boundary.f1)}, `
      + `where random firing at its rate scores ${f2(best.char_random_f1)} (${timesRandom(best).toFixed(1)} times); in the pen's `
      + `last points alone, without a model, ${timesRandom(probe.ink_window).toFixed(1)} times. `
      + (isLstm(m) ? "A plain LSTM has no detector to mark them."
        : "A detector that marked them would score near that."),
  };
}

const PROTOCOL = {
  graves2013: "offsets standardised with the training set's statistics",
};

// The ink checkpoint's metrics in words: [{text, lead, warn, kind}], the first the model and its
// log-likelihood, then one per detector layer, then the pen-up rule and the surprisal baseline;
// `lead`, the text's first clause (none for the surprisal), goes into the summary.
export function inkModelSentences(m) {
  const metrics = m.metrics || {};
  const valid = metrics.valid || {};
  const ll = inkLoglik(m);
  const out = [];
  const data = (m.training || {}).data ? `; trained on ${m.training.data}` : "";
  if (isLstm(m)) {
    const lead = `${m.name} is a plain LSTM, the baseline for the HM-LSTMs: it has no boundary detector`;
    out.push({ kind: "arch", text: `${m.name} is a plain LSTM (${m.layers} layers of ${m.hidden_sizes.join("/")} units), `
      + "the baseline for the HM-LSTMs: it has no boundary detector, so there are no boundaries to show, only its NLL per "
      + "point and its traces.", lead, warn: false });
  }
  const protocol = valid.protocol || (m.normalisation || {}).protocol;
  if (ll != null) {
    const how = [];
    if (protocol) how.push(`${protocol}: ${PROTOCOL[protocol] || protocol}`);
    if (valid.jacobian_nats_per_point != null) how.push(`the Jacobian to whiteboard units, ${valid.jacobian_nats_per_point.toFixed(2)} nats per point, stated, not added`);
    const value = `${ll.toFixed(1)} nats per line`, figure = `validation log-likelihood ${value}`;
    const lead = isLstm(m) ? `Its validation log-likelihood is ${value}` : `${m.name}: ${figure}`;   // an LSTM's first lead names it
    out.push({ kind: "loglik", text: `${m.name}: ${figure}`
      + (valid.sequences ? ` over ${valid.sequences.toLocaleString("en")} validation lines` : "")
      + (how.length ? ` (${how.join("; ")})` : "") + `${data}.`, lead, warn: false });
  } else if (metrics.stop_loglik_per_sequence != null) {
    const lead = `${m.name}: not evaluated on the validation lines yet`;
    out.push({ kind: "loglik", text: `${lead}; log-likelihood `
      + `${metrics.stop_loglik_per_sequence.toFixed(1)} nats per line on the early-stopping slice of the training lines${data}.`,
      lead, warn: false });
  }
  const tolerance = valid.char_tolerance_points ?? 2;
  for (const l of valid.layers || []) {
    const exact = l.penup_random_f1 !== undefined || l.char_random_f1 !== undefined;
    out.push({ kind: "layer", ...(exact ? exactLayer(l, tolerance) : estimatedLayer(l)) });
  }
  if (!isLstm(m)) {
    (m.detectors || []).forEach((d, i) => { if (!d) out.push({ kind: "top", text: topLayerSentence(i + 1), warn: false }); });
  }
  if (!isLstm(m) && (valid.layers || []).some((l) => l.penup)) {
    out.push({ kind: "rule", text: penupRule(m), warn: false,
               lead: "Pen-ups are part of the input, so marking them is no discovery: “fire at every pen-up” finds every one" });
  }
  const surprisal = inkSurprisal(m);
  if (surprisal) out.push({ kind: "surprisal", text: surprisal, warn: false });
  const probe = inkProbe(m);
  if (probe) out.push(probe);
  if (!out.length) {
    const text = `${m.name}: no metrics were measured for this checkpoint`;
    out.push({ kind: "none", text: `${text}.`, lead: text, warn: false });
  }
  return out;
}

// The sentences' leads, one short paragraph: what the page shows first, the figures folded below it
// (on a phone the whole set is more than a screen).
// The order: the model, what its layers mark, what its states hold, then the pen-up rule.
const SUMMARY_ORDER = ["arch", "loglik", "none", "layer", "probe", "rule"];
export function inkSummary(sentences) {
  const order = (s) => SUMMARY_ORDER.indexOf(s.kind);
  const leads = sentences.filter((s) => s.lead).sort((a, b) => order(a) - order(b)).map((s) => s.lead);
  return leads.length ? `${leads.join(". ")}.` : "";
}

// A layer whose z~ hardly moves on this ink decides its boundaries by noise around the threshold:
// one sentence per such layer (the top layer has no detector, so no z~).
export const FLAT_SD = 0.06;
export function flatLayerNotes(layers) {
  const notes = [];
  for (const l of layers) {
    if (!l.z_soft || l.z_soft.length < 5) continue;
    const mean = l.z_soft.reduce((a, b) => a + b, 0) / l.z_soft.length;
    const sd = Math.sqrt(l.z_soft.reduce((a, b) => a + (b - mean) ** 2, 0) / l.z_soft.length);
    if (sd < FLAT_SD) notes.push(`Layer ${l.layer}'s z~ stays at ${mean.toFixed(2)} ± ${sd.toFixed(2)} on this ink: `
      + "it hardly moves, so which side of the threshold it falls on says little.");
  }
  return notes;
}

// the two models' mean NLL per point on this ink, and the validation gap where both were measured
export function nllCaption(main, other, mainRes, otherRes) {
  const mean = (a) => {
    const v = a.filter((x) => x !== null && Number.isFinite(x));
    return v.length ? v.reduce((s, x) => s + x, 0) / v.length : null;
  };
  const a = mean(mainRes.nll), b = mean(otherRes.nll);
  let text = `NLL per point on this ink: ${main.name} (grey) ${f2(a)} nats on average, ${other.name} (purple line) ${f2(b)}`;
  if (a != null && b != null) text += a < b ? `; ${main.name} predicts it better (lower is better)`
    : a > b ? `; ${other.name} predicts it better (lower is better)` : "";
  text += ".";
  const la = inkLoglik(main), lb = inkLoglik(other);
  const pa = ((main.metrics || {}).valid || {}).protocol || (main.normalisation || {}).protocol;
  const pb = ((other.metrics || {}).valid || {}).protocol || (other.normalisation || {}).protocol;
  if (la != null && lb != null && pa === pb) {
    text += ` On the validation lines: ${la.toFixed(1)} against ${lb.toFixed(1)} nats per line (log-likelihood, higher is better).`;
  }
  return { text, means: [a, b] };
}

// what the model could not read of the typed text, from chars, unknown and input_spans (api.js)
export function unreadable(res, text) {
  const lowered = new Set(), numbers = new Set(), unknown = new Set(), other = new Set();
  res.chars.forEach((c, t) => {
    const [a, b] = res.input_spans[t];
    const typed = text.slice(a, b);
    if (res.unknown[t]) unknown.add(typed);
    else if (typed === c) return;
    else if (c === "N" && /\d/.test(typed)) numbers.add(typed);
    else if (typed.toLowerCase() === c) lowered.add(typed);
    else if (typed.length) other.add(`${visible(typed)}→${glyph(c)}`);
  });
  const quoted = (x) => (visible(x) === x ? `“${x}”` : visible(x));
  const list = (s, k = 6) => [...s].slice(0, k).map(quoted).join(", ") + (s.size > k ? "…" : "");
  const parts = [];
  if (lowered.size) parts.push(`reads capitals as small letters (${list(lowered)})`);
  if (numbers.size) parts.push(`reads every number as N (${list(numbers, 3)})`);
  if (unknown.size) parts.push(`does not know ${list(unknown)} (shown in red)`);
  if (other.size) parts.push(`reads ${list(other)}`);
  return parts.length ? `The model ${parts.join("; ")}.` : "";
}

// One step of the strips in words, for a screen reader as the keys move it: what is there, and which of
// the first model's layers fire at the threshold (entries as the strips draw them).
export function stepLine(entries, t) {
  const e = entries[0], res = e && e.res;
  if (!res) return "";
  const said = (c) => (c === " " ? "space" : c === "\n" ? "line break" : visible(c));
  const what = res.task === "ink"
    ? `point ${t + 1}, stroke ${res.points[t][2] + 1}${res.pen_up[t] ? ", the pen lifts after it" : ""}`
    : `character ${t + 1}, ${said(res.chars[t])}${res.gold_word_ends[t] ? ", a word ends" : ""}`;
  if (!res.layers.some((l) => l.z)) return `${what}: no boundary detector`;
  const fire = res.layers.filter((l, i) => l.z && e.z(i)[t]).map((l) => `layer ${l.layer}`);
  return `${what}: ${fire.length ? `${fire.join(" and ")} fire${fire.length > 1 ? "" : "s"}` : "no layer fires"}`;
}
