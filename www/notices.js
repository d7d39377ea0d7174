// The playground's notices: the box above the images that says why nothing can be sampled
// (WebGPU asked for but missing, a load error, a GPU device lost while loading) and what the
// reader can do, and the x_T preview drawn on the CPU when backend=webgpu finds no WebGPU, so
// the canvases are never left blank.
//
// The notice texts are in messages.js; each has a .reason span filled in with textContent.

import { fetchSampleShape, loadWasm } from './engine.js';
import { CRASH_HTML, DEVICE_LOST_HTML, ERROR_HTML, NO_WEBGPU_HTML } from './messages.js';
import { drawRgba, tensorToRgba } from './render.js';

const HTML = { 'no-webgpu': NO_WEBGPU_HTML, error: ERROR_HTML, 'device-lost': DEVICE_LOST_HTML, crash: CRASH_HTML };

/** Shows notice `kind` (no-webgpu | error | device-lost | crash) in `root` with `reason`; returns its element. */
export function showNotice(root, kind, reason) {
  const n = root.querySelector('.notice');
  n.innerHTML = HTML[kind];
  n.querySelector('.reason').textContent = reason;
  n.hidden = false;
  return n;
}

export function hideNotice(root) {
  const n = root.querySelector('.notice');
  n.hidden = true;
  n.replaceChildren();
}

/**
 * Without WebGPU, x_T (computed on the CPU by the wasm module) still shows what sampling would
 * start from. `lanes` are the UI lanes ({canvas, caption, placeholder}); `settings` the current
 * {model, seed, batch}. If even that fails, the lanes say that no image can be made here.
 */
export async function drawNoisePreview(lanes, { model, seed, batch }) {
  try {
    const [wasm, [c, h, w]] = await Promise.all([loadWasm(), fetchSampleShape(model)]);
    const xT = wasm.initialNoise(seed, batch, c * h * w);
    const g = tensorToRgba(xT, batch, c, h, w);
    for (const lane of lanes) {
      drawRgba(lane.canvas, g.rgba, g.width, g.height);
      lane.caption.textContent = `x_T for seed ${seed}: the noise sampling would start from (backend=webgpu: sampling needs WebGPU).`;
      lane.canvas.setAttribute('aria-label', `Random noise x_T for seed ${seed}; no image can be sampled without WebGPU`);
    }
  } catch (e) {
    for (const lane of lanes) {
      lane.canvas.classList.add('empty');
      lane.placeholder.textContent = 'No image: this browser cannot run the model (see above).';
      lane.caption.textContent = '';
    }
    console.warn(`diffusion-playground: no x_T preview either (${e.message || e})`);
  }
}
