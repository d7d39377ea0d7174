// Unit tests of the page's plain modules (www/url-state.js, controls.js, frames.js,
// weights-cache.js, messages.js, run-loop.js, backend-choice.js, view-gate.js, panels.js,
// anatomy-text.js, branch-run.js) in Node, with no browser and no server, and of the README's
// embedding snippets against the code that writes them:
//
//   node tests/page/unit.mjs                 # all of them
//   node tests/page/unit.mjs --only queue    # tests whose name has "queue"
//
// One line per test, then "N passed, M failed"; exit status 1 on any failure. What needs a DOM
// or WebGPU is tested in the browser (tests/page/run.mjs).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, assert, runTests } from './harness.mjs';

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('unit: the clipping choice parses, round-trips only when not the checkpoint\'s, and fits each lane\'s sampler', async () => {
  const u = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert(u.parseParams('clip=recompute').clip === 'recompute' && u.parseParams('clip=OFF').clip === 'off', 'parse');
    assert(u.parseParams('clip=sometimes').clip === undefined, 'accepted a bad clip');
    assert(!u.toParams({ ...u.DEFAULTS }).has('clip'), 'the default is written');
    assert(u.toParams({ ...u.DEFAULTS, clip: 'off' }).get('clip') === 'off', 'off is not written');
    assert(u.RUN_KEYS.includes('clip'), 'a clip change does not start a run');
    assert(u.laneClip('ddim', 'recompute') === 'recompute' && u.laneClip('ddpm', 'recompute') === 'clip', 'ddim/ddpm');
    assert(u.laneClip('dpmpp2m', 'clip') === 'checkpoint' && u.laneClip('ddim', undefined) === 'checkpoint', 'dpmpp2m/absent');
    const snip = u.embedSnippets({ ...u.DEFAULTS, clip: 'off' }, 'https://x/diffusion-playground.js', 'https://x/');
    assert(/clip="off"/.test(snip.element), snip.element);
  } finally {
    console.warn = warn;
  }
});

test('unit: url-state parses, validates and round-trips settings', async () => {
  const u = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);
  const warn = console.warn;
  console.warn = () => {};
  try {
    const s = u.parseParams('sampler=ddpm&steps=7&eta=0.3&seed=123&batch=4&variance=fixed_large&model=models/tiny&side=1&view=sample');
    assert(s.sampler === 'ddpm' && s.steps === 7 && s.eta === 0.3 && s.seed === 123 && s.batch === 4, JSON.stringify(s));
    assert(s.variance === 'fixed_large' && s.model === 'models/tiny' && s.side === true && s.view === 'sample', JSON.stringify(s));
    const back = u.parseParams(u.toParams({ ...u.DEFAULTS, ...s }).toString());
    assert(JSON.stringify(back) === JSON.stringify(s), `round trip: ${JSON.stringify(back)} vs ${JSON.stringify(s)}`);
    const bad = u.parseParams('sampler=euler&steps=0&eta=2&seed=-1&batch=3&model=../../etc&variance=x');
    assert(Object.keys(bad).length === 0, `invalid values kept: ${JSON.stringify(bad)}`);
    assert(u.parseParams('model=https://evil.example/m').model === undefined, 'accepted an absolute model URL');
    const seed = u.randomSeed();
    assert(Number.isInteger(seed) && seed >= 0 && seed <= u.MAX_SEED, `seed ${seed}`);
    const snip = u.embedSnippets({ ...u.DEFAULTS, ...s }, 'https://a.example/diffusion-playground.js', 'https://a.example/');
    assert(snip.element.includes('<script type="module" src="https://a.example/diffusion-playground.js">'), snip.element);
    assert(/sampler="ddpm" steps="7" eta="0.3" seed="123" batch="4" variance="fixed_large" model="models\/tiny" side-by-side controls="compact"/.test(snip.element), snip.element);
    const src = snip.iframe.match(/src="([^"]+)"/)[1].replace(/&amp;/g, '&');
    assert(src.startsWith('https://a.example/embed.html?') && !/&(?!amp;)/.test(snip.iframe.match(/src="([^"]+)"/)[1]), snip.iframe);
    const fromIframe = u.parseParams(new URL(src).search.slice(1));
    assert(fromIframe.steps === 7 && fromIframe.side === true && fromIframe.model === 'models/tiny', src);
  } finally {
    console.warn = warn;
  }
});

test('unit: failures are triaged by the engine error name, never by the message', async () => {
  const { triage, WebGpuUnavailable } = await import(pathToFileURL(path.join(ROOT, 'www/engine.js')).href);
  const err = (name, message) => Object.assign(new Error(message), { name });
  // Messages that would fool a text match: the name alone decides.
  const cases = [
    [err('DeviceLost', 'x'), undefined, 'device-lost', /^x$/],
    [err('Internal', 'mapping failed'), 'Destroyed: gone', 'device-lost', /device was lost \(Destroyed: gone\); mapping failed/],
    [err('NoWebGPU', 'no adapter'), undefined, 'no-webgpu', /no adapter/],
    [new WebGpuUnavailable('navigator.gpu is missing'), undefined, 'no-webgpu', /^navigator\.gpu is missing$/],
    [err('OutOfMemory', 'use a smaller batch'), undefined, 'error', /^Not enough GPU memory for these settings: use a smaller batch$/],
    [err('BadInput', 'eta is NaN'), undefined, 'error', /^These settings cannot run: eta is NaN$/],
    [err('BadCheckpoint', 'the device was lost adapter'), undefined, 'error', /^the device was lost adapter$/],
    [err('Internal', 'no WebGPU adapter refused to create a device'), undefined, 'error', /^no WebGPU/],
    [new Error('HTTP 404'), undefined, 'error', /^HTTP 404$/],
  ];
  for (const [e, lost, notice, message] of cases) {
    const t = triage(e, lost);
    assert(t.notice === notice, `${e.name} (lost ${lost}): notice ${t.notice}, wanted ${notice}`);
    assert(message.test(t.message), `${e.name}: message "${t.message}" does not match ${message}`);
  }
});

test('unit: frame recorder keeps at most ~100 frames and ~10 filmstrip frames', async () => {
  const { FrameRecorder } = await import(pathToFileURL(path.join(ROOT, 'www/frames.js')).href);
  const { evenly } = await import(pathToFileURL(path.join(ROOT, 'www/run-loop.js')).href);
  assert(JSON.stringify(evenly(5, 10)) === '[0,1,2,3,4]', `evenly(5,10) = ${evenly(5, 10)}`);
  assert(JSON.stringify(evenly(1000, 1)) === '[999]', 'evenly(1000,1)');
  const e = evenly(1000, 10);
  assert(e.length === 10 && e[0] === 0 && e[9] === 999, `evenly(1000,10) = ${e}`);
  const ts = Array.from({ length: 1000 }, (_, i) => 999 - i);
  const r = new FrameRecorder(ts, 16, 16);
  const kept = ts.map((_, i) => i).filter((i) => r.wants(i));
  assert(kept.length <= 110 && kept.length >= 100, `kept ${kept.length} of 1000`);
  assert(r.film.length === 10 && r.film.every((i) => r.wants(i)), 'film frames must be recorded');
  const big = new FrameRecorder(ts, 1024, 1024); // 8 MiB per frame: the memory budget limits it
  assert(ts.filter((_, i) => big.wants(i)).length <= 20, 'large grids must keep fewer frames');
  const small = new FrameRecorder([9, 5, 1], 16, 16);
  assert([0, 1, 2].every((i) => small.wants(i)), 'short runs keep every step');
});

