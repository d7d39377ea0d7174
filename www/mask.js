// The inpainting mask: H x W cells, 1 = painted (to be filled), 0 = kept. The engine takes the
// opposite (1 = keep): engineMask() turns it over. In a URL it is compact text: "b" + the bits
// packed in bytes as base64url, or "r" + the lengths of alternating runs (starting with kept
// cells) in base 36 joined by "."; whichever is shorter. A mask whose text is longer than
// MAX_URL_MASK stays out of the URL.

export const MAX_URL_MASK = 200;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function toBase64url(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = [18, 12, 6, 0].map((s) => B64[(n >> s) & 63]);
    out += chars.slice(0, Math.min(4, bytes.length - i + 1)).join('');
  }
  return out;
}

function fromBase64url(text) {
  const bytes = [];
  for (let i = 0; i < text.length; i += 4) {
    const chunk = text.slice(i, i + 4);
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const v = k < chunk.length ? B64.indexOf(chunk[k]) : 0;
      if (v < 0) return null;
      n = (n << 6) | v;
    }
    for (let k = 0; k < chunk.length - 1; k++) bytes.push((n >> (16 - 8 * k)) & 255);
  }
  return Uint8Array.from(bytes);
}

/** The compact text of `mask` (Uint8Array of 0/1, length H*W). */
export function encodeMask(mask) {
  const bytes = new Uint8Array(Math.ceil(mask.length / 8));
  for (let i = 0; i < mask.length; i++) if (mask[i]) bytes[i >> 3] |= 128 >> (i & 7);
  const bits = `b${toBase64url(bytes)}`;
  const runs = [];
  let value = 0;
  let n = 0;
  for (const m of mask) {
    if ((m ? 1 : 0) === value) n++;
    else {
      runs.push(n);
      value ^= 1;
      n = 1;
    }
  }
  runs.push(n);
  const rle = `r${runs.map((r) => r.toString(36)).join('.')}`;
  return rle.length < bits.length ? rle : bits;
}

/** The mask of `text` for `cells` cells (Uint8Array), or null when it does not fit. */
export function decodeMask(text, cells) {
  const s = String(text ?? '');
  const out = new Uint8Array(cells);
  if (s[0] === 'b') {
    const bytes = fromBase64url(s.slice(1));
    if (!bytes || bytes.length !== Math.ceil(cells / 8)) return null;
    for (let i = 0; i < cells; i++) out[i] = (bytes[i >> 3] >> (7 - (i & 7))) & 1;
    return out;
  }
  if (s[0] === 'r') {
    let at = 0;
    let value = 0;
    for (const part of s.slice(1).split('.')) {
      const n = parseInt(part, 36);
      if (!/^[0-9a-z]+$/.test(part) || at + n > cells) return null;
      out.fill(value, at, at + n);
      at += n;
      value ^= 1;
    }
    return at === cells ? out : null;
  }
  return null;
}

/** The text for the URL, or null when it is longer than MAX_URL_MASK (or nothing is painted). */
export function urlMask(mask) {
  if (!mask.some((m) => m)) return null;
  const text = encodeMask(mask);
  return text.length <= MAX_URL_MASK ? text : null;
}

/** Paints a disc of `radius` cells around (x, y) into `mask` (w x h) with `value`. */
export function paintDisc(mask, w, h, x, y, radius, value = 1) {
  const r2 = radius * radius;
  for (let yy = Math.max(0, Math.floor(y - radius)); yy <= Math.min(h - 1, Math.ceil(y + radius)); yy++) {
    for (let xx = Math.max(0, Math.floor(x - radius)); xx <= Math.min(w - 1, Math.ceil(x + radius)); xx++) {
      if ((xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= r2) mask[yy * w + xx] = value;
    }
  }
}

/** The engine's mask (Float32Array, 1 = keep) for a painted mask (1 = fill). */
export function engineMask(mask) {
  return Float32Array.from(mask, (m) => (m ? 0 : 1));
}
