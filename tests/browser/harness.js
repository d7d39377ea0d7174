// The page side of the browser tests: loads the wasm build from ../pkg/ and exposes each test as
// `window.dpRun(name)`, resolving to { ok, detail, data? }. tests/browser/run.mjs drives it.
// Fixtures come from /__fixtures__/<model>/ (tests/fixtures/models/ in the repository). The
// engine's two backends are tested alike: tests named *_cpu run Engine.create(..., "cpu") (the
// CPU executor in wasm), the others "webgpu" (the WGSL kernels). With `?simd=relaxed` the
// page loads the relaxed-SIMD build (pkg/diffusion_playground_relaxed_bg.wasm, the one
// www/engine.js gives browsers that validate relaxed SIMD) and offers only the CPU tests.

import init, { Engine, debugCounters, initialNoise, rgbaGrid, slerpNoise } from '../pkg/diffusion_playground.js';
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

const SIMD = params.get('simd') === 'relaxed' ? 'relaxed' : 'simd128';
const ready = init({
  module_or_path: new URL(
    SIMD === 'relaxed' ? '../pkg/diffusion_playground_relaxed_bg.wasm' : '../pkg/diffusion_playground_bg.wasm',
    import.meta.url,
  ),
});
// The executor the CPU engine must report for this build.
const CPU_EXECUTOR = SIMD === 'relaxed' ? 'CPU (wasm simd128 + relaxed-simd FMA)' : 'CPU (wasm simd128)';
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