test('unit: the frame budget wins over the filmstrip (256x256 at batch 16)', async () => {
  const { FrameRecorder, BUDGET_BYTES } = await import(pathToFileURL(path.join(ROOT, 'www/frames.js')).href);
  const ts = Array.from({ length: 50 }, (_, i) => 980 - 20 * i);
  const frameBytes = (w, h, stateLen = 0) => 2 * w * h * 4 + 4 * stateLen;
  // A 4x4 grid of 256x256 images: 8 MiB of RGBA per frame, 20 MiB with the batch's floats.
  for (const stateLen of [0, 16 * 3 * 256 * 256]) {
    const r = new FrameRecorder(ts, 1024, 1024, { stateLen });
    const kept = ts.map((_, i) => i).filter((i) => r.wants(i));
    const bytes = (kept.length + 1) * frameBytes(1024, 1024, stateLen); // + x_T
    assert(bytes <= BUDGET_BYTES, `state ${stateLen}: ${kept.length} steps + x_T = ${(bytes / 2 ** 20).toFixed(0)} MiB > budget`);
    assert(kept.includes(ts.length - 1), 'the last step must be kept');
    assert(r.film.length >= 1 && r.film.length <= kept.length && r.film.every((i) => r.wants(i)), `film ${r.film} not within kept ${kept}`);
    // The scrubber works on what is kept: x_T at 0, the last step at 1, every frame in between.
    r.addInitial('xT');
    for (const i of kept) r.add(i, `s${i}`, `x${i}`);
    assert(r.atFraction(0).i === -1 && r.atFraction(1).i === ts.length - 1, 'scrubber ends');
    const seen = new Set([0, 0.25, 0.5, 0.75, 1].map((f) => r.atFraction(f).i));
    assert(seen.size === Math.min(5, kept.length + 1), `scrubbing reaches ${[...seen]}`);
    assert(r.filmFrames().length === r.film.length, 'filmstrip frames');
  }
  // Larger than the budget on its own: x_T and the last step are all that is kept.
  const huge = new FrameRecorder(ts, 4096, 4096);
  assert(JSON.stringify(ts.map((_, i) => i).filter((i) => huge.wants(i))) === '[49]', 'only the last step of a huge grid');
  assert(JSON.stringify(huge.film) === '[49]', `huge film ${huge.film}`);
});

test('unit: run queue never overlaps runs and starts only the newest request', async () => {
  const { RunQueue } = await import(pathToFileURL(path.join(ROOT, 'www/run-loop.js')).href);
  const q = new RunQueue();
  const log = [];
  let active = 0;
  const job = (name, steps) => async (isCurrent) => {
    active++;
    assert(active === 1, 'two runs overlapped');
    log.push(`start ${name}`);
    for (let i = 0; i < steps; i++) {
      await new Promise((r) => setTimeout(r, 5));
      if (!isCurrent()) {
        log.push(`cancel ${name} at ${i}`);
        active--;
        return false;
      }
    }
    log.push(`done ${name}`);
    active--;
    return true;
  };
  const a = q.request(job('a', 100));
  await new Promise((r) => setTimeout(r, 12));
  const b = q.request(job('b', 100));
  const c = q.request(job('c', 100));
  const d = q.request(job('d', 3));
  const results = await Promise.all([a, b, c, d]);
  assert(JSON.stringify(results) === JSON.stringify([false, undefined, undefined, true]), `results ${JSON.stringify(results)}`);
  assert(log.join(', ').match(/^start a, cancel a at \d, start d, done d$/), `log: ${log.join(', ')}`);
});

test('unit: runLanes sends a pipelined session its next step before this one is drawn, never before its reads', async () => {
  const { runLanes } = await import(pathToFileURL(path.join(ROOT, 'www/run-loop.js')).href);
  let outstanding = 0;
  let stepsWhileReading = 0;
  const fake = (name, pipelined, log) => {
    let state = -1;
    return {
      pipelined,
      start: () => [30, 20, 10],
      readTensor: async () => new Float32Array([state]),
      step(i) {
        log.push(`${name} step ${i}`);
        if (outstanding > 0) stepsWhileReading++;
        state = i;
      },
      readRgba(view) {
        // The value is taken when the read is sent, as a worker answers reads in order.
        log.push(`${name} read ${view}`);
        const at = state;
        outstanding++;
        return new Promise((resolve) =>
          setTimeout(() => {
            outstanding--;
            resolve(`${view}@${at}`);
          }, 1),
        );
      },
    };
  };
  const lane = (name, session, keepAll) => ({ name, session, sampler: 'ddim', steps: 3, eta: 0, variance: 'fixed_small', seed: 1, recorder: { wants: () => keepAll } });
  for (const pipelined of [true, false]) {
    stepsWhileReading = 0;
    const log = [];
    const lanes = [lane('a', fake('a', pipelined, log), true), lane('b', fake('b', pipelined, log), false)];
    const frames = [];
    const ok = await runLanes(lanes, {
      isCurrent: () => true,
      view: () => 'sample',
      onStart: () => {},
      onStep: (l, i, f) => frames.push(`${l.name}${i}:${f.sample}${f.x0 ? `,${f.x0}` : ''}`),
    });
    assert(ok, 'the run did not finish');
    assert(frames.join(' ') === 'a0:sample@0,x0@0 b0:sample@0 a1:sample@1,x0@1 b1:sample@1 a2:sample@2,x0@2 b2:sample@2', `${pipelined}: frames ${frames}`);
    for (const n of ['a', 'b']) {
      const steps = log.filter((e) => e.startsWith(`${n} step`));
      assert(steps.join() === `${n} step 0,${n} step 1,${n} step 2`, `${pipelined}: each step once, in order: ${steps}`);
    }
    assert(log.slice(0, 4).join() === 'a step 0,a read sample,a read x0,b step 0', `${pipelined}: ${log.slice(0, 4)}`);
    // Pipelined: every step after the first goes out while the previous step's reads are in flight.
    assert(pipelined ? stepsWhileReading === 5 : stepsWhileReading === 0, `pipelined ${pipelined}: ${stepsWhileReading} steps sent during reads`);
  }
});

test('unit: the paint throttle paints the newest request per key, at most once per interval, and flush/cancel work', async () => {
  const { PaintThrottle } = await import(pathToFileURL(path.join(ROOT, 'www/paint-throttle.js')).href);
  let now = 0;
  const frames = [];
  const p = new PaintThrottle({ minMs: 40, now: () => now, frame: (cb) => frames.push(cb) - 1, cancelFrame: (h) => (frames[h] = null) });
  const painted = [];
  const tick = (ms) => {
    now += ms;
    const due = frames.splice(0);
    for (const cb of due) cb?.();
  };
  p.request('a', () => painted.push('a1'));
  p.request('a', () => painted.push('a2'));
  p.request('b', () => painted.push('b1'));
  tick(16);
  assert(painted.join() === 'a2,b1', `first frame painted ${painted}`);
  p.request('a', () => painted.push('a3'));
  tick(16); // 16 ms after the last paint: too soon
  assert(painted.length === 2, `painted within the interval: ${painted}`);
  p.request('a', () => painted.push('a4'));
  tick(16);
  tick(16); // 48 ms after the last paint
  assert(painted.join() === 'a2,b1,a4', `after the interval: ${painted}`);
  p.request('a', () => painted.push('a5'));
  p.flush();
  assert(painted.at(-1) === 'a5', 'flush paints at once');
  p.request('a', () => painted.push('a6'));
  p.cancel();
  tick(100);
  tick(100);
  assert(!painted.includes('a6'), 'a cancelled paint still landed');
});

