// Export: one composite image of the whole view (a heading, the text as the chosen layer cuts
// it, the overview and every strip, no cursor), as SVG or as PNG drawn from that SVG.
import { download } from "./page.js";

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const FONT = "font-family=\"system-ui, sans-serif\"";
const MONO = "font-family=\"DejaVu Sans Mono, monospace\"";
const SEG_FILL = ["#e8f0fd", "#fdf1e2", "#e6f5ec"];
const MARK = { hit: "#2e9d5b", false: "#d9822b", miss: "#c0392b" };
const UNKNOWN = "#b3261e";      // a character the model does not know (.unk in the page's CSS)

const MARGIN = 16;              // px around the whole image

// lines of plain text, wrapped to `width` px at about 7 px a character
function paragraph(text, width, y, size = 13, colour = "#1d2330", weight = 400) {
  const perLine = Math.max(20, Math.floor(width / (size * 0.55)));
  const words = text.split(/\s+/), lines = [];
  let line = "";
  for (const w of words) {
    if ((line + " " + w).trim().length > perLine) { lines.push(line); line = w; } else line = (line + " " + w).trim();
  }
  if (line) lines.push(line);
  const svg = lines.map((l, i) => `<text x="0" y="${y + (i + 1) * size * 1.35}" font-size="${size}" font-weight="${weight}" `
    + `${FONT} fill="${colour}">${esc(l)}</text>`);
  return { svg: svg.join(""), height: lines.length * size * 1.35 + 6 };
}

// how many characters the word starting at piece t holds (0 where t is a space or inside a word)
function wordAt(pieces, t) {
  const blank = (p) => !p || !p.trim();
  if (blank(pieces[t]) || (t > 0 && !blank(pieces[t - 1]))) return 0;
  let len = 0;
  for (let u = t; u < pieces.length && !blank(pieces[u]); u += 1) len += pieces[u].length;
  return len;
}

// the text, wrapped between words as the page wraps it, each character on its segment's colour,
// firings and misses as bars
function readingSvg(reading, width, y) {
  const cw = 8.4, lh = 19, per = Math.max(20, Math.floor(width / cw));
  const out = [];
  let col = 0, row = 0;
  reading.pieces.forEach((piece, t) => {
    const text = piece === "\n" ? "⏎" : piece, word = wordAt(reading.pieces, t);
    const wrap = col + text.length > per || (col > 0 && word <= per && col + word > per);
    if (wrap || (t > 0 && reading.pieces[t - 1] === "\n")) { col = 0; row += 1; }
    const x = col * cw, top = y + row * lh;
    out.push(`<rect x="${x}" y="${top}" width="${text.length * cw}" height="${lh - 3}" fill="${SEG_FILL[reading.seg[t] % 3]}"/>`);
    const colour = reading.unknown[t] ? ` fill="${UNKNOWN}"` : "";             // as the page shows it: red
    if (text.trim()) out.push(`<text x="${x}" y="${top + 12}" font-size="13" ${MONO}${colour}>${esc(text)}</text>`);
    const m = reading.marks[t];
    if (m) out.push(`<rect x="${x + text.length * cw - 2}" y="${top}" width="2" height="${lh - 3}" fill="${MARK[m]}"/>`);
    col += text.length;
  });
  return { svg: out.join(""), height: (row + 1) * lh + 6 };
}