/** The engine of fixture `name` on `backend` ("webgpu" | "cpu" | "auto"), made once. */
async function engineFor(name, backend = 'webgpu') {
  const id = `${backend} ${name}`;
  if (!engines.has(id)) {
    const f = await modelFiles(name);
    engines.set(id, await Engine.create(f.config, f.weights, f.scheduler, backend));
  }
  return engines.get(id);
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
    return exactness('tiny', 'webgpu');
  },
  async exact_cifar_topology() {
    return exactness('cifar_topology', 'webgpu');
  },
  async exact_multihead_gray() {
    return exactness('multihead_gray', 'webgpu');
  },
  async exact_tiny_cpu() {
    return exactness('tiny', 'cpu');
  },
  async exact_cifar_topology_cpu() {
    return exactness('cifar_topology', 'cpu');
  },
  async exact_multihead_gray_cpu() {
    return exactness('multihead_gray', 'cpu');
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
    return samplingDdim('webgpu');
  },
  // Issue 15: DDIM inversion against diffusers, DPM-Solver++, slerpNoise and inpainting.
  async solvers() {
    return beyondSampling('webgpu');
  },
  async solvers_cpu() {
    return beyondSampling('cpu');
  },
  async simd_build_cpu() {
    const { executor } = (await engineFor('tiny', 'cpu')).backendInfo();
    return executor === CPU_EXECUTOR
      ? { ok: true, detail: `the ${SIMD} build runs ${executor}` }
      : { ok: false, detail: `the ${SIMD} build runs ${executor}, want ${CPU_EXECUTOR}` };
  },
  // What the page's CPU workers rely on: a session made as images 1.. of a batch samples what
  // a whole-batch session does for those images, and rgbaGrid draws joined parts as
  // readRgba draws the whole.
  async batch_parts_cpu() {
    const engine = await engineFor('tiny', 'cpu');
    const [c, h, w] = Array.from(engine.sampleShape());
    const run = async (session) => {
      session.start('ddpm', 4, 0, 'fixed_small', 3);
      for (let i = 0; i < 4; i++) session.step(i);
      return session.readTensor('sample');
    };
    const wholeSession = engine.createSession(3);
    const whole = await run(wholeSession);
    const head = await run(engine.createSession(1, 0));
    const tail = await run(engine.createSession(2, 1));
    const joined = new Float32Array(whole.length);
    joined.set(head, 0);
    joined.set(tail, head.length);
    const { worst } = maxAbsDiff(joined, whole);
    if (!(worst <= 1e-5)) return { ok: false, detail: `parts (1 + 2 images) vs the whole batch of 3: max diff ${worst}` };
    const grid = rgbaGrid(joined, 3, c, h, w);
    const want = await wholeSession.readRgba('sample');
    const same = grid.length === want.length && grid.every((v, i) => v === want[i]);
    if (!same) return { ok: false, detail: 'rgbaGrid of the joined parts differs from the whole session\'s readRgba' };
    let bad = null;
    try {
      rgbaGrid(joined.subarray(1), 3, c, h, w);
    } catch (e) {
      bad = e;
    }
    if (bad?.name !== 'BadInput') return { ok: false, detail: `rgbaGrid with a value missing: ${bad ? `${bad.name}: ${bad.message}` : 'no error'}` };
    return { ok: true, detail: `DDPM 4 steps: parts equal the whole batch (max diff ${worst.toExponential(1)}); rgbaGrid matches readRgba; a short input: ${bad.message}` };
  },
  async sampling_ddim_cpu() {
    return samplingDdim('cpu');
  },

  async backends() {
    await ready;
    const problems = [];
    const cpu = await engineFor('tiny', 'cpu');
    const c = cpu.backendInfo();
    if (c.backend !== 'cpu' || cpu.backend() !== 'cpu' || c.reason !== 'asked for by backend=cpu') problems.push(`cpu engine: ${JSON.stringify(c)}`);
    if (c.adapter !== null || cpu.adapterInfo() !== undefined || cpu.deviceLost() !== undefined) problems.push(`the cpu engine has a GPU: ${JSON.stringify(c)}`);
    const session = cpu.createSession(2);
    if (session.backend() !== 'cpu') problems.push(`a cpu engine's session runs on ${session.backend()}`);
    session.free();
    const gpu = (await engineFor('tiny', 'webgpu')).backendInfo();
    if (gpu.backend !== 'webgpu' || !gpu.adapter || !gpu.executor.startsWith('WebGPU: ')) problems.push(`webgpu engine: ${JSON.stringify(gpu)}`);
    // auto (also when the argument is left out) times both and takes the faster.
    const f = await modelFiles('tiny');
    const auto = (await Engine.create(f.config, f.weights, f.scheduler)).backendInfo();
    const faster = auto.webgpuMs < auto.cpuMs && !auto.webgpuAtLeast ? 'webgpu' : 'cpu';
    if (!(auto.cpuMs > 0 && auto.webgpuMs > 0)) problems.push(`auto did not time both: ${JSON.stringify(auto)}`);
    if (auto.backend !== faster) problems.push(`auto took ${auto.backend}: ${JSON.stringify(auto)}`);
    if (!/^faster in a probe: cpu \d+ ms vs webgpu (over )?\d+ ms/.test(auto.reason)) problems.push(`auto's reason: ${auto.reason}`);
    // Lifetimes: a WebGPU engine keeps no parameter copy in wasm memory (the CPU one does); a
    // session's and an engine's GPU buffers are destroyed when they are freed.
    const counts = () => debugCounters();
    const base = counts();
    const moved = await Engine.create(f.config, f.weights, f.scheduler, 'webgpu');
    moved.createSession(1).free(); // the device's one placeholder buffer for absent inputs stays with it
    const withEngine = counts();
    if (moved.debugCounters().hostParameterBytes !== 0) problems.push(`a webgpu engine keeps ${moved.debugCounters().hostParameterBytes} bytes of parameters`);
    if (cpu.debugCounters().hostParameterBytes < 4 * cpu.parameterCount()) problems.push(`the cpu engine's parameters: ${cpu.debugCounters().hostParameterBytes} bytes for ${cpu.parameterCount()}`);
    if (moved.parameterCount() !== cpu.parameterCount()) problems.push(`parameterCount after release: ${moved.parameterCount()} vs ${cpu.parameterCount()}`);
    if (withEngine.gpuDevices !== base.gpuDevices + 1) problems.push(`a webgpu engine made ${withEngine.gpuDevices - base.gpuDevices} devices: ${JSON.stringify(base)} -> ${JSON.stringify(withEngine)}`);
    if (!(withEngine.gpuBuffers > base.gpuBuffers && withEngine.gpuBytes > base.gpuBytes)) problems.push(`weights uploaded but counters ${JSON.stringify(base)} -> ${JSON.stringify(withEngine)}`);
    const s4 = moved.createSession(4);
    const withSession = counts();
    if (!(withSession.gpuBuffers > withEngine.gpuBuffers)) problems.push(`a session made no buffers: ${JSON.stringify(withSession)}`);
    s4.free();
    const sessionFreed = counts();
    if (sessionFreed.gpuBuffers !== withEngine.gpuBuffers || sessionFreed.gpuBytes !== withEngine.gpuBytes) problems.push(`after session.free(): ${JSON.stringify(sessionFreed)} vs ${JSON.stringify(withEngine)}`);
    moved.free();
    const engineFreed = counts();
    if (engineFreed.gpuDevices !== base.gpuDevices) problems.push(`after engine.free() its device is alive: ${JSON.stringify(engineFreed)} vs ${JSON.stringify(base)}`);
    if (engineFreed.gpuBuffers !== base.gpuBuffers || engineFreed.gpuBytes !== base.gpuBytes) problems.push(`after engine.free(): ${JSON.stringify(engineFreed)} vs ${JSON.stringify(base)}`);
    return problems.length
      ? { ok: false, detail: problems.join('; ') }
      : { ok: true, detail: `auto: ${auto.backend} (${auto.reason}); cpu executor ${c.executor}; webgpu ${gpu.executor}` };
  },

  async errors() {
    await ready;
    const f = await modelFiles('tiny');
    const problems = [];
    const panicLike = /unreachable|panicked|RuntimeError|wasm-function/i;
    // Issue 16 on wasm32, whose usize is 32 bits: hostile sizes are refused by the same checks
    // as natively (tests/limits.rs), before any allocation, naming the field.
    const configWith = (edit) => {
      const c = JSON.parse(f.config);
      edit(c);
      // 2^62 is written out in digits: JSON.stringify would round it to 4611686018427388000.
      return JSON.stringify(c).replace('"@2^62@"', '4611686018427387904');
    };
    const levels = (n) => (c) => {
      c.block_out_channels = Array(n).fill(8);
      c.down_block_types = Array(n).fill('DownBlock2D');
      c.up_block_types = Array(n).fill('UpBlock2D');
    };
    const headerLength = f.weights.slice();
    new DataView(headerLength.buffer).setBigUint64(0, 1n << 63n, true);
    // A NaN in the first stored tensor's second value (offsets are relative to the data).
    const nanWeight = f.weights.slice();
    const view = new DataView(nanWeight.buffer);
    const headerLen = Number(view.getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(nanWeight.subarray(8, 8 + headerLen)));
    const [firstName, firstInfo] = Object.entries(header).find(([k]) => k !== '__metadata__');
    view.setFloat32(8 + headerLen + firstInfo.data_offsets[0] + 4, NaN, true);
    const longSchedule = JSON.stringify({ ...JSON.parse(f.scheduler), num_train_timesteps: 2 ** 25 });
    const cases = [
      ['weights cut in half', f.config, f.weights.slice(0, f.weights.length >> 1), /truncat|damag/i],
      ['weights cut inside the header', f.config, f.weights.slice(0, 7), /truncat|damag/i],
      ['config.json not JSON', '{"sample_size": ', f.weights, /config|json/i],
      ['sample_size 46340', configWith((c) => { c.sample_size = 46340; }), f.weights, /sample_size.*46340.*1 to 4096/],
      ['sample_size 2^31', configWith((c) => { c.sample_size = 2 ** 31; }), f.weights, /sample_size.*2147483648.*1 to 4096/],
      ['block_out_channels [2^62, ...]', configWith((c) => { c.block_out_channels = ['@2^62@', 24, 24]; }), f.weights, /block_out_channels\[0\].*4611686018427387904.*1 to 4096/],
      ['65 levels', configWith(levels(65)), f.weights, /65 levels.*1 to 8/],
      ['header length 2^63', f.config, headerLength, /9223372036854775808/],
      ['a NaN weight', f.config, nanWeight, new RegExp(`${firstName.replace(/\./g, '\\.')}.*non-finite.*index 1`)],
      ['num_train_timesteps 2^25', f.config, f.weights, /num_train_timesteps.*33554432/, longSchedule],
    ];
    const seen = [];
    for (const [label, config, weights, want, scheduler = f.scheduler] of cases) {
      try {
        await Engine.create(config, weights, scheduler);
        problems.push(`${label}: Engine.create resolved`);
      } catch (e) {
        const msg = errorText(e);
        seen.push(`${label}: ${e?.name} "${msg}"`);
        if (e?.name !== 'BadCheckpoint') problems.push(`${label}: error name ${e?.name}, wanted BadCheckpoint`);
        if (!want.test(msg)) problems.push(`${label}: message does not match ${want}: "${msg}"`);
        if (panicLike.test(msg)) problems.push(`${label}: message looks like a panic: "${msg}"`);
      }
    }
    // An unknown backend is the caller's mistake, and the message lists the accepted ones.
    try {
      await Engine.create(f.config, f.weights, f.scheduler, 'gpu');
      problems.push('Engine.create(..., "gpu") resolved');
    } catch (e) {
      seen.push(`backend "gpu": ${e?.name} "${errorText(e)}"`);
      if (e?.name !== 'BadInput') problems.push(`backend "gpu": error name ${e?.name}, wanted BadInput`);
      if (!/"gpu"/.test(errorText(e)) || !/"auto".*"webgpu".*"cpu"/.test(errorText(e))) problems.push(`backend "gpu": message "${errorText(e)}" does not name it and the accepted values`);
    }
    const engine = await engineFor('tiny');
    const cpu = await engineFor('tiny', 'cpu');
    // Caller mistakes are BadInput (the page switches on the name, not the message).
    const session = engine.createSession(1);
    const cpuSession = cpu.createSession(1);
    // A mask of `n` ones whose value 17 is `odd`.
    const ones = (n, odd = 1) => new Float32Array(n).fill(1).map((v, i) => (i === 17 ? odd : v));
    const badInputs = [
      ['timesteps("euler")', () => engine.timesteps('euler', 10, 0, 'fixed_small'), /ddpm|ddim/],
      ['timesteps with 0 steps', () => engine.timesteps('ddim', 0, 0, 'fixed_small'), /between 1 and/],
      ['eta NaN', () => engine.timesteps('ddim', 10, NaN, 'fixed_small'), /eta/],
      ['createSession(0)', () => engine.createSession(0), /batch/],
      ['a webgpu session as part of a batch', () => engine.createSession(1, 1), /only on the CPU/],
      ['step() before start()', () => session.step(0), /start\(\)/],
      ['readRgba("noise")', () => session.readRgba('noise'), /sample|x0/],
      ['cpu createSession(0)', () => cpu.createSession(0), /batch/],
      ['cpu step() before start()', () => cpuSession.step(0), /start\(\)/],
      ['cpu forward with a short x', () => cpu.forward(new Float32Array(5), 1, 10), /values/],
      ['cpu forward at t = NaN', () => cpu.forward(new Float32Array(3 * 16 * 16), 1, NaN), /timestep/],
      // Issue 16: sizes and ranges are refused before anything is allocated, never a trap.
      ['createSession(1025)', () => engine.createSession(1025), /batch size 1025.*1 to 1024/],
      ['cpu createSession(1025)', () => cpu.createSession(1025), /batch size 1025.*1 to 1024/],
      ['cpu createSession(1, 1024): images past 1024', () => cpu.createSession(1, 1024), /at most 1024/],
      ['cpu createSession(1, 2^32 - 1)', () => cpu.createSession(1, 0xffffffff), /at most 1024/],
      ['start() with 0 steps', () => session.start('ddim', 0, 0, 'fixed_small', 1), /between 1 and/],
      ['start() with T + 1 steps', () => session.start('ddpm', 1001, 0, 'fixed_small', 1), /between 1 and.*1000/],
      ['start() with eta NaN', () => session.start('ddim', 10, NaN, 'fixed_small', 1), /eta/],
      ['cpu start() with eta 2', () => cpuSession.start('ddim', 10, 2, 'fixed_small', 1), /eta/],
      ['cpu start() with 0 steps', () => cpuSession.start('ddpm', 0, 0, 'fixed_small', 1), /between 1 and/],
      ['forward with a short x', () => engine.forward(new Float32Array(5), 1, 10), /values/],
      ['forward with batch 0', () => engine.forward(new Float32Array(0), 0, 10), /batch size 0/],
      ['cpu forward with batch 1025', () => cpu.forward(new Float32Array(5), 1025, 10), /batch size 1025/],
      ['cpu forward at t = -1', () => cpu.forward(new Float32Array(3 * 16 * 16), 1, -1), /timestep.*0 <= t < 1000/],
      ['cpu forward at t = T', () => cpu.forward(new Float32Array(3 * 16 * 16), 1, 1000), /timestep.*0 <= t < 1000/],
      ['forward at t = Infinity', () => engine.forward(new Float32Array(3 * 16 * 16), 1, Infinity), /timestep/],
      ['initialNoise(batch 0)', () => initialNoise(1, 0, 8), /batch.*1 to 1024/],
      ['initialNoise(batch 1025)', () => initialNoise(1, 1025, 8), /batch.*1 to 1024/],
      ['initialNoise of 2^32 floats', () => initialNoise(1, 1024, 1 << 22), /floats/],
      ['initialNoise of 0 floats', () => initialNoise(1, 1, 0), /floats/],
      ['rgbaGrid of no images', () => rgbaGrid(new Float32Array(0), 0, 3, 16, 16), /image grid/],
      ['rgbaGrid of 2^64 values', () => rgbaGrid(new Float32Array(4), 65536, 65536, 65536, 65536), /image grid/],
      ['rgbaGrid with a value too many', () => rgbaGrid(new Float32Array(3 * 16 * 16 + 1), 1, 3, 16, 16), /values/],
      // Issue 17: the clamp of x_0 is a choice; unknown names and ones the sampler lacks are refused.
      ['timesteps with clip "sometimes"', () => engine.timesteps('ddim', 10, 0, 'fixed_small', 'sometimes'), /clipping.*"recompute"/],
      ['start() dpmpp2m with clip "recompute"', () => session.start('dpmpp2m', 10, 0, 'fixed_small', 1, 'recompute'), /does not apply/],
      ['cpu start() ddpm with clip "recompute"', () => cpuSession.start('ddpm', 10, 0, 'fixed_small', 1, 'recompute'), /does not apply/],
      // Issue 15: inpainting's inputs are checked before anything changes.
      ['setInpaint with a short known image', () => session.setInpaint(new Float32Array(5), ones(16 * 16), 1), /known image has 5 values but 768/],
      ['cpu setInpaint with a short known image', () => cpuSession.setInpaint(new Float32Array(769), ones(16 * 16), 1), /known image has 769 values but 768/],
      ['setInpaint with a mask of 255 values', () => session.setInpaint(new Float32Array(768), ones(255), 1), /mask has 255 values but 256/],
      ['cpu setInpaint with a mask value of 2', () => cpuSession.setInpaint(new Float32Array(768), ones(256, 2), 1), /mask value is 2: use numbers in \[0, 1\]/],
      ['setInpaint with a mask value of -0.5', () => session.setInpaint(new Float32Array(768), ones(256, -0.5), 1), /mask value is -0\.5/],
      ['cpu setInpaint with a NaN mask value', () => cpuSession.setInpaint(new Float32Array(768), ones(256, NaN), 1), /mask value is NaN/],
      ['setInpaint with resample 0', () => session.setInpaint(new Float32Array(768), ones(256), 0), /resample is 0: use 1 \(no resampling\) to 100/],
      ['cpu setInpaint with resample 101', () => cpuSession.setInpaint(new Float32Array(768), ones(256), 101), /resample is 101/],
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
    // A started run refuses a step it does not have, and still runs the ones it has.
    const steps = Array.from(cpuSession.start('ddim', 2, 0, 'fixed_small', 3));
    try {
      cpuSession.step(5);
      problems.push('step(5) of a 2-step run did not throw');
    } catch (e) {
      if (e?.name !== 'BadInput' || !/0\.\.2/.test(errorText(e))) problems.push(`step(5) of 2: ${e?.name} "${errorText(e)}"`);
    }
    for (let i = 0; i < steps.length; i++) cpuSession.step(i);
    const x0 = await cpuSession.readTensor('sample');
    if (x0.length !== 3 * 16 * 16 || !x0.every(Number.isFinite)) problems.push('the CPU session no longer samples after the errors');
    session.free();
    cpuSession.free();
    // The module must still work after the failures.
    const timesteps = engine.timesteps('ddim', 5, 0, 'fixed_small');
    if (timesteps.length !== 5) problems.push('the engine no longer plans after the errors');
    if (initialNoise(42, 1, 8).length !== 8) problems.push('initialNoise no longer works after the errors');
    return problems.length ? { ok: false, detail: problems.join('; ') } : { ok: true, detail: seen.join('; ') };
  },
};