test('unit: controls read attributes and setState() values', async () => {
  const c = await import(pathToFileURL(path.join(ROOT, 'www/controls.js')).href);
  const { DEFAULTS } = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert(c.controlsMode('compact') === 'compact' && c.controlsMode(null) === 'full' && c.controlsMode('bogus') === 'full', 'controls mode');
    assert(c.attributeSetting('steps', null) === DEFAULTS.steps, 'a removed attribute is not back to the default');
    assert(c.attributeSetting('side', '') === true && c.attributeSetting('side', 'false') === false, 'side-by-side');
    assert(c.attributeSetting('steps', '0') === undefined && c.attributeSetting('eta', '0.5') === 0.5, 'steps/eta attributes');
    const clean = c.cleanSettings({ steps: 12, side: false, seed: '5', eta: 3, sampler: 'euler' });
    assert(JSON.stringify(clean) === JSON.stringify({ steps: 12, side: false, seed: 5 }), `setState kept ${JSON.stringify(clean)}`);
    // Values of the wrong type are dropped (booleans only for side), never kept as they are.
    const typed = c.cleanSettings({ steps: true, batch: [4], seed: { n: 1 }, eta: null, model: false, sampler: 'DDIM', side: 'yes', view: undefined });
    assert(JSON.stringify(typed) === JSON.stringify({ sampler: 'ddim', side: true }), `wrong types kept: ${JSON.stringify(typed)}`);
    for (const bad of [null, undefined, 5, 'steps=3', [1]]) {
      let thrown = null;
      try {
        c.cleanSettings(bad);
      } catch (e) {
        thrown = e;
      }
      assert(thrown instanceof TypeError && /setState takes an object/.test(thrown.message), `setState(${JSON.stringify(bad)}): ${thrown}`);
    }
    const attrs = { steps: '9', 'side-by-side': '', seed: 'x', controls: 'none' };
    const el = { hasAttribute: (n) => n in attrs, getAttribute: (n) => attrs[n] ?? null };
    const { settings, mode } = c.initialSettings(el);
    assert(settings.steps === 9 && settings.side === true && settings.seed === DEFAULTS.seed && mode === 'none', JSON.stringify({ settings, mode }));
    assert(settings.sampler === DEFAULTS.sampler && settings.model === DEFAULTS.model, JSON.stringify(settings));
  } finally {
    console.warn = warn;
  }
});

test('unit: backend names, adapter keys and what to ask the engine for', async () => {
  const b = await import(pathToFileURL(path.join(ROOT, 'www/backend-choice.js')).href);
  assert(b.parseBackend(' CPU ') === 'cpu' && b.parseBackend('webgpu') === 'webgpu' && b.parseBackend('auto') === 'auto', 'parse');
  assert(b.parseBackend('gpu') === undefined && b.parseBackend('') === undefined && b.parseBackend(null) === undefined, 'bad names accepted');
  const key = b.adapterKey({ vendor: 'google', architecture: 'swiftshader', device: '', description: '' });
  assert(key === 'google|swiftshader||', `key ${key}`);
  assert(b.adapterKey({ vendor: 'nvidia', architecture: 'ampere' }) !== key, 'different adapters share a key');
  assert(b.adapterKey({}) === null && b.adapterKey(null) === null, 'an adapter that says nothing gets a key');
  const store = fakeStorage();
  const gpu = { ok: true, key };
  assert(JSON.stringify(b.plan('cpu', gpu, store)) === JSON.stringify({ backend: 'cpu', reason: 'asked for by backend=cpu' }), 'cpu');
  assert(b.plan('webgpu', { ok: false, reason: 'x' }, store).backend === 'webgpu', 'an explicit webgpu is passed to the engine (which says NoWebGPU)');
  const none = b.plan('auto', { ok: false, reason: 'navigator.gpu is missing' }, store);
  assert(none.backend === 'cpu' && none.noWebGpu && none.reason === 'no WebGPU: navigator.gpu is missing', JSON.stringify(none));
  assert(JSON.stringify(b.plan('auto', gpu, store)) === JSON.stringify({ backend: 'auto', probe: true }), 'nothing remembered: probe');
  const now = Date.UTC(2026, 11, 1);
  assert(b.remember(store, key, { backend: 'cpu', cpuMs: 45.2, webgpuMs: 2000, webgpuAtLeast: true }, now), 'remember');
  const p = b.plan('auto', gpu, store, now + 1000);
  assert(p.backend === 'cpu' && p.remembered.cpuMs === 45.2, JSON.stringify(p));
  assert(p.reason === 'remembered for this adapter (cpu 45 ms vs webgpu over 2000 ms, measured 2026-12-01)', p.reason);
  assert(b.plan('auto', { ok: true, key: 'other|||' }, store, now).probe, 'a choice leaked to another adapter');
  assert(b.plan('auto', { ok: true, key: null }, store, now).probe, 'an unnamed adapter used a remembered choice');
});

test('unit: a stale, damaged or unreadable remembered backend is ignored (and dropped)', async () => {
  const b = await import(pathToFileURL(path.join(ROOT, 'www/backend-choice.js')).href);
  const key = 'google|swiftshader||';
  const now = Date.UTC(2026, 11, 1);
  const slot = 'diffusion-playground/backend/v1/' + key;
  const good = { backend: 'webgpu', cpuMs: 80, webgpuMs: 3, webgpuAtLeast: false, at: now - 1000 };
  const cases = [
    ['not JSON', '{"backend":'],
    ['JSON null', 'null'],
    ['a string', '"cpu"'],
    ['unknown backend', JSON.stringify({ ...good, backend: 'quantum' })],
    ['backend auto', JSON.stringify({ ...good, backend: 'auto' })],
    ['negative ms', JSON.stringify({ ...good, cpuMs: -1 })],
    ['ms as text', JSON.stringify({ ...good, webgpuMs: '3' })],
    ['no flag', JSON.stringify({ ...good, webgpuAtLeast: undefined })],
    ['no time', JSON.stringify({ ...good, at: undefined })],
    ['from the future', JSON.stringify({ ...good, at: now + 60000 })],
    ['older than REMEMBER_MS', JSON.stringify({ ...good, at: now - b.REMEMBER_MS - 1 })],
  ];
  for (const [label, text] of cases) {
    const store = fakeStorage({ [slot]: text });
    assert(b.recall(store, key, now) === null, `${label}: recalled`);
    assert(store.getItem(slot) === null, `${label}: not dropped`);
    assert(b.plan('auto', { ok: true, key }, store, now).probe, `${label}: no new probe`);
  }
  const store = fakeStorage({ [slot]: JSON.stringify(good) });
  assert(JSON.stringify(b.recall(store, key, now)) === JSON.stringify(good), 'a good entry is not recalled as written');
  // Storage that throws (private mode, a sandboxed frame, a full quota) counts as empty.
  const throwing = { getItem() { throw new Error('SecurityError'); }, setItem() { throw new Error('QuotaExceededError'); }, removeItem() { throw new Error('SecurityError'); } };
  assert(b.recall(throwing, key, now) === null && b.remember(throwing, key, { backend: 'cpu' }) === false, 'throwing storage');
  assert(b.plan('auto', { ok: true, key }, throwing, now).probe, 'throwing storage: no probe');
  assert(b.recall(null, key, now) === null && b.remember(null, key, { backend: 'cpu' }) === false, 'no storage');
  assert(b.remember(fakeStorage(), key, { backend: 'auto' }) === false, 'remembered "auto"');
});

