// Unit tests of the page's plain modules (www/url-state.js, controls.js, frames.js,
// run-loop.js) in Node, with no browser and no server:
//
//   node tests/page/unit.mjs                 # all of them
//   node tests/page/unit.mjs --only queue    # tests whose name has "queue"
//
// One line per test, then "N passed, M failed"; exit status 1 on any failure. What needs a DOM
// or WebGPU is tested in the browser (tests/page/run.mjs).

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, assert, runTests } from './harness.mjs';

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

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
    const attrs = { steps: '9', 'side-by-side': '', seed: 'x', controls: 'none' };
    const el = { hasAttribute: (n) => n in attrs, getAttribute: (n) => attrs[n] ?? null };
    const { settings, mode } = c.initialSettings(el);
    assert(settings.steps === 9 && settings.side === true && settings.seed === DEFAULTS.seed && mode === 'none', JSON.stringify({ settings, mode }));
    assert(settings.sampler === DEFAULTS.sampler && settings.model === DEFAULTS.model, JSON.stringify(settings));
  } finally {
    console.warn = warn;
  }
});

await runTests(tests);