// an HTML strip of cells (the Segments rows) drawn again in SVG at the same geometry
function cellsSvg(el, y) {
  const box = el.getBoundingClientRect(), out = [];
  let h = 0;
  for (const row of el.querySelectorAll(".row")) {
    const r = row.getBoundingClientRect(), label = row.querySelector("b");
    const top = y + (r.top - box.top);
    out.push(`<text x="${label.getBoundingClientRect().width - 6}" y="${top + 14}" font-size="11" text-anchor="end" ${FONT}>${esc(label.textContent)}</text>`);
    for (const c of row.querySelectorAll(".cells span")) {
      const b = c.getBoundingClientRect(), x = b.left - box.left, style = getComputedStyle(c);
      out.push(`<rect x="${x}" y="${top}" width="${b.width}" height="${b.height}" fill="${style.backgroundColor}"/>`);
      if (c.classList.contains("end")) out.push(`<rect x="${x + b.width - 2}" y="${top}" width="2" height="${b.height}" fill="#c0392b"/>`);
      if (c.textContent.trim()) out.push(`<text x="${x + b.width / 2}" y="${top + b.height * 0.72}" font-size="${style.fontSize}" text-anchor="middle" ${MONO} fill="${style.color}">${esc(c.textContent)}</text>`);
    }
    h = r.bottom - box.top;
  }
  return { svg: out.join(""), height: h + 4 };
}

// a strip's heading: the <h3> just before it, where it has one
const headingOf = (el) => (el.previousElementSibling && el.previousElementSibling.tagName === "H3" ? el.previousElementSibling : null);

// the words of a heading's key (its <small>) as the page shows them: what is hidden here (the other
// setting's words) and what is said of the screen alone (zoom, tap, the window's outline) left out
function keyText(el) {
  const small = el && (el.matches("small, .legend") ? el : el.querySelector("small"));
  if (!small || !small.checkVisibility()) return "";
  const walk = document.createTreeWalker(small, NodeFilter.SHOW_TEXT);
  let out = "";
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const p = n.parentElement;
    if (p.closest(".mouse-only, .touch-only, .screen-only") || !p.checkVisibility()) continue;
    out += n.textContent;
  }
  return out.replace(/\s+/g, " ").replace(/[\s·]+$/, "").trim();
}

// samples with their labels in rows, wrapped to `width`: [{sample(x, top) -> svg, label}]
function swatchesSvg(items, y, width) {
  const out = [];
  let x = 0, row = 0;
  for (const { sample, label } of items) {
    const w = 16 + label.length * 6.5 + 14;
    if (x > 0 && x + w > width) { x = 0; row += 1; }
    const top = y + row * 20;
    out.push(sample(x, top), `<text x="${x + 16}" y="${top + 13}" font-size="11" ${FONT}>${esc(label)}</text>`);
    x += w;
  }
  return out.length ? { svg: out.join(""), height: (row + 1) * 20 } : null;
}

// the words after a key element, up to the next "·"
const labelAfter = (k) => ((k.nextSibling && k.nextSibling.textContent) || "").split("·")[0].trim();

// the colour keys in a strip's heading (the operations' boxes, the layers' line colours) as swatches
function keysSvg(heading, y, width) {
  const keys = heading ? [...heading.querySelectorAll(".op-key, .l1, .l2, .l3")] : [];
  return swatchesSvg(keys.map((k) => {
    const box = k.classList.contains("op-key"), style = getComputedStyle(k);
    return { label: box ? labelAfter(k) : k.textContent.trim(),
             sample: (x, top) => `<rect x="${x}" y="${top + (box ? 3 : 8)}" width="12" height="${box ? 12 : 3}" `
               + `fill="${box ? style.backgroundColor : style.getPropertyValue("--line-colour").trim()}"/>` };
  }), y, width);
}

// the text's key (the legend beneath it): each mark drawn as on the page, a character's box with its
// bar, then its words; after them the legend's last words (what the background is)
function legendSvg(legend, y, width) {
  const keys = [...legend.querySelectorAll(".key")].filter((k) => k.checkVisibility());
  const marks = swatchesSvg(keys.map((k) => {
    const mark = Object.keys(MARK).find((m) => k.classList.contains(`m-${m}`));
    return { label: labelAfter(k),
             sample: (x, top) => `<rect x="${x}" y="${top + 1}" width="10" height="15" fill="${SEG_FILL[0]}"/>`
               + `<rect x="${x + 8}" y="${top + 1}" width="2" height="15" fill="${MARK[mark]}"/>` };
  }), y, width) || { svg: "", height: 0 };
  const rest = paragraph(keyText(legend).split("·").at(-1).trim(), width, y + marks.height - 4, 12, "#4a5263");
  return { svg: marks.svg + rest.svg, height: marks.height + rest.height };
}

