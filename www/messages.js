// Words the playground shows: sampler names, number formats, captions, and the notices for a
// missing WebGPU and for errors (their .reason span is filled in with textContent).

export const NAMES = { ddpm: 'DDPM', ddim: 'DDIM', dpmpp2m: 'DPM-Solver++' };

export function formatMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

export function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
}

/** "DDIM, 50 steps, η = 0, seed 7" for a run lane {name, sampler, steps, eta, variance, seed}. */
export function laneCaption(lane) {
  const detail =
    lane.sampler === 'dpmpp2m'
      ? '2M, no noise added'
      : lane.sampler === 'ddim'
        ? `η = ${lane.eta}`
        : lane.variance === 'fixed_large'
          ? 'variance β_t'
          : 'posterior variance';
  const clip = { off: ', x̂_0 not clipped', clip: ', x̂_0 clipped', recompute: ', x̂_0 clipped and ε̂ recomputed' }[lane.clip] ?? '';
  const start = lane.from ? `x_T ${lane.from}` : `seed ${lane.seed}`;
  const nfe = lane.evaluations === undefined ? '' : ` · ${evaluations(lane.evaluations)}`;
  return `${lane.name}, ${lane.steps} steps, ${detail}${clip}, ${start}${nfe}`;
}

/** "10 network evaluations" (UNet forward passes of a run). */
export function evaluations(n) {
  return `${n} network evaluation${n === 1 ? '' : 's'}`;
}

/**
 * "WebGPU (adapter)" or "the CPU (wasm simd128, 4 workers)": where a loaded engine runs (on the
 * CPU: the build, and the workers it splits a batch over, or why it has none).
 */
export function backendName(info) {
  if (info.backend === 'webgpu') return `WebGPU (${info.adapter ?? 'unnamed adapter'})`;
  const build = info.executor.replace(/^CPU \((.*)\)$/, '$1');
  const threads = info.workers > 0 ? `${info.workers} worker${info.workers === 1 ? '' : 's'}` : `the page's thread${info.workersNote ? `: ${info.workersNote}` : ''}`;
  return `the CPU (${build}, ${threads})`;
}

/**
 * The line under the playground about a loaded model ({model, info} from engine.js getEngine);
 * when cached weights could not be checked against the server, it says so (info.cacheNote).
 */
export function modelSummary({ model, info }) {
  const [c, h, w] = info.sampleShape;
  return (
    `Model ${model}: ${info.parameterCount.toLocaleString()} parameters, ${h}×${w}×${c} images, ` +
    `T = ${info.T}; ${info.cacheNote ?? `weights ${info.fromCache ? 'from the browser cache' : `downloaded (${formatMB(info.bytes)})`}`}; ` +
    `runs on ${backendName(info)}: ${info.reason}.`
  );
}

/**
 * The one-line note for a playground that runs on the CPU where the reader may have expected
 * the GPU (no WebGPU here, or the device was lost), or null.
 */
export function backendNote(info) {
  if (info.backend !== 'cpu') return null;
  if (info.deviceLost) return `The GPU stopped working (the WebGPU device was lost: ${info.deviceLost}); running on the CPU instead. Reload the page to try the GPU again.`;
  if (info.noWebGpu) return `WebGPU is not available here: ${info.noWebGpu}. Running on the CPU instead.`;
  return null;
}

export const NO_WEBGPU_HTML = `
      <h4>This playground was set to run on WebGPU (backend=webgpu), which isn't available here.</h4>
      <p>Reason: <span class="reason"></span></p>
      <p>What you can do:</p>
      <ul>
        <li>Let it run on the CPU instead: set <code>backend="auto"</code> (the default) or <code>backend="cpu"</code> on the element, or <code>backend=cpu</code> in the page's address.</li>
        <li>Use a browser with WebGPU: Chrome or Edge 113 or newer, Safari 26 or newer, or Firefox 141 or newer (Windows; other systems are following).</li>
        <li>Make sure WebGPU is turned on: on Linux, Chrome needs <code>chrome://flags/#enable-unsafe-webgpu</code>; in Firefox check <code>dom.webgpu.enabled</code> in <code>about:config</code>; in older Safari, enable WebGPU under Develop → Feature Flags.</li>
        <li>Update your graphics drivers (browsers turn WebGPU off for blocklisted GPUs or drivers), then reload this page.</li>
      </ul>`;

export const ERROR_HTML = '<h4>Something went wrong</h4><p class="reason"></p>';

export const CRASH_HTML = `<p><span class="reason"></span> <button type="button" class="retry">Try again</button></p>`;

export const DEVICE_LOST_HTML = `
      <h4>The GPU stopped working for this page (the WebGPU device was lost).</h4>
      <p>Reason: <span class="reason"></span></p>
      <p>This happens when the graphics driver resets, the browser's GPU process restarts, or the
      GPU runs out of memory. <button type="button" class="retry">Start the GPU again</button>
      — if it keeps happening, reload the page, close other GPU-heavy tabs, try batch 1, or update
      your graphics drivers.</p>`;
