// The page side of the browser tests: loads the wasm build from ../pkg/ and exposes each test as
// `window.dpRun(name)`, resolving to { ok, detail, data? }. tests/browser/run.mjs drives it.
// Fixtures come from /__fixtures__/<model>/ (tests/fixtures/models/ in the repository).

import init, { Engine, initialNoise } from '../pkg/diffusion_playground.js';
import { parseNpy } from './npy.js';

const params = new URLSearchParams(location.search);
// The adapter architecture the run must get ("" accepts any adapter).
const EXPECT_ADAPTER = params.get('adapter') ?? 'swiftshader';
const TOLERANCE = 1e-3;
// tests/rng.rs `golden_first_values_seed_42`: initial_noise(42, 1, 8) as f32 bits.
const GOLDEN_SEED_42 = [
  0xbeff9a43, 0x3f4d225b, 0xbe98636d, 0xbf7d6295, 0xbe70f271, 0xbdc84f6c, 0xbc87556d, 0xbe651d59,
];
const NEED =
  'Chromium must run with --enable-unsafe-webgpu --enable-features=Vulkan, with the Debian ' +
  'packages chromium, mesa-vulkan-drivers and libvulkan1 installed (cargo xtask setup)';

const ready = init();
const engines = new Map();

async function fetchOk(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
  return r;
}

async function modelFiles(name) {
  const base = `/__fixtures__/${name}/`;
  const config = await (await fetchOk(base + 'config.json')).text();
  const weights = new Uint8Array(await (await fetchOk(base + 'diffusion_pytorch_model.safetensors')).arrayBuffer());
  const sched = await fetch(base + 'scheduler_config.json');
  const scheduler = sched.ok ? await sched.text() : undefined;
  return { config, weights, scheduler };
}

async function engineFor(name) {
  if (!engines.has(name)) {
    const f = await modelFiles(name);
    engines.set(name, await Engine.create(f.config, f.weights, f.scheduler));
  }
  return engines.get(name);
}

function maxAbsDiff(a, b) {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  return { worst, at };
}

function errorText(e) {
  return e instanceof Error ? e.message : String(e);
}