test('unit: CPU workers: how many, how a batch is split, what the info line says', async () => {
  const l = await import(pathToFileURL(path.join(ROOT, 'www/cpu-lanes.js')).href);
  const e = await import(pathToFileURL(path.join(ROOT, 'www/engine.js')).href);
  const m = await import(pathToFileURL(path.join(ROOT, 'www/messages.js')).href);
  assert(l.defaultWorkers(2) === 2 && l.defaultWorkers(16) === 4 && l.defaultWorkers(undefined) === 1 && l.defaultWorkers(0) === 1, 'defaultWorkers');
  const show = (b, w) => l.splitBatch(b, w).map((p) => `${p.worker}:${p.first}+${p.count}`).join(' ');
  assert(show(16, 2) === '0:0+8 1:8+8', show(16, 2));
  assert(show(5, 3) === '0:0+2 1:2+2 2:4+1', show(5, 3));
  assert(show(1, 4) === '0:0+1', `a batch of 1 uses one worker: ${show(1, 4)}`);
  assert(show(4, 0) === '0:0+4', show(4, 0));
  // Node has no Worker: no pool, whatever the query asks.
  assert(e.workerCount('?workers=3') === 0, 'workers without Worker');
  const globalWorker = globalThis.Worker;
  globalThis.Worker = function Worker() {};
  try {
    assert(e.workerCount('?workers=3') === 3 && e.workerCount('?workers=0') === 0 && e.workerCount('?workers=99') === 16, 'workers=N');
    assert(e.workerCount('?workers=x') === l.defaultWorkers() && e.workerCount('') === l.defaultWorkers(), 'default count');
  } finally {
    globalThis.Worker = globalWorker;
  }
  const cpu = { backend: 'cpu', executor: 'CPU (wasm simd128)' };
  assert(m.backendName({ ...cpu, workers: 2 }) === 'the CPU (wasm simd128, 2 workers)', m.backendName({ ...cpu, workers: 2 }));
  assert(m.backendName({ ...cpu, workers: 1 }) === 'the CPU (wasm simd128, 1 worker)', m.backendName({ ...cpu, workers: 1 }));
  const alone = m.backendName({ ...cpu, workers: 0, workersNote: 'the CPU workers could not start (x)' });
  assert(alone === "the CPU (wasm simd128, the page's thread: the CPU workers could not start (x))", alone);
});

test('unit: backend as a URL parameter and an attribute', async () => {
  const u = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);
  const c = await import(pathToFileURL(path.join(ROOT, 'www/controls.js')).href);
  const warn = console.warn;
  const warned = [];
  console.warn = (m) => warned.push(m);
  try {
    assert(u.DEFAULTS.backend === 'auto', `default ${u.DEFAULTS.backend}`);
    assert(u.parseParams('backend=cpu').backend === 'cpu' && u.parseParams('backend=WebGPU').backend === 'webgpu', 'parse');
    assert(u.parseParams('backend=gpu').backend === undefined && warned.some((w) => /backend="gpu"/.test(w)), 'a bad backend is not ignored with a warning');
    assert(!u.toParams({ ...u.DEFAULTS }).has('backend'), 'links carry backend=auto');
    assert(u.toParams({ ...u.DEFAULTS, backend: 'cpu' }).get('backend') === 'cpu', 'links drop backend=cpu');
    const snip = u.embedSnippets({ ...u.DEFAULTS, backend: 'cpu' }, 'https://a.example/m.js', 'https://a.example/');
    assert(snip.element.includes('backend="cpu"') && /embed\.html\?[^"]*backend=cpu/.test(snip.iframe), snip.element + snip.iframe);
    assert(!u.embedSnippets({ ...u.DEFAULTS }, 'https://a.example/m.js', 'https://a.example/').element.includes('backend='), 'auto in the snippet');
    assert(c.attributeSetting('backend', 'cpu') === 'cpu' && c.attributeSetting('backend', null) === 'auto', 'attribute');
    const el = { hasAttribute: (n) => n === 'backend', getAttribute: (n) => (n === 'backend' ? 'webgpu' : null) };
    assert(c.initialSettings(el).settings.backend === 'webgpu', 'initial settings ignore the backend attribute');
    assert(JSON.stringify(c.cleanSettings({ backend: 'cpu', steps: 3 })) === '{"backend":"cpu","steps":3}', 'setState({backend})');
  } finally {
    console.warn = warn;
  }
});

test('unit: a cancelled or superseded run waiting on `cancelled` is released', async () => {
  const { RunQueue } = await import(pathToFileURL(path.join(ROOT, 'www/run-loop.js')).href);
  const q = new RunQueue();
  const never = new Promise(() => {});
  // A paused run waits on something that never comes; cancel() must still let it stop.
  const paused = (log) => async (isCurrent, cancelled) => {
    await Promise.race([never, cancelled]);
    log.push(isCurrent() ? 'woke while current' : 'stopped');
  };
  const log = [];
  const a = q.request(paused(log));
  await new Promise((r) => setTimeout(r, 5));
  const stopped = await Promise.race([q.cancel().then(() => 'cancelled'), new Promise((r) => setTimeout(() => r('hung'), 500))]);
  await a;
  assert(stopped === 'cancelled' && log.join() === 'stopped', `cancel: ${stopped}, ${log.join()}`);
  const b = q.request(paused(log));
  await new Promise((r) => setTimeout(r, 5));
  const c = q.request(async () => 'c ran');
  const got = await Promise.race([c, new Promise((r) => setTimeout(() => r('hung'), 500))]);
  await b;
  assert(got === 'c ran' && log.join() === 'stopped,stopped', `superseded: ${got}, ${log.join()}`);
});

test('unit: runLanes awaits waitShown before every step and stops there when cancelled', async () => {
  const { runLanes } = await import(pathToFileURL(path.join(ROOT, 'www/run-loop.js')).href);
  const { loadingMode } = await import(pathToFileURL(path.join(ROOT, 'www/view-gate.js')).href);
  assert(loadingMode('eager') === 'eager' && loadingMode('lazy') === 'lazy' && loadingMode(null) === 'lazy' && loadingMode('soon') === 'lazy', 'loadingMode');
  const lane = (log) => ({
    sampler: 'ddim',
    session: {
      start: () => [900, 500, 100],
      step: (i) => log.push(`step ${i}`),
      readTensor: async () => new Float32Array(1),
      readRgba: async () => new Uint8Array(4),
    },
    recorder: { wants: () => false },
  });
  const log = [];
  let current = true;
  const ok = await runLanes([lane(log)], {
    isCurrent: () => current,
    view: () => 'x0',
    onStart: () => log.push('start'),
    onStep: () => {},
    waitShown: async () => log.push('wait'),
  });
  assert(ok && log.join() === 'start,wait,step 0,wait,step 1,wait,step 2', `log: ${log.join()}`);
  const cut = [];
  const stopped = await runLanes([lane(cut)], {
    isCurrent: () => current,
    view: () => 'x0',
    onStart: () => {},
    onStep: () => {},
    waitShown: async () => {
      if (cut.length === 4) current = false; // cancelled while paused before step 2
      cut.push('wait');
    },
  });
  assert(stopped === false && cut.join() === 'wait,step 0,wait,step 1,wait', `cancelled while paused: ${cut.join()}`);
});

test('unit: the README\'s embedding snippets and CSP line are what the code writes and the tests use', async () => {
  const u = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);
  const { strictCsp } = await import(pathToFileURL(path.join(ROOT, 'tests/page/embed-tests.mjs')).href);
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('## Embedding in your blog');
  assert(at >= 0, 'README has no "Embedding in your blog" section');
  const section = readme.slice(at, readme.indexOf('\n## ', at + 1));
  const blocks = [...section.matchAll(/```html\n([\s\S]*?)\n```/g)].map((m) => m[1]);
  const host = 'https://example.org/playground/';
  const want = u.embedSnippets({ ...u.DEFAULTS }, `${host}diffusion-playground.js`, host);
  assert(blocks[0] === want.element, `README's element snippet differs from embedSnippets():\n${blocks[0]}\n---\n${want.element}`);
  assert(blocks[1] === want.iframe, `README's iframe snippet differs from embedSnippets():\n${blocks[1]}\n---\n${want.iframe}`);
  assert(section.includes(`Content-Security-Policy: ${strictCsp(host)}`), `README lacks the tested CSP line: ${strictCsp(host)}`);
  // The fallback content: the still image and a link to the full page; nothing a strict CSP refuses.
  assert(want.element.includes(`<img src="${host}${u.FALLBACK_IMAGE}" width="256" height="256"`) && /<a href="https:\/\/example\.org\/playground\/index\.html\?[^"]*">Open the playground<\/a>/.test(want.element), want.element);
  assert(!/style=/.test(want.element + want.iframe), 'a snippet has an inline style (refused by a strict style-src)');
});

