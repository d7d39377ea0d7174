// An image from the reader (an uploaded PNG or JPEG) as a model input: decoded by the browser,
// downscaled to the model's size by averaging (a box filter over each target pixel's area),
// put on white where transparent, and turned into a (1, C, H, W) tensor in [-1, 1] with the
// model's channel count (grey for one channel, zeros past the third).

/** `rgba` (sw x sh) averaged down (or up, nearest) to w x h: Uint8ClampedArray RGBA. */
export function resizeRgba(rgba, sw, sh, w, h) {
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor((y * sh) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * sh) / h));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor((x * sw) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * sw) / w));
      const acc = [0, 0, 0, 0];
      for (let yy = y0; yy < y1; yy++) {
        for (let xx = x0; xx < x1; xx++) {
          const p = (yy * sw + xx) * 4;
          const a = rgba[p + 3];
          // Premultiplied, so transparent pixels do not darken the average.
          for (let k = 0; k < 3; k++) acc[k] += rgba[p + k] * a;
          acc[3] += a;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const q = (y * w + x) * 4;
      for (let k = 0; k < 3; k++) out[q + k] = acc[3] ? Math.round(acc[k] / acc[3]) : 0;
      out[q + 3] = Math.round(acc[3] / n);
    }
  }
  return out;
}

/** RGBA (w x h) composited on white as a (1, c, h, w) Float32Array in [-1, 1]. */
export function rgbaToTensor(rgba, w, h, c) {
  const plane = w * h;
  const out = new Float32Array(c * plane);
  for (let p = 0; p < plane; p++) {
    const a = rgba[p * 4 + 3] / 255;
    const rgb = [0, 1, 2].map((k) => (rgba[p * 4 + k] / 255) * a + (1 - a));
    if (c === 1) out[p] = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) * 2 - 1;
    else for (let k = 0; k < c; k++) out[k * plane + p] = k < 3 ? rgb[k] * 2 - 1 : 0;
  }
  return out;
}

/**
 * A File or Blob as the model's input, (1, c, h, w). Rejects with a message that names the
 * file when the browser cannot decode it.
 */
export async function fileToTensor(file, c, h, w) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (e) {
    throw new Error(`“${file.name ?? 'the file'}” could not be read as an image (${e?.message || e}); choose a PNG or JPEG file.`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close?.();
  return rgbaToTensor(resizeRgba(data, canvas.width, canvas.height, w, h), w, h, c);
}