/** DDIM 10 steps, eta 0, seed 7, batch 2 on the tiny fixture; `data` is the final tensor. */
async function samplingDdim(backend) {
  await ready;
  const engine = await engineFor('tiny', backend);
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
  const canvas = document.getElementById(`grid-${backend}`);
  canvas.width = gw;
  canvas.height = gh;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), gw, gh), 0, 0);
  return {
    ok: true,
    detail: `${backend}: timesteps [${timesteps}], ${ms.toFixed(0)} ms for 10 steps, grid ${gw}x${gh} with ${levels.size} levels`,
    data: { shape: [batch, c, h, w], values: Array.from(sample) },
  };
}

/** The issue-15 calls of the wasm API on the tiny fixture, on `backend`. */
async function beyondSampling(backend) {
  await ready;
  const engine = await engineFor('tiny', backend);
  const [c, h, w] = engine.sampleShape();
  const len = c * h * w;
  const seen = [];
  // DDIM inversion: start, then setSample(x0), then every step; x is x_T (diffusers' loop over
  // DDIMInverseScheduler, tests/fixtures/gen_solver_fixtures.py; the tiny model's own config).
  const x0 = parseNpy(await (await fetchOk('/__solvers__/ddim_inverse/x0.npy')).arrayBuffer());
  const want = parseNpy(await (await fetchOk('/__solvers__/ddim_inverse/final.npy')).arrayBuffer());
  const batch = x0.shape[0];
  const session = engine.createSession(batch);
  const ts = Array.from(session.start('ddim-inverse', 10, 0, 'fixed_small', 0));
  if (ts.join() !== '0,100,200,300,400,500,600,700,800,900') return { ok: false, detail: `ddim-inverse timesteps ${ts}` };
  session.setSample(x0.data);
  for (let i = 0; i < ts.length; i++) session.step(i);
  const xT = await session.readTensor('sample');
  const inv = maxAbsDiff(xT, want.data);
  if (!(inv.worst <= TOLERANCE)) return { ok: false, detail: `inverted x_T vs diffusers: max |diff| ${inv.worst} at ${inv.at}` };
  if (session.networkEvaluations() !== 10) return { ok: false, detail: `networkEvaluations ${session.networkEvaluations()} after 10 inverse steps` };
  seen.push(`ddim-inverse x_T vs diffusers ${inv.worst.toExponential(2)}`);
  // Decoding it: start a DDIM run, then setSample(x_T).
  session.start('ddim', 10, 0, 'fixed_small', 0);
  session.setSample(xT);
  for (let i = 0; i < 10; i++) session.step(i);
  const back = await session.readTensor('sample');
  let err = 0;
  for (let i = 0; i < back.length; i++) err += Math.abs(back[i] - x0.data[i]);
  seen.push(`reconstruction mean |err| ${(err / back.length).toFixed(3)} (random-weight model)`);

  // DPM-Solver++(2M): the tiny config names "leading" spacing, so N = 8 uses T // 9 = 111.
  const dts = Array.from(engine.timesteps('dpmpp2m', 8, 0, 'fixed_small'));
  if (dts.join() !== '888,777,666,555,444,333,222,111') return { ok: false, detail: `dpmpp2m timesteps ${dts}` };
  session.start('dpmpp2m', 8, 0, 'fixed_small', 5);
  for (let i = 0; i < 8; i++) session.step(i);
  const dpm = await session.readTensor('sample');
  if (!dpm.every(Number.isFinite)) return { ok: false, detail: 'dpmpp2m gave non-finite values' };
  if (session.networkEvaluations() !== 8) return { ok: false, detail: `dpmpp2m networkEvaluations ${session.networkEvaluations()}` };
  seen.push('dpmpp2m 8 steps, 8 evaluations');

  // slerpNoise: exact ends, a BadInput for different lengths.
  const a = initialNoise(1, 1, len);
  const b = initialNoise(2, 1, len);
  if (maxAbsDiff(slerpNoise(a, b, 0), a).worst !== 0 || maxAbsDiff(slerpNoise(a, b, 1), b).worst !== 0) {
    return { ok: false, detail: 'slerpNoise(a, b, 0 | 1) is not a | b' };
  }
  try {
    slerpNoise(a, b.subarray(1), 0.5);
    return { ok: false, detail: 'slerpNoise accepted tensors of different lengths' };
  } catch (e) {
    if (e.name !== 'BadInput') return { ok: false, detail: `slerpNoise's error is ${e.name}: ${e.message}` };
  }

  // Inpainting: keep the left half of x0 (mask 1), fill the right (mask 0), 2 resamplings.
  const mask = new Float32Array(h * w).map((_, i) => (i % w < w / 2 ? 1 : 0));
  session.setInpaint(x0.data, mask, 2);
  try {
    session.start('dpmpp2m', 5, 0, 'fixed_small', 3);
    return { ok: false, detail: 'an inpainting run started with dpmpp2m' };
  } catch (e) {
    if (e.name !== 'BadInput') return { ok: false, detail: `inpainting with dpmpp2m: ${e.name}: ${e.message}` };
  }
  session.start('ddim', 5, 0, 'fixed_small', 3);
  for (let i = 0; i < 5; i++) session.step(i);
  const filled = await session.readTensor('sample');
  if (session.networkEvaluations() !== 9) return { ok: false, detail: `inpainting networkEvaluations ${session.networkEvaluations()}, want (5 - 1) * 2 + 1` };
  let known = 0;
  let hole = 0;
  for (let i = 0; i < filled.length; i++) {
    const d = Math.abs(filled[i] - x0.data[i]);
    if (mask[i % (h * w)] === 1) known = Math.max(known, d);
    else hole += d / (filled.length / 2);
  }
  if (!(known <= 1e-6)) return { ok: false, detail: `inpainting moved a known pixel by ${known}` };
  if (!(hole > 0.1)) return { ok: false, detail: `inpainting left the hole at x0 (mean |diff| ${hole})` };
  seen.push(`inpainting: known pixels max |x - x0| ${known}, hole mean ${hole.toFixed(3)}`);
  session.clearInpaint();
  session.start('dpmpp2m', 5, 0, 'fixed_small', 3);
  session.free();
  return { ok: true, detail: `${backend}: ${seen.join('; ')}` };
}

async function exactness(name, backend) {
  await ready;
  const base = `/__fixtures__/${name}/`;
  const input = parseNpy(await (await fetchOk(base + 'input.npy')).arrayBuffer());
  const expected = parseNpy(await (await fetchOk(base + 'expected.npy')).arrayBuffer());
  const { timestep } = await (await fetchOk(base + 'timestep.json')).json();
  const engine = await engineFor(name, backend);
  const t0 = performance.now();
  const out = await engine.forward(input.data, input.shape[0], timestep);
  const ms = performance.now() - t0;
  if (out.length !== expected.data.length) {
    return { ok: false, detail: `output has ${out.length} values, expected.npy ${expected.data.length}` };
  }
  const { worst, at } = maxAbsDiff(out, expected.data);
  const detail = `shape [${input.shape}] t=${timestep}: max |${backend} - diffusers| = ${worst.toExponential(2)} (tolerance ${TOLERANCE}), forward ${ms.toFixed(0)} ms`;
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

// The relaxed build differs only in the CPU kernels' GEMM: its run repeats the CPU tests.
window.dpTestNames = Object.keys(tests).filter((n) => SIMD === 'simd128' || n.endsWith('_cpu'));
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
