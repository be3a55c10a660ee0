// Strokes in a compact, URL-safe form: integer points, each stroke delta-encoded.
export function pack(strokes) {
  return strokes.map((s) => {
    const out = [];
    let px = 0, py = 0;
    for (const [x, y] of s) {
      const ix = Math.round(x), iy = Math.round(y);
      out.push(ix - px, iy - py);
      px = ix; py = iy;
    }
    return out;
  });
}

export function unpack(packed) {
  return packed.map((d) => {
    const s = [];
    let x = 0, y = 0;
    for (let i = 0; i + 1 < d.length; i += 2) { x += d[i]; y += d[i + 1]; s.push([x, y]); }
    return s;
  });
}
