// Small example images drawn procedurally at the model's resolution, for the forward-process
// view (no external assets). Each painter maps (u, v) in [0, 1)^2 to RGB in [0, 1].

const PAINTERS = {
  Smiley(u, v) {
    const bg = [0.35, 0.6, 0.95];
    const dx = u - 0.5;
    const dy = v - 0.5;
    const r = Math.hypot(dx, dy);
    if (r > 0.42) return bg;
    if (r > 0.38) return [0.45, 0.3, 0.05];
    const eye = (ex) => Math.hypot(u - ex, v - 0.38) < 0.06;
    if (eye(0.36) || eye(0.64)) return [0.15, 0.1, 0.05];
    const mouth = Math.hypot(dx, dy + 0.02);
    if (v > 0.55 && mouth > 0.2 && mouth < 0.27) return [0.55, 0.15, 0.1];
    return [1.0, 0.83, 0.2];
  },
  Heart(u, v) {
    const x = (u - 0.5) * 2.6;
    const y = (0.45 - v) * 2.6;
    const f = (x * x + y * y - 1) ** 3 - x * x * y * y * y;
    return f <= 0 ? [0.9, 0.15, 0.25] : [0.98, 0.92, 0.94];
  },
  Checkerboard(u, v) {
    const on = (Math.floor(u * 4) + Math.floor(v * 4)) % 2 === 0;
    return on ? [0.95, 0.95, 0.95] : [0.1, 0.12, 0.2];
  },
  Sunset(u, v) {
    const sun = Math.hypot(u - 0.5, v - 0.62) < 0.2;
    if (v > 0.72) return [0.1, 0.2 + 0.2 * (v - 0.72), 0.45];
    if (sun) return [1.0, 0.85, 0.3];
    return [0.95, 0.35 + 0.5 * v, 0.3 + 0.3 * (1 - v)];
  },
};

export const EXAMPLE_NAMES = Object.keys(PAINTERS);

/** The named example as a (1, c, h, w) tensor in [-1, 1] (grey for one channel). */
export function exampleImage(name, c, h, w) {
  const paint = PAINTERS[name];
  if (!paint) throw new Error(`no example image named ${name}`);
  const out = new Float32Array(c * h * w);
  const plane = h * w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Average a 3x3 supersample so tiny resolutions still read as shapes.
      const acc = [0, 0, 0];
      for (let sy = 0; sy < 3; sy++) {
        for (let sx = 0; sx < 3; sx++) {
          const rgb = paint((x + (sx + 0.5) / 3) / w, (y + (sy + 0.5) / 3) / h);
          for (let k = 0; k < 3; k++) acc[k] += rgb[k] / 9;
        }
      }
      const p = y * w + x;
      if (c === 1) {
        out[p] = (0.299 * acc[0] + 0.587 * acc[1] + 0.114 * acc[2]) * 2 - 1;
      } else {
        for (let k = 0; k < c; k++) out[k * plane + p] = (k < 3 ? acc[k] : 0.5) * 2 - 1;
      }
    }
  }
  return out;
}
