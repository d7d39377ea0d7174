// PNG downloads: the current grid, and the filmstrip (x_t and predicted x_0 rows of ~10 steps,
// one pair of rows per sampler), upscaled with crisp pixels so the files are viewable.

const LABEL_H = 16;
const GAP = 4;

/** A copy of `rgba` (width x height) scaled by an integer factor with nearest-neighbour pixels. */
function scaled(rgba, width, height, scale) {
  const src = document.createElement('canvas');
  src.width = width;
  src.height = height;
  src.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
  const out = document.createElement('canvas');
  out.width = width * scale;
  out.height = height * scale;
  const ctx = out.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, 0, 0, out.width, out.height);
  return out;
}

/** Integer upscale so the longer side reaches at least `target` pixels. */
function scaleFor(width, height, target) {
  return Math.max(1, Math.ceil(target / Math.max(width, height)));
}

/** Saves a canvas as a PNG file named `filename`. */
export function saveCanvas(canvas, filename) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => {
      if (!blob) {
        reject(new Error('the browser could not encode the PNG'));
        return;
      }
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = filename;
      a.rel = 'noopener';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      resolve(blob);
    }, 'image/png');
  });
}

/** The grid (RGBA, width x height) as an upscaled canvas. */
export function gridCanvas(rgba, width, height) {
  return scaled(rgba, width, height, scaleFor(width, height, 512));
}

/**
 * The filmstrip as one canvas: for each lane {name, frames: [{label, sample, x0}]}, a row of x_t
 * and a row of predicted x_0, each frame labelled with its step.
 */
export function filmstripCanvas(lanes, width, height) {
  const scale = scaleFor(width, height, 96);
  const fw = width * scale;
  const fh = height * scale;
  const cols = Math.max(1, ...lanes.map((l) => l.frames.length));
  const headW = 64;
  const rowsPerLane = 2;
  const out = document.createElement('canvas');
  out.width = headW + cols * (fw + GAP);
  out.height = lanes.length * rowsPerLane * (fh + LABEL_H + GAP) + GAP;
  const ctx = out.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#222';
  ctx.font = '11px system-ui, sans-serif';
  let y = GAP;
  for (const lane of lanes) {
    for (const view of ['sample', 'x0']) {
      ctx.fillText(`${lane.name}`, 4, y + LABEL_H + fh / 2 - 6);
      ctx.fillText(view === 'sample' ? 'x_t' : 'pred. x_0', 4, y + LABEL_H + fh / 2 + 8);
      lane.frames.forEach((f, k) => {
        const x = headW + k * (fw + GAP);
        ctx.fillText(f.t === null ? f.label : `t=${f.t}`, x, y + LABEL_H - 4);
        ctx.drawImage(scaled(f[view], width, height, scale), x, y + LABEL_H);
      });
      y += fh + LABEL_H + GAP;
    }
  }
  return out;
}

/** Canvases placed side by side (for the two samplers of side-by-side mode). */
export function sideBySide(canvases) {
  if (canvases.length === 1) return canvases[0];
  const gap = 8;
  const out = document.createElement('canvas');
  out.width = canvases.reduce((w, c) => w + c.width, 0) + gap * (canvases.length - 1);
  out.height = Math.max(...canvases.map((c) => c.height));
  const ctx = out.getContext('2d');
  let x = 0;
  for (const c of canvases) {
    ctx.drawImage(c, x, 0);
    x += c.width + gap;
  }
  return out;
}

/** The grid PNG of the shown lanes' canvases (side by side), and its file name. */
export function gridPng(laneCanvases, s) {
  const canvases = laneCanvases.map((c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    return gridCanvas(data.data, c.width, c.height);
  });
  const name = s.side ? `${(s.compare ?? 'ddpm-ddim').replace('-', '-vs-')}-${s.steps}-seed${s.seed}.png` : `${s.sampler}-${s.steps}-seed${s.seed}.png`;
  return { canvas: sideBySide(canvases), name };
}

/** The filmstrip PNG of a run's lanes ({name, recorder}), and its file name. */
export function filmstripPng(lanes, s) {
  const { width, height } = lanes[0].recorder;
  const canvas = filmstripCanvas(
    lanes.map((l) => ({ name: l.name, frames: l.recorder.filmFrames() })),
    width,
    height,
  );
  return { canvas, name: `filmstrip-${s.side ? (s.compare ?? 'ddpm-ddim').replace('-', '-vs-') : s.sampler}-${s.steps}-seed${s.seed}.png` };
}