const tests = {
  async adapter() {
    if (!('gpu' in navigator)) return { ok: false, detail: `navigator.gpu is missing: ${NEED}` };
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { ok: false, detail: `navigator.gpu.requestAdapter() gave no adapter: ${NEED}` };
    const i = adapter.info ?? {};
    const desc = `vendor=${i.vendor} architecture=${i.architecture} device=${i.device} description=${i.description}`;
    document.getElementById('adapter').textContent = `adapter: ${desc}`;
    if (EXPECT_ADAPTER && !`${i.architecture} ${i.description}`.toLowerCase().includes(EXPECT_ADAPTER)) {
      return { ok: false, detail: `expected a ${EXPECT_ADAPTER} adapter, got ${desc}` };
    }
    await ready;
    const engine = await engineFor('tiny');
    return { ok: true, detail: `${desc}; engine.adapterInfo() = ${engine.adapterInfo()}` };
  },

  async exact_tiny() {
    return exactness('tiny');
  },
  async exact_cifar_topology() {
    return exactness('cifar_topology');
  },
  async exact_multihead_gray() {
    return exactness('multihead_gray');
  },

  async rng_golden() {
    await ready;
    const got = Array.from(initialNoise(42, 1, 8));
    const bits = got.map((x) => new Uint32Array(new Float32Array([x]).buffer)[0]);
    const bad = bits.findIndex((b, i) => b !== GOLDEN_SEED_42[i]);
    if (bad >= 0) {
      return {
        ok: false,
        detail: `initialNoise(42, 1, 8)[${bad}] bits 0x${bits[bad].toString(16)}, golden 0x${GOLDEN_SEED_42[bad].toString(16)} (values ${got})`,
      };
    }
    const n = 3 * 16 * 16;
    const one = initialNoise(7, 1, n);
    const two = initialNoise(7, 2, n);
    const same = one.every((x, i) => Object.is(x, two[i]));
    if (!same) return { ok: false, detail: 'initialNoise(7, 1, n) is not the first image of initialNoise(7, 2, n)' };
    return { ok: true, detail: `initialNoise(42, 1, 8) matches tests/rng.rs bit for bit; seed 7 is batch-independent` };
  },

  async sampling_ddim() {
    await ready;
    const engine = await engineFor('tiny');
    const [c, h, w] = engine.sampleShape();
    const batch = 2;
    const seed = 7;
    const len = c * h * w;
    const session = engine.createSession(batch);
    const timesteps = Array.from(session.start('ddim', 10, 0, 'fixed_small', seed));
    if (timesteps.length !== 10) return { ok: false, detail: `start gave ${timesteps.length} timesteps: ${timesteps}` };
    // Before any step the sample is x_T, which must be exactly the seeded noise.
    const xT = await session.readTensor('sample');
    const noise = initialNoise(seed, batch, len);
    const d0 = maxAbsDiff(xT, noise);
    if (xT.length !== batch * len || d0.worst !== 0) {
      return { ok: false, detail: `x_T differs from initialNoise(7, 2, ${len}): max |diff| ${d0.worst} at ${d0.at}` };
    }
    const t0 = performance.now();
    for (let i = 0; i < timesteps.length; i++) session.step(i);
    const sample = await session.readTensor('sample');
    const ms = performance.now() - t0;
    if (sample.length !== batch * len) return { ok: false, detail: `readTensor gave ${sample.length} values, want ${batch * len}` };
    if (!sample.every(Number.isFinite)) return { ok: false, detail: 'the sample holds non-finite values' };
    const [gw, gh] = session.gridSize();
    const rgba = await session.readRgba('sample');
    if (rgba.length !== gw * gh * 4) return { ok: false, detail: `readRgba gave ${rgba.length} bytes for a ${gw}x${gh} grid` };
    const levels = new Set();
    let opaque = true;
    for (let p = 0; p < rgba.length; p += 4) {
      levels.add(rgba[p]).add(rgba[p + 1]).add(rgba[p + 2]);
      if (rgba[p + 3] !== 255) opaque = false;
    }
    if (levels.size < 16) return { ok: false, detail: `the RGBA grid looks blank: only ${levels.size} distinct channel values` };
    if (!opaque) return { ok: false, detail: 'the RGBA grid has non-opaque pixels' };
    const canvas = document.getElementById('grid');
    canvas.width = gw;
    canvas.height = gh;
    canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), gw, gh), 0, 0);
    return {
      ok: true,
      detail: `timesteps [${timesteps}], ${ms.toFixed(0)} ms for 10 steps, grid ${gw}x${gh} with ${levels.size} levels`,
      data: { shape: [batch, c, h, w], values: Array.from(sample) },
    };
  },

  async errors() {
    await ready;
    const f = await modelFiles('tiny');
    const problems = [];
    const panicLike = /unreachable|panicked|RuntimeError|wasm-function/i;
    const cases = [
      ['weights cut in half', f.config, f.weights.slice(0, f.weights.length >> 1), /truncat|damag/i],
      ['weights cut inside the header', f.config, f.weights.slice(0, 7), /truncat|damag/i],
      ['config.json not JSON', '{"sample_size": ', f.weights, /config|json/i],
    ];
    const seen = [];
    for (const [label, config, weights, want] of cases) {
      try {
        await Engine.create(config, weights, f.scheduler);
        problems.push(`${label}: Engine.create resolved`);
      } catch (e) {
        const msg = errorText(e);
        seen.push(`${label}: ${e?.name} "${msg}"`);
        if (e?.name !== 'BadCheckpoint') problems.push(`${label}: error name ${e?.name}, wanted BadCheckpoint`);
        if (!want.test(msg)) problems.push(`${label}: message does not match ${want}: "${msg}"`);
        if (panicLike.test(msg)) problems.push(`${label}: message looks like a panic: "${msg}"`);
      }
    }
    const engine = await engineFor('tiny');
    // Caller mistakes are BadInput (the page switches on the name, not the message).
    const session = engine.createSession(1);
    const badInputs = [
      ['timesteps("euler")', () => engine.timesteps('euler', 10, 0, 'fixed_small'), /ddpm|ddim/],
      ['timesteps with 0 steps', () => engine.timesteps('ddim', 0, 0, 'fixed_small'), /between 1 and/],
      ['eta NaN', () => engine.timesteps('ddim', 10, NaN, 'fixed_small'), /eta/],
      ['createSession(0)', () => engine.createSession(0), /batch/],
      ['step() before start()', () => session.step(0), /start\(\)/],
      ['readRgba("noise")', () => session.readRgba('noise'), /sample|x0/],
    ];
    for (const [label, call, want] of badInputs) {
      try {
        await call();
        problems.push(`${label} did not throw`);
      } catch (e) {
        seen.push(`${label}: ${e?.name}`);
        if (e?.name !== 'BadInput') problems.push(`${label}: error name ${e?.name}, wanted BadInput ("${errorText(e)}")`);
        if (!want.test(errorText(e))) problems.push(`${label}: unhelpful message "${errorText(e)}"`);
      }
    }
    session.free();
    // The module must still work after the failures.
    const timesteps = engine.timesteps('ddim', 5, 0, 'fixed_small');
    if (timesteps.length !== 5) problems.push('the engine no longer plans after the errors');
    return problems.length ? { ok: false, detail: problems.join('; ') } : { ok: true, detail: seen.join('; ') };
  },
};

async function exactness(name) {
  await ready;
  const base = `/__fixtures__/${name}/`;
  const input = parseNpy(await (await fetchOk(base + 'input.npy')).arrayBuffer());
  const expected = parseNpy(await (await fetchOk(base + 'expected.npy')).arrayBuffer());
  const { timestep } = await (await fetchOk(base + 'timestep.json')).json();
  const engine = await engineFor(name);
  const t0 = performance.now();
  const out = await engine.forward(input.data, input.shape[0], timestep);
  const ms = performance.now() - t0;
  if (out.length !== expected.data.length) {
    return { ok: false, detail: `output has ${out.length} values, expected.npy ${expected.data.length}` };
  }
  const { worst, at } = maxAbsDiff(out, expected.data);
  const detail = `shape [${input.shape}] t=${timestep}: max |webgpu - diffusers| = ${worst.toExponential(2)} (tolerance ${TOLERANCE}), forward ${ms.toFixed(0)} ms`;
  if (!(worst <= TOLERANCE)) {
    return { ok: false, detail: `${detail}; worst at index ${at}: got ${out[at]}, want ${expected.data[at]}` };
  }
  return { ok: true, detail };
}

function report(name, result) {
  const row = document.querySelector('#results tbody').insertRow();
  row.insertCell().textContent = name;
  const cell = row.insertCell();
  cell.textContent = result.ok ? 'PASS' : 'FAIL';
  cell.className = result.ok ? 'pass' : 'fail';
  row.insertCell().textContent = result.detail;
}

window.dpTestNames = Object.keys(tests);
window.dpRun = async (name) => {
  let result;
  try {
    result = await tests[name]();
  } catch (e) {
    result = { ok: false, detail: `threw: ${errorText(e)}${e && e.stack ? `\n${e.stack}` : ''}` };
  }
  report(name, result);
  return result;
};
window.dpReady = true;
