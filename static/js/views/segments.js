// The text drawn again, once per layer, cut into the segments that layer's boundaries make.
import { glyph } from "../plot.js";

function row(label, chars, z, unknown) {
  const div = document.createElement("div");
  div.className = "row";
  const b = document.createElement("b");
  b.textContent = label;
  div.appendChild(b);
  let seg = null, k = 0;
  chars.forEach((c, i) => {
    if (!seg) {
      seg = document.createElement("span");
      seg.className = `seg ${k % 2 ? "odd" : "even"} open`;
      seg.dataset.start = i;
      div.appendChild(seg);
    }
    const ch = document.createElement("span");
    ch.textContent = c === "\n" ? glyph(c) : c;
    if (unknown[i]) ch.className = "unk";
    ch.dataset.t = i;
    seg.appendChild(ch);
    if (z[i] === 1) {          // the boundary falls after this character
      seg.classList.remove("open");
      seg = null;
      k += 1;
    }
  });
  return div;
}

export function render(el, res) {
  el.replaceChildren();
  const layers = res.layers.filter((l) => l.z).slice().reverse();      // top layer first, layer 1 last
  for (const layer of layers) el.appendChild(row(`layer ${layer.layer}`, res.chars, layer.z, res.unknown));
  el.appendChild(row("gold", res.chars, res.gold_word_ends, res.unknown));
}
