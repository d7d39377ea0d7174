// Pixels: (N, C, H, W) tensors in [-1, 1] to RGBA grids exactly as the engine's GPU kernel
// makes them, and RGBA grids onto small canvases that CSS scales up with crisp pixels.

/** Near-square grid of `n` images: cols = ceil(sqrt(n)), as the engine lays out its grids. */
export function gridShape(n) {
  let cols = 1;
  while (cols * cols < n) cols++;
  return { cols, rows: Math.ceil(n / cols) };
}

function byte(v) {
  // round-half-even like the WGSL `round`, on (clamped) v/2 + 1/2 scaled to 0..255
  const x = Math.min(1, Math.max(0, v * 0.5 + 0.5)) * 255;
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 === 1 ? r - 1 : r;
}

/**
 * RGBA grid of a (n, c, h, w) tensor: one channel is grey, three or more are RGB (first three),
 * two are RG. Returns {rgba, width, height}.
 */
export function tensorToRgba(x, n, c, h, w) {
  const { cols, rows } = gridShape(n);
  const width = cols * w;
  const height = rows * h;
  const rgba = new Uint8ClampedArray(width * height * 4);
  const plane = h * w;
  for (let img = 0; img < n; img++) {
    const ox = (img % cols) * w;
    const oy = Math.floor(img / cols) * h;
    const base = img * c * plane;
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const p = y * w + xx;
        const r = byte(x[base + p]);
        const g = c >= 2 ? byte(x[base + plane + p]) : r;
        const b = c >= 3 ? byte(x[base + 2 * plane + p]) : c === 2 ? 0 : r;
        const o = ((oy + y) * width + ox + xx) * 4;
        rgba[o] = r;
        rgba[o + 1] = g;
        rgba[o + 2] = b;
        rgba[o + 3] = 255;
      }
    }
  }
  return { rgba, width, height };
}

/** Draws an RGBA grid onto `canvas` at its native size (CSS does the crisp upscaling). */
export function drawRgba(canvas, rgba, width, height) {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext('2d');
  const data = rgba instanceof Uint8ClampedArray ? rgba : new Uint8ClampedArray(rgba);
  ctx.putImageData(new ImageData(data, width, height), 0, 0);
  canvas.classList.remove('empty');
}

/** Inferno colour stops (dark purple-black to pale yellow) for maps of non-negative values. */
const INFERNO = [
  [0, 0, 4],
  [87, 16, 110],
  [188, 55, 84],
  [249, 142, 9],
  [252, 255, 164],
];

/**
 * RGBA of a map of non-negative values (e.g. a per-pixel std): 0 is the darkest colour, `top`
 * and above the brightest, on the inferno scale.
 */
export function stdMapRgba(values, top) {
  const rgba = new Uint8ClampedArray(values.length * 4);
  const last = INFERNO.length - 1;
  for (let i = 0; i < values.length; i++) {
    const f = Math.min(1, Math.max(0, values[i] / top)) * last;
    const j = Math.min(last - 1, Math.floor(f));
    const u = f - j;
    for (let ch = 0; ch < 3; ch++) rgba[i * 4 + ch] = INFERNO[j][ch] + u * (INFERNO[j + 1][ch] - INFERNO[j][ch]);
    rgba[i * 4 + 3] = 255;
  }
  return rgba;
}