test('unit: the panels attribute chooses views; the controls mode sets the default', async () => {
  const { PANELS, parsePanels } = await import(pathToFileURL(path.join(ROOT, 'www/panels.js')).href);
  const warn = console.warn;
  const warned = [];
  console.warn = (m) => warned.push(m);
  try {
    assert(JSON.stringify(parsePanels(null, 'full')) === JSON.stringify(PANELS), 'full shows every panel');
    assert(JSON.stringify(parsePanels(null, 'compact')) === '["images"]' && JSON.stringify(parsePanels(null, 'none')) === '["images"]', 'compact/none');
    assert(JSON.stringify(parsePanels('anatomy', 'compact')) === '["anatomy"]', 'just the anatomy');
    // Page order, whatever the attribute's order; commas or spaces; case-insensitive.
    assert(JSON.stringify(parsePanels('Schedule, anatomy  images', 'none')) === '["images","anatomy","schedule"]', parsePanels('Schedule, anatomy  images', 'none'));
    assert(!warned.length, `warned: ${warned}`);
    assert(JSON.stringify(parsePanels('anatomy, graphs', 'full')) === '["anatomy"]' && /"graphs".*known: images/.test(warned[0]), `unknown name: ${warned}`);
    assert(JSON.stringify(parsePanels('nothing', 'compact')) === '["images"]', 'no known name falls back to the default');
  } finally {
    console.warn = warn;
  }
});

test('unit: anatomy numbers are formatted for reading and parse back', async () => {
  const t = await import(pathToFileURL(path.join(ROOT, 'www/anatomy-text.js')).href);
  const cases = [
    [0, '0'],
    [0.123456789, '0.12346'],
    [157.4104461669922, '157.41'],
    [-0.98994873, '−0.98995'],
    [1e-10, '1e-10'],
    [-1.5e-5, '−1.5e-5'],
    [0.0012345, '0.0012345'],
    [999, '999'],
  ];
  assert(t.formatSigned(-4.56781) === '− 4.5678' && t.formatSigned(0.5) === '+ 0.5' && t.parseNumber('− 4.5678') === -4.5678, 'signed');
  for (const [v, want] of cases) {
    assert(t.formatNumber(v) === want, `formatNumber(${v}) = ${t.formatNumber(v)}, wanted ${want}`);
    const back = t.parseNumber(t.formatNumber(v));
    assert(Math.abs(back - v) <= 5e-5 * Math.max(Math.abs(v), 1e-9) + (Math.abs(v) < 1e-3 ? 1e-3 * Math.abs(v) : 0), `parse(${want}) = ${back}`);
  }
});