// the HTML axis labels (views/ruler.js), at the same places
function rulerSvg(el, y) {
  const box = el.getBoundingClientRect(), size = getComputedStyle(el).fontSize;
  const out = [...el.querySelectorAll("span")].map((s) => {
    const r = s.getBoundingClientRect();
    return `<text x="${r.left + r.width / 2 - box.left}" y="${y + 13}" font-size="${size}" text-anchor="middle" ${MONO}>${esc(s.textContent)}</text>`;
  });
  return { svg: out.join(""), height: box.height };
}

async function plotSvg(el, y) {
  const { width, height } = el.layout;
  const shapes = (el.layout.shapes || []).filter((s) => s.name !== "cursor");     // the image has no cursor
  const url = await Plotly.toImage({ data: el.data, layout: { ...el.layout, shapes } }, { format: "svg", width, height });
  const svg = decodeURIComponent(url.slice(url.indexOf(",") + 1)).replace(/^<\?xml[^>]*>/, "");
  return { svg: `<g transform="translate(0 ${y})">${svg}</g>`, height };
}

// parts: [{title?, lines?: [string], reading?: {...}, legend?: el, plot?: el, cells?: el}]; width in px
// (a strip's heading gives its colour keys, or its key's words)
export async function composite(parts, width) {
  const body = [];
  let y = 8;
  for (const part of parts) {
    if (part.title && !(part.cells && part.cells.classList.contains("ruler"))) {
      const t = paragraph(part.title, width, y, 14, "#1d2330", 600);
      body.push(t.svg);
      y += t.height + 2;
    }
    for (const line of part.lines || []) { const p = paragraph(line, width, y); body.push(p.svg); y += p.height; }
    const strip = part.plot || part.cells, heading = strip && headingOf(strip);
    const keys = keysSvg(part.plot && heading, y, width), words = !keys && heading ? keyText(heading) : "";
    if (keys) { body.push(keys.svg); y += keys.height; }
    else if (words) { const p = paragraph(words, width, y, 12, "#4a5263"); body.push(p.svg); y += p.height; }
    let piece = null;
    if (part.reading) piece = readingSvg(part.reading, width, y);
    else if (part.legend) piece = legendSvg(part.legend, y, width);
    else if (part.cells) piece = part.cells.classList.contains("ruler") ? rulerSvg(part.cells, y) : cellsSvg(part.cells, y);
    else if (part.plot && part.plot.layout) piece = await plotSvg(part.plot, y);
    if (piece) { body.push(piece.svg); y += piece.height + 6; }
  }
  const w = width + 2 * MARGIN, h = Math.ceil(y + 8 + MARGIN);
  return { width: w, height: h, svg: `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" `
    + `width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><rect width="100%" height="100%" fill="#fff"/>`
    + `<g transform="translate(${MARGIN} ${MARGIN})">${body.join("")}</g></svg>` };
}

function toPng({ svg, width, height }, scale = 2) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    const url = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
    img.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = width * scale; canvas.height = height * scale;
      const ctx = canvas.getContext("2d");
      ctx.scale(scale, scale);
      ctx.drawImage(img, 0, 0);
      URL.revokeObjectURL(url);
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the PNG could not be made"))), "image/png");
    };
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("the image could not be drawn")); };
    img.src = url;
  });
}

// one file: name.svg or name.png; returns what was saved
export async function exportView(parts, width, format, name) {
  const image = await composite(parts, width);
  const blob = format === "svg" ? new Blob([image.svg], { type: "image/svg+xml" }) : await toPng(image);
  download(`${name}.${format}`, blob);
  return { name: `${name}.${format}`, type: blob.type, bytes: blob.size, width: image.width, height: image.height };
}