test('unit: anatomy formulas name the engine keys of each view', async () => {
  const t = await import(pathToFileURL(path.join(ROOT, 'www/anatomy-text.js')).href);
  const keys = (rows) => rows.flat().filter((p) => typeof p !== 'string').map((p) => p.key);
  const base = { predictionType: 'epsilon', clip: true, steps: 20, index: 3, t: 800, prevT: 750 };
  const ddpm = t.anatomyText({ ...base, sampler: 'ddpm', variance: 'fixed_small' }, { T: 1000 });
  const dk = keys(ddpm.updateRows);
  for (const k of ['alphaBarPrev', 'beta', 'prevFromX0', 'prevFromSample', 'posteriorVariance', 'sigma', 'betaSigma']) assert(dk.includes(k), `DDPM rows lack ${k}`);
  assert(/Bayes/.test(ddpm.updateHead) && ddpm.terms.map((x) => x.part).join() === 'x0Term,midTerm,noiseTerm', 'DDPM head/terms');
  assert(keys(ddpm.terms.map((x) => x.pieces)).join() === 'prevFromX0,prevFromSample,sigma', 'DDPM term coefficients');
  const ddim = t.anatomyText({ ...base, sampler: 'ddim', eta: 0 }, { T: 1000 });
  const ik = keys(ddim.updateRows);
  for (const k of ['alphaBarPrev', 'eta', 'sigmaRatio', 'sigmaGap', 'sigma', 'prevFromX0', 'prevFromEps', 'sigmaEta1', 'posteriorSigma']) assert(ik.includes(k), `DDIM rows lack ${k}`);
  assert(keys(ddim.terms.map((x) => x.pieces)).join() === 'prevFromX0,prevFromEps,sigma', 'DDIM term coefficients');
  const text = ddim.updateRows.flat().filter((p) => typeof p === 'string').join(' ');
  assert(/steps are skipped/.test(text) && /η = 0: σ<sub>t<\/sub> = 0/.test(text), `DDIM 20 of 1000 with eta 0: ${text}`);
  const full = t.anatomyText({ ...base, steps: 1000, sampler: 'ddim', eta: 1 }, { T: 1000 });
  const fullText = full.updateRows.flat().filter((p) => typeof p === 'string').join(' ');
  assert(/no steps skipped, η = 1 is DDPM’?'?s β̃/.test(fullText) && !/η = 0:/.test(fullText), fullText);
  assert(keys(ddpm.x0Rows).join() === 'sqrtOneMinusAlphaBar,sqrtAlphaBar,alphaBar,logSnr,x0FromSample,x0FromModel,clipRange', keys(ddpm.x0Rows).join());
  assert(t.piecesHtml(['a ', { key: 'sigma' }]) === 'a <span class="num" data-key="sigma"></span>', t.piecesHtml(['a ', { key: 'sigma' }]));
  assert(t.valueOf({ index: 4 }, 'index1') === 5 && t.valueOf({ sigma: 0.25 }, 'sigma') === 0.25, 'valueOf');
});

test('unit: the recorder keeps states for replays and branches within its budget', async () => {
  const { FrameRecorder, BUDGET_BYTES } = await import(pathToFileURL(path.join(ROOT, 'www/frames.js')).href);
  const ts = Array.from({ length: 1000 }, (_, i) => 999 - i);
  const stateLen = 16 * 3 * 32 * 32;
  const r = new FrameRecorder(ts, 128, 128, { stateLen, partsBytes: 8 * 32 * 32 * 4 });
  const kept = ts.map((_, i) => i).filter((i) => r.wants(i));
  const perFrame = 2 * 128 * 128 * 4 + 4 * stateLen + 8 * 32 * 32 * 4;
  assert((kept.length + 1) * perFrame <= BUDGET_BYTES, `${kept.length} frames (+ x_T) of ${perFrame} bytes`);
  const x = new Float32Array(4);
  r.addInitial('xT', x);
  for (const i of [0, 9, 19, 29]) r.add(i, 's', 'x0', { state: x, parts: i === 9 ? { index: 9 } : null });
  r.add(39, 's', 'x0');
  assert(r.afterStep(9).parts.index === 9 && r.afterStep(8) === null && r.afterStep(-1).label === 'x_T', 'afterStep');
  assert(r.startFor(0).i === -1 && r.startFor(15).i === 9 && r.startFor(10).i === 9 && r.startFor(9).i === 0, 'startFor');
  assert(r.startFor(45).i === 29, 'a frame without a state is no start');
  assert(JSON.stringify(r.branchSteps()) === '[0,1,10,20,30]', `branchSteps ${r.branchSteps()}`);
});

test('unit: branches start from one image repeated, with a seed that is not the run\'s', async () => {
  const b = await import(pathToFileURL(path.join(ROOT, 'www/branch-run.js')).href);
  const state = Float32Array.from([1, 2, 3, 4, 5, 6]); // batch 3 of 2 values
  assert(JSON.stringify(Array.from(b.repeatImage(state, 3, 1, 4))) === '[3,4,3,4,3,4,3,4]', 'repeatImage');
  for (const seed of [0, 7, 0xffffffff]) {
    const s0 = b.branchSeed(seed);
    assert(Number.isInteger(s0) && s0 >= 1 && s0 <= 0xffffffff && s0 !== seed, `branchSeed(${seed}) = ${s0}`);
    assert(b.branchSeed(seed, 1) !== s0, 'another draw gives another seed');
  }
});

test('unit: cached weights are fresh by content or validators, never by length alone', async () => {
  const w = await import(pathToFileURL(path.join(ROOT, 'www/weights-cache.js')).href);
  const sha = 'ab'.repeat(32);
  const file = 'diffusion_pytorch_model.safetensors';
  const manifest = (e) => JSON.stringify({ files: { [file]: e } });
  assert(JSON.stringify(w.parseManifest(manifest({ bytes: 5, sha256: sha }), file)) === JSON.stringify({ bytes: 5, sha256: sha }), 'parse');
  for (const bad of ['not json', '{}', manifest({ bytes: 5 }), manifest({ bytes: -0.5, sha256: sha }), manifest({ bytes: 5, sha256: 'XYZ' })]) {
    assert(w.parseManifest(bad, file) === null, `accepted ${bad}`);
  }
  assert(w.parseManifest(manifest({ bytes: 5, sha256: sha }), 'other.safetensors') === null, 'another file');
  const stored = { sha256: sha, bytes: 5, etag: '"e1"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' };
  assert(w.byManifest(stored, { bytes: 5, sha256: sha }) === 'fresh', 'same hash');
  assert(w.byManifest(stored, { bytes: 5, sha256: 'cd'.repeat(32) }) === 'stale', 'same length, new hash');
  assert(w.byManifest({ ...stored, sha256: null }, { bytes: 5, sha256: sha }) === 'stale', 'stored without a hash');
  assert(w.byManifest(stored, null) === null, 'no entry: no verdict');
  assert(w.byValidators(stored, { etag: '"e1"' }) === 'fresh', 'same ETag');
  assert(w.byValidators(stored, { etag: '"e2"', lastModified: stored.lastModified }) === 'stale', 'new ETag wins over Last-Modified');
  assert(w.byValidators({ ...stored, etag: null }, { lastModified: stored.lastModified }) === 'fresh', 'same Last-Modified');
  assert(w.byValidators(stored, {}) === 'stale', 'nothing to compare: not fresh');
  assert(/^weights from this browser's cache, not checked against the server \(x\)$/.test(w.uncheckedNote('x')), w.uncheckedNote('x'));
});

test('unit: fetchBytes re-downloads changed weights of the same length, and says when it could not check', async () => {
  const w = await import(pathToFileURL(path.join(ROOT, 'www/weights-cache.js')).href);
  const url = 'http://127.0.0.1:1/models/m/diffusion_pytorch_model.safetensors';
  const manifestUrl = 'http://127.0.0.1:1/models/m/manifest.json';
  // A server: the weights, whether it has a manifest and validators, and how it fails.
  const server = { bytes: new Uint8Array([1, 2, 3, 4]), manifest: true, etag: null, failing: null, log: [] };
  const entry = async () => ({ files: { 'diffusion_pytorch_model.safetensors': { bytes: server.bytes.length, sha256: await w.sha256Hex(server.bytes) } } });
  const fetchStub = async (u, init = {}) => {
    const method = init.method ?? 'GET';
    server.log.push(`${method} ${new URL(u).pathname.split('/').pop()}`);
    if (server.failing?.url === u && server.failing.how === 'offline') throw new TypeError('Failed to fetch');
    if (server.failing?.url === u) return new Response('', { status: 503 });
    if (u === manifestUrl) return server.manifest ? new Response(JSON.stringify(await entry())) : new Response('', { status: 404 });
    const headers = { 'content-length': String(server.bytes.length), ...(server.etag ? { etag: server.etag } : {}) };
    return new Response(method === 'HEAD' ? null : server.bytes, { headers });
  };
  const store = new Map();
  const cache = {
    match: async (u) => (store.has(u) ? new Response(store.get(u).bytes, { headers: store.get(u).headers }) : undefined),
    put: async (u, r) => store.set(u, { bytes: new Uint8Array(await r.arrayBuffer()), headers: r.headers }),
    delete: async (u) => store.delete(u),
  };
  const load = async () => {
    server.log = [];
    const r = await w.fetchBytes(url, { cache });
    return { ...r, got: Array.from(r.bytes).join(), log: server.log.join(', ') };
  };
  const realFetch = globalThis.fetch;
  const { info, warn } = console;
  globalThis.fetch = fetchStub;
  console.info = console.warn = () => {};
  try {
    let r = await load();
    assert(!r.fromCache && r.got === '1,2,3,4' && r.cacheNote === null, `first load: ${JSON.stringify(r)}`);
    assert(store.get(url).headers.get('x-dp-sha256') === (await w.sha256Hex(server.bytes)), 'stored without its hash');
    r = await load();
    assert(r.fromCache && r.cacheNote === null && r.log === 'GET manifest.json', `unchanged: ${JSON.stringify(r)}`);
    server.bytes = new Uint8Array([9, 9, 9, 9]); // retrained, same length; the manifest follows
    r = await load();
    assert(!r.fromCache && r.got === '9,9,9,9', `same length, new contents: ${JSON.stringify(r)}`);
    for (const how of ['offline', '503']) {
      server.failing = { url: manifestUrl, how };
      r = await load();
      const why = how === 'offline' ? /manifest\.json could not be fetched: Failed to fetch/ : /manifest\.json: HTTP 503/;
      assert(r.fromCache && r.got === '9,9,9,9' && /not checked against the server/.test(r.cacheNote) && why.test(r.cacheNote), `${how}: ${JSON.stringify(r)}`);
    }
    server.failing = null;
    // A host without the manifest: the ETag decides; without one, a new download.
    server.manifest = false;
    server.etag = '"v1"';
    r = await load();
    assert(!r.fromCache, 'stored without an ETag, so not fresh by it');
    r = await load();
    assert(r.fromCache && r.log === 'GET manifest.json, HEAD diffusion_pytorch_model.safetensors', `same ETag: ${JSON.stringify(r)}`);
    server.bytes = new Uint8Array([7, 7, 7, 7]);
    server.etag = '"v2"';
    r = await load();
    assert(!r.fromCache && r.got === '7,7,7,7', `new ETag: ${JSON.stringify(r)}`);
    server.etag = null;
    r = await load();
    assert(!r.fromCache, 'no manifest and no validators: fresh by length alone');
    server.failing = { url, how: 'offline' };
    r = await load();
    assert(r.fromCache && /diffusion_pytorch_model\.safetensors could not be fetched/.test(r.cacheNote), `HEAD offline: ${JSON.stringify(r)}`);
  } finally {
    globalThis.fetch = realFetch;
    Object.assign(console, { info, warn });
  }
});

test('unit: the model line says when cached weights were not checked', async () => {
  const { modelSummary } = await import(pathToFileURL(path.join(ROOT, 'www/messages.js')).href);
  const info = { sampleShape: [3, 32, 32], parameterCount: 1000, T: 1000, bytes: 4000, backend: 'cpu', executor: 'CPU (wasm simd128)', workers: 2, reason: 'asked for' };
  assert(/weights from the browser cache;/.test(modelSummary({ model: 'm', info: { ...info, fromCache: true, cacheNote: null } })), 'cached');
  const note = "weights from this browser's cache, not checked against the server (manifest.json: HTTP 503)";
  const line = modelSummary({ model: 'm', info: { ...info, fromCache: true, cacheNote: note } });
  assert(line.includes(`; ${note}; runs on`), line);
});

test('unit: mask text round-trips, picks the shorter form, and stays out of the URL when too long', async () => {
  const m = await import(pathToFileURL(path.join(ROOT, 'www/mask.js')).href);
  const rnd = (n, seed) => {
    let x = seed;
    return Uint8Array.from({ length: n }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 1);
  };
  for (const cells of [1024, 7, 4096]) {
    const disc = new Uint8Array(cells);
    const w = Math.round(Math.sqrt(cells)) || 1;
    m.paintDisc(disc, w, Math.ceil(cells / w), w / 2, w / 3, w / 5);
    for (const mask of [disc, rnd(cells, 3), new Uint8Array(cells).fill(1)]) {
      const text = m.encodeMask(mask);
      const back = m.decodeMask(text, cells);
      assert(back && back.every((v, i) => v === mask[i]), `${cells} cells: ${text} does not decode back`);
    }
  }
  const disc = new Uint8Array(1024);
  m.paintDisc(disc, 32, 32, 16, 16, 5);
  assert(m.encodeMask(disc)[0] === 'r' && m.urlMask(disc).length < 100, `a disc: ${m.encodeMask(disc)}`);
  const noisy = rnd(1024, 9);
  assert(m.encodeMask(noisy)[0] === 'b' && m.encodeMask(noisy).length === 172 && m.urlMask(noisy) !== null, '32x32 bits fit the URL');
  assert(m.urlMask(rnd(4096, 9)) === null, '64x64 noise is too long for the URL');
  assert(m.urlMask(new Uint8Array(1024)) === null, 'nothing painted: no mask');
  assert(m.decodeMask('r5', 1024) === null && m.decodeMask('bAAA', 1024) === null && m.decodeMask('x', 4) === null, 'bad text is refused');
  const e = m.engineMask(Uint8Array.from([1, 0]));
  assert(e[0] === 0 && e[1] === 1, 'the engine mask keeps where nothing is painted');
});

test('unit: an image is downscaled to the model size and becomes a tensor in [-1, 1]', async () => {
  const { resizeRgba, rgbaToTensor } = await import(pathToFileURL(path.join(ROOT, 'www/image-input.js')).href);
  // 4x4: left half red, right half blue, top-right pixel transparent -> 2x2.
  const src = new Uint8ClampedArray(4 * 4 * 4);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) src.set(x < 2 ? [255, 0, 0, 255] : [0, 0, 255, 255], (y * 4 + x) * 4);
  src.set([0, 0, 0, 0], 3 * 4);
  const out = resizeRgba(src, 4, 4, 2, 2);
  assert(out[0] === 255 && out[2] === 0 && out[3] === 255, `left: ${out.slice(0, 4)}`);
  assert(out[4] === 0 && out[6] === 255 && out[7] === 191, `top right (one transparent pixel of four): ${out.slice(4, 8)}`);
  const t = rgbaToTensor(out, 2, 2, 3);
  assert(t.length === 12 && t[0] === 1 && t[4 + 0] === -1 && t[8] === -1, `red plane ${t.slice(0, 4)}, blue ${t.slice(8)}`);
  assert(Math.abs(t[1] - (191 / 255) * -1 - (1 - 191 / 255)) < 1e-6, `transparency goes to white: ${t[1]}`);
  const grey = rgbaToTensor(Uint8ClampedArray.from([255, 255, 255, 255]), 1, 1, 1);
  assert(Math.abs(grey[0] - 1) < 1e-6, `one channel: ${grey[0]}`);
  const four = rgbaToTensor(Uint8ClampedArray.from([0, 0, 0, 255]), 1, 1, 4);
  assert(four.length === 4 && four[3] === 0, `four channels: ${four}`);
});

test('unit: slerp frame positions, the op URL keys and the samplers of a run', async () => {
  const { slerpTimes, slerpFrames, reconstructionError } = await import(pathToFileURL(path.join(ROOT, 'www/op-run.js')).href).catch(async () => {
    // op-run.js imports engine.js (browser-only at load): test the pure parts through a copy.
    const src = readFileSync(path.join(ROOT, 'www/op-run.js'), 'utf8').replace(/^import .*$/gm, '').replace(/export class PanelSessions[\s\S]*?\n}\n/, '');
    return import(`data:text/javascript,${encodeURIComponent(src)}`);
  });
  const t = slerpTimes(7);
  assert(t.length === 7 && t[0] === 0 && t[6] === 1 && Math.abs(t[3] - 0.5) < 1e-12, `${t}`);
  const frames = slerpFrames((a, b, s) => a.map((v, i) => v + s * (b[i] - v)), Float32Array.of(0, 0), Float32Array.of(1, 2), 3);
  assert(frames.join() === '0,0,0.5,1,1,2', `${frames}`);
  const e = reconstructionError(Float32Array.of(1, 2), Float32Array.of(1.5, 1));
  assert(e.meanAbs === 0.75 && e.maxAbs === 1, JSON.stringify(e));
  const u = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);
  assert(u.runSamplers({ side: true, compare: 'dpmpp2m-ddim' }).join() === 'dpmpp2m,ddim' && u.runSamplers({ side: true }).join() === 'ddpm,ddim' && u.runSamplers({ side: false, sampler: 'dpmpp2m' }).join() === 'dpmpp2m', 'runSamplers');
  const s = { ...u.DEFAULTS, sampler: 'dpmpp2m', side: true, compare: 'dpmpp2m-ddpm', invert: 'Heart', lerp: 12, frames: 5, mask: 'rdw.o.dw', resample: 2 };
  const back = u.parseParams(u.toParams(s));
  for (const k of ['sampler', 'compare', 'invert', 'lerp', 'frames', 'mask', 'resample']) assert(back[k] === s[k], `${k}: ${back[k]} for ${s[k]}`);
  const plain = u.toParams({ ...u.DEFAULTS, seed: 1 }).toString();
  assert(!/compare|invert|lerp|frames|mask|resample/.test(plain), `defaults add nothing: ${plain}`);
  const warn = console.warn;
  console.warn = () => {};
  try {
    const bad = u.parseParams('sampler=dpm&frames=1&frames=99&lerp=-1&mask=zz&resample=11&compare=ddim-ddim');
    assert(Object.keys(bad).length === 0, `invalid values kept: ${JSON.stringify(bad)}`);
  } finally {
    console.warn = warn;
  }
});

test('unit: the inversion steps and the strip between two inverted examples in the URL and the attributes', async () => {
  const u = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);
  const c = await import(pathToFileURL(path.join(ROOT, 'www/controls.js')).href);
  const warn = console.warn;
  console.warn = () => {};
  try {
    const p = u.parseParams('invert=Heart&invsteps=50&lerp=inv:Heart,Smiley&frames=4');
    assert(p.invsteps === 50 && p.lerp === 'inv:Heart,Smiley' && p.frames === 4, JSON.stringify(p));
    assert(u.parseParams('lerp=12').lerp === 12, 'a seed is still a seed');
    const s = { ...u.DEFAULTS, invert: 'Heart', invsteps: 50, lerp: 'inv:Heart,Smiley', frames: 4 };
    const q = u.toParams(s);
    assert(q.get('invsteps') === '50' && q.get('lerp') === 'inv:Heart,Smiley' && q.get('frames') === '4', q.toString());
    const back = u.parseParams(q.toString());
    for (const k of ['invert', 'invsteps', 'lerp', 'frames']) assert(back[k] === s[k], `${k}: ${back[k]} for ${s[k]}`);
    assert(!u.toParams({ ...u.DEFAULTS }).has('invsteps'), 'invsteps written by default');
    assert(u.lerpEnds('inv:Heart,Smiley').examples.join() === 'Heart,Smiley' && u.lerpEnds(12).seed === 12 && u.lerpEnds(null) === null, 'lerpEnds');
    // Only examples' names (uploads and run images are not in the URL); steps 1..1000.
    for (const bad of ['invsteps=0', 'invsteps=1001', 'invsteps=2.5', 'invsteps=', 'lerp=inv:Heart', 'lerp=inv:Heart,Nope', 'lerp=inv:sample,Heart', 'lerp=inv:Heart,Smiley,Sunset', 'lerp=inv:']) {
      const got = u.parseParams(bad);
      assert(Object.keys(got).length === 0, `${bad} kept: ${JSON.stringify(got)}`);
    }
    const snip = u.embedSnippets(s, 'https://x/diffusion-playground.js', 'https://x/');
    assert(snip.element.includes('invert="Heart" invsteps="50"') && snip.element.includes('lerp="inv:Heart,Smiley" frames="4"'), snip.element);
    assert(/invsteps=50/.test(snip.iframe) && /lerp=inv%3AHeart%2CSmiley/.test(snip.iframe), snip.iframe);
    // The element's attributes of the same names.
    assert(c.ATTRS.invsteps === 'invsteps' && c.ATTRS.lerp === 'lerp', 'attribute names');
    const attrs = { invsteps: '30', lerp: 'inv:Sunset,Checkerboard', frames: '3' };
    const el = { hasAttribute: (n) => n in attrs, getAttribute: (n) => attrs[n] ?? null };
    const { settings } = c.initialSettings(el);
    assert(settings.invsteps === 30 && settings.lerp === 'inv:Sunset,Checkerboard' && settings.frames === 3, JSON.stringify(settings));
    assert(c.attributeSetting('invsteps', null) === null && c.attributeSetting('lerp', 'inv:Heart,x') === undefined, 'removed / bad attributes');
    const clean = c.cleanSettings({ invsteps: 20, lerp: 'inv:Heart,Smiley' });
    assert(clean.invsteps === 20 && clean.lerp === 'inv:Heart,Smiley', `setState: ${JSON.stringify(clean)}`);
  } finally {
    console.warn = warn;
  }
});

test('unit: a refused model value is reported with what to write instead', async () => {
  const u = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);
  const c = await import(pathToFileURL(path.join(ROOT, 'www/controls.js')).href);
  const warn = console.warn;
  console.warn = () => {};
  try {
    const why = { '/abs': /absolute path/, '//host': /another host/, 'models/%2e%2e/x': /percent-escapes/, '..': /"\.\." leaves/, 'https:': /scheme/, 'https://example.org/m': /scheme/ };
    for (const [bad, re] of Object.entries(why)) {
      const heard = [];
      const got = u.parseParams(`model=${encodeURIComponent(bad)}&seed=3`, (k, t) => heard.push([k, t]));
      assert(got.model === undefined && got.seed === 3, `${bad}: ${JSON.stringify(got)}`);
      assert(heard.length === 1 && heard[0][0] === 'model' && heard[0][1] === bad, `${bad}: heard ${JSON.stringify(heard)}`);
      const m = u.modelRefusal(bad);
      assert(re.test(m) && m.includes(JSON.stringify(bad)) && m.includes('"models/emoji32"'), `${bad}: ${m}`);
      const viaSet = [];
      c.cleanSettings({ model: bad }, (k, v) => viaSet.push(k));
      const viaAttr = [];
      c.attributeSetting('model', bad, (k) => viaAttr.push(k));
      assert(viaSet.join() === 'model' && viaAttr.join() === 'model', `${bad}: setState ${viaSet}, attribute ${viaAttr}`);
    }
    const none = [];
    u.parseParams('model=models/emoji32', (k) => none.push(k));
    c.cleanSettings({ model: 'models/soak-a', seed: 2 }, (k) => none.push(k));
    assert(!none.length, `good values refused: ${none}`);
  } finally {
    console.warn = warn;
  }
});

/** A Storage stand-in over a plain object. */
function fakeStorage(items = {}) {
  const m = new Map(Object.entries(items));
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  };
}

await runTests(tests);
