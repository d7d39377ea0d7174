// The page tests of issue 16 (reliability), on the tiny fixture models: engines and sessions
// are freed (GPU buffers, the engine's parameter copy), a wasm trap is recovered from (the
// playground that trapped says so with a retry button, another on the page loads again), bad
// setState() calls and refused `model` values (each with a visible notice) leave the page
// working, hostile checkpoints (sample_size 46340, a NaN weight) get a notice and a good model
// runs afterwards, and the soak tests: 1,000 random control changes with model switches on
// WebGPU, after which the image equals a fresh run's, the GPU buffers are exactly as many (and
// as many bytes) as at the 200th change and the wasm memory within 8 MiB, in under 600 s; and
// 400 on the CPU backend's Web Workers, whose wasm memory and sessions stay flat likewise.
// Registered by run.mjs.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, ROOT, assert, eventCount, open, waitEvent } from './harness.mjs';

const EL = 'diffusion-playground';
/**
 * The soak test's bound on its whole time (page loads, 1,000 changes, the fresh run): generous,
 * as it runs on SwiftShader. Measured on the 2-core VM with other work running (load average
 * 4-8): 500 s, of which 335 s were the 24 waits for a finished run (each of the 20 model
 * switches loads and compiles a WebGPU engine afresh).
 */
const SOAK_LIMIT_S = 600;
/** The CPU soak's bound (400 changes on Web Workers; measured 49 s on that VM, loaded). */
const CPU_SOAK_LIMIT_S = 240;
/** How much wasm memory (the page's, and each worker's) may grow between a soak's two measurements. */
const WASM_MARGIN = 8 * 2 ** 20;
/** Two fixture checkpoints of different shapes (3x16x16 and 1x12x12), served under models/. */
const FIXTURES = { 'soak-a': 'tiny', 'soak-b': 'multihead_gray' };

/** Serves models/soak-a and models/soak-b from tests/fixtures/models/ (not shipped with the page). */
async function routeFixtures(context) {
  for (const [name, fixture] of Object.entries(FIXTURES)) {
    await context.route(`**/models/${name}/*`, (route) => {
      const file = path.join(ROOT, 'tests/fixtures/models', fixture, new URL(route.request().url()).pathname.split('/').pop());
      return existsSync(file) ? route.fulfill({ path: file }) : route.fulfill({ status: 404, body: 'not found' });
    });
  }
}

/**
 * Two hostile checkpoints made from the tiny fixture and served under models/: `hostile-size`
 * (config sample_size 46340, whose buffer sizes wrap on 32-bit wasm unless checked) and
 * `hostile-nan` (a NaN in the first float32 weight). Files the fixture lacks answer 404.
 */
async function routeHostile(context) {
  const dir = path.join(ROOT, 'tests/fixtures/models/tiny');
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const weights = readFileSync(path.join(dir, 'diffusion_pytorch_model.safetensors'));
  const headerLen = Number(weights.readBigUInt64LE(0));
  const header = JSON.parse(weights.subarray(8, 8 + headerLen).toString('utf8'));
  const first = Object.entries(header).find(([k, v]) => k !== '__metadata__' && v.dtype === 'F32' && v.data_offsets[0] === 0);
  assert(first, 'the tiny fixture has no float32 tensor at offset 0');
  const nan = Buffer.from(weights);
  nan.writeFloatLE(Number.NaN, 8 + headerLen);
  const files = {
    'hostile-size': { 'config.json': JSON.stringify({ ...config, sample_size: 46340 }), 'diffusion_pytorch_model.safetensors': weights },
    'hostile-nan': { 'config.json': JSON.stringify(config), 'diffusion_pytorch_model.safetensors': nan },
  };
  for (const [name, byFile] of Object.entries(files)) {
    await context.route(`**/models/${name}/*`, (route) => {
      const file = new URL(route.request().url()).pathname.split('/').pop();
      const body = byFile[file];
      return body === undefined ? route.fulfill({ status: 404, body: 'not found' }) : route.fulfill({ body, contentType: file.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
    });
  }
  return { nanTensor: first[0] };
}

/** The engine's debug counters ({gpuBuffers, gpuBytes, wasmBytes}) and the page's live engines. */
function counters(page) {
  return page.evaluate(async () => {
    const base = new URL('.', document.querySelector('script[src$="diffusion-playground.js"]').src);
    const wasm = await import(new URL('pkg/diffusion_playground.js', base).href);
    const engine = await import(new URL('engine.js', base).href);
    return { ...wasm.debugCounters(), engines: engine.liveEngines() };
  });
}

/** A page of its own with the given playground elements (served from the playground's folder). */
async function routePage(context, base, name, body) {
  await context.route(`${base}${name}`, (route) =>
    route.fulfill({
      contentType: 'text/html; charset=utf-8',
      body: `<!doctype html><meta charset="utf-8"><script type="module" src="diffusion-playground.js"></script>${body}`,
    }),
  );
}

/** A small seeded generator (mulberry32), so a failing soak run can be repeated. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function setState(page, partial, sel = EL) {
  return page.evaluate(([sel, partial]) => document.querySelector(sel).setState(partial), [sel, partial]);
}

function lastImage(page, sel = EL) {
  return page.evaluate((sel) => Array.from(document.querySelector(sel).lastImage() ?? []), sel);
}

function maxAbsDiff(a, b) {
  assert(a.length && a.length === b.length, `image lengths ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Waits for the element's run of the current settings to finish (dp-done after `from`). */
async function done(page, from, timeout = 120000) {
  return waitEvent(page, (e) => e.type === 'dp-done' || e.type === 'dp-error', { from, timeout }).then((e) => {
    assert(e.type === 'dp-done', `the run failed: ${JSON.stringify(e.detail)}`);
    return e;
  });
}

export function registerReliabilityTests({ pageTest, notes }) {
  pageTest('engines are freed: a model switch and a removed playground give their GPU buffers back [webgpu]', async ({ context, base }) => {
    await routeFixtures(context);
    await routePage(context, base, 'lifetimes.html', `<${EL} id="a" loading="eager" backend="webgpu" model="models/soak-a" steps="4" batch="4" controls="compact"></${EL}>`);
    const page = await open(context, `${base}lifetimes.html`);
    await done(page, 0);
    const before = await counters(page);
    assert(before.engines === 1 && before.gpuBuffers > 0, `after the first run: ${JSON.stringify(before)}`);
    const params = await page.evaluate(async () => {
      const base = new URL('.', document.querySelector('script[src$="diffusion-playground.js"]').src);
      const { holdEngine } = await import(new URL('engine.js', base).href);
      const hold = holdEngine('models/soak-a', 'webgpu');
      const loaded = await hold.promise;
      const c = loaded.engine.debugCounters();
      hold.release();
      return c.hostParameterBytes;
    });
    assert(params === 0, `a WebGPU engine keeps a ${params}-byte parameter copy in wasm memory`);
    let from = await eventCount(page);
    await setState(page, { model: 'models/soak-b' });
    await done(page, from);
    const switched = await counters(page);
    assert(switched.engines === 1, `after a model switch ${switched.engines} engines are alive`);
    from = await eventCount(page);
    await setState(page, { model: 'models/soak-a' });
    await done(page, from);
    const back = await counters(page);
    assert(back.gpuBuffers === before.gpuBuffers && back.gpuBytes === before.gpuBytes, `back on the first model: ${JSON.stringify(back)} vs ${JSON.stringify(before)}`);
    await page.evaluate(() => document.querySelector('#a').remove());
    await page.waitForFunction(async () => {
      const base = new URL('.', document.querySelector('script[src$="diffusion-playground.js"]').src);
      const wasm = await import(new URL('pkg/diffusion_playground.js', base).href);
      return wasm.debugCounters().gpuBuffers === 0;
    }, null, { timeout: 10000 }).catch(() => {});
    const gone = await counters(page);
    assert(gone.engines === 0 && gone.gpuBuffers === 0 && gone.gpuBytes === 0, `after removing the playground: ${JSON.stringify(gone)}`);
    notes.push(`[lifetimes] tiny fixture, batch 4, WebGPU: ${before.gpuBuffers} GPU buffers (${before.gpuBytes} bytes) while running; 0 after the element was removed`);
  });

  pageTest('a wasm trap: the playground says so with a retry button, the other one loads again, retry runs [webgpu]', async ({ context, base }) => {
    await routeFixtures(context);
    const el = (id) => `<${EL} id="${id}" loading="eager" backend="webgpu" model="models/soak-a" steps="6" batch="1" seed="3" controls="compact"></${EL}>`;
    await routePage(context, base, 'trap.html', el('a') + el('b'));
    const page = await open(context, `${base}trap.html`);
    await waitEvent(page, (e) => e.type === 'dp-done' && e.id === 'a', { timeout: 120000 });
    await waitEvent(page, (e) => e.type === 'dp-done' && e.id === 'b', { timeout: 120000 });
    const before = await lastImage(page, '#a');
    const from = await eventCount(page);
    await page.evaluate(async () => {
      const base = new URL('.', document.querySelector('script[src$="diffusion-playground.js"]').src);
      const wasm = await import(new URL('pkg/diffusion_playground.js', base).href);
      wasm.debugTrapAfter(3);
      document.querySelector('#a').setState({ seed: 4 });
    });
    const err = await waitEvent(page, (e) => e.type === 'dp-error' && e.id === 'a', { from });
    assert(err.detail.crashed && /internal error/.test(err.detail.message), `dp-error: ${JSON.stringify(err.detail)}`);
    const notice = await page.evaluate(() => {
      const n = document.querySelector('#a').shadowRoot.querySelector('.notice');
      return { hidden: n.hidden, text: n.textContent.trim(), retry: Boolean(n.querySelector('button.retry')) };
    });
    assert(!notice.hidden && notice.retry && /restarted/.test(notice.text), `notice: ${JSON.stringify(notice)}`);
    // The other playground lost its engine with the instance and loads it again by itself.
    await waitEvent(page, (e) => e.type === 'dp-done' && e.id === 'b', { from, timeout: 120000 });
    const b = await page.evaluate(() => document.querySelector('#b').dataset.status);
    assert(b === 'done', `#b is ${b}`);
    await page.evaluate(() => document.querySelector('#a').shadowRoot.querySelector('.notice button.retry').click());
    await waitEvent(page, (e) => e.type === 'dp-done' && e.id === 'a', { from, timeout: 120000 });
    await setState(page, { seed: 3 }, '#a');
    const again = await waitEvent(page, (e) => e.type === 'dp-done' && e.id === 'a' && e.detail.settings.seed === 3, { from, timeout: 120000 });
    assert(again, 'no run after the retry');
    const d = maxAbsDiff(before, await lastImage(page, '#a'));
    assert(d <= 1e-6, `seed 3 after the restart differs from before it by ${d}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'trap-recovered.png'), fullPage: true });
  });

  pageTest('a trap in a CPU worker: the playground says so, and retry runs on new workers [cpu]', async ({ context, base }) => {
    await routeFixtures(context);
    await routePage(context, base, 'worker-trap.html', `<${EL} id="a" loading="eager" backend="cpu" model="models/soak-a" steps="8" batch="4" seed="5" controls="compact"></${EL}>`);
    const page = await open(context, `${base}worker-trap.html`);
    const ready = await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 });
    assert(ready.detail.workers >= 1, `no CPU workers here: ${JSON.stringify(ready.detail)}`);
    await done(page, 0);
    const before = await lastImage(page, '#a');
    const from = await eventCount(page);
    await page.evaluate(async () => {
      const base = new URL('.', document.querySelector('script[src$="diffusion-playground.js"]').src);
      const { holdEngine } = await import(new URL('engine.js', base).href);
      const hold = holdEngine('models/soak-a', 'cpu');
      const loaded = await hold.promise;
      await loaded.pool.debugTrapAfter(3);
      hold.release();
      document.querySelector('#a').setState({ seed: 6 });
    });
    const err = await waitEvent(page, (e) => e.type === 'dp-error' && e.id === 'a', { from });
    assert(err.detail.crashed && /internal error/.test(err.detail.message), `dp-error: ${JSON.stringify(err.detail)}`);
    await page.evaluate(() => document.querySelector('#a').shadowRoot.querySelector('.notice button.retry').click());
    const again = await waitEvent(page, (e) => e.type === 'dp-ready' && e.id === 'a', { from });
    assert(again.detail.workers >= 1, `after the retry: ${JSON.stringify(again.detail)}`);
    await waitEvent(page, (e) => e.type === 'dp-done' && e.id === 'a' && e.detail.settings.seed === 6, { from, timeout: 120000 });
    await setState(page, { seed: 5 }, '#a');
    await waitEvent(page, (e) => e.type === 'dp-done' && e.id === 'a' && e.detail.settings.seed === 5, { from, timeout: 120000 });
    const d = maxAbsDiff(before, await lastImage(page, '#a'));
    assert(d <= 1e-6, `seed 5 after the restart differs from before it by ${d}`);
  });

  pageTest('setState() with wrong types is refused with a clear error and the page still runs [cpu]', async ({ context, base }) => {
    await routeFixtures(context);
    await routePage(context, base, 'types.html', `<${EL} id="a" loading="eager" backend="cpu" model="models/soak-a" steps="3" controls="compact"></${EL}>`);
    const page = await open(context, `${base}types.html`);
    await done(page, 0);
    const thrown = await page.evaluate(() =>
      [null, 5, 'steps=3', [1]].map((v) => {
        try {
          document.querySelector('#a').setState(v);
          return null;
        } catch (e) {
          return `${e.name}: ${e.message}`;
        }
      }),
    );
    assert(thrown.every((t) => t && /TypeError: setState takes an object/.test(t)), `setState(bad): ${JSON.stringify(thrown)}`);
    const from = await eventCount(page);
    await setState(page, { steps: true, batch: [4], seed: '9', model: '//evil.example/x', sampler: { a: 1 } });
    const s = await page.evaluate(() => document.querySelector('#a').getState());
    assert(s.steps === 3 && s.batch === 1 && s.seed === 9 && s.model === 'models/soak-a' && s.sampler === 'ddim', `settings: ${JSON.stringify(s)}`);
    await done(page, from);
    // Each refused model says so on the page (what was refused, why, what to write), not only
    // in the console, and the playground keeps its model and still runs.
    const why = { '/abs': /absolute path/, '//host': /another host/, 'models/%2e%2e/x': /percent-escapes/, '..': /"\.\." leaves/, '../models/soak-a': /"\.\." leaves/, 'https:': /scheme/, 'https://example.org/m': /scheme/ };
    for (const [model, re] of Object.entries(why)) {
      await setState(page, { model });
      const r = await page.evaluate(() => {
        const el = document.querySelector('#a');
        const n = el.shadowRoot.querySelector('#settings-notice');
        const box = n.getBoundingClientRect();
        return { model: el.getState().model, hidden: n.hidden, shown: box.width > 0 && box.height > 0, text: n.textContent };
      });
      assert(r.model === 'models/soak-a', `model=${model} was taken: ${r.model}`);
      assert(!r.hidden && r.shown, `no visible notice for model=${model}: ${JSON.stringify(r)}`);
      assert(r.text.includes(JSON.stringify(model)) && re.test(r.text) && /Write a folder path relative to the playground, such as "models\/emoji32"/.test(r.text), `model=${model}: ${r.text}`);
    }
    const fromSeed = await eventCount(page);
    await setState(page, { seed: 5 });
    const d = await done(page, fromSeed);
    assert(d.detail.settings.seed === 5 && d.detail.settings.model === 'models/soak-a', `after the refusals: ${JSON.stringify(d.detail.settings)}`);
    // A valid model choice clears the notice.
    const fromB = await eventCount(page);
    await setState(page, { model: 'models/soak-b' });
    await done(page, fromB);
    assert(await page.evaluate(() => document.querySelector('#a').shadowRoot.querySelector('#settings-notice').hidden), 'the notice stays after a valid model');
  });

  pageTest('a refused model in the URL shows its notice at load and the default model runs [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&model=%2F%2Fevil.example%2Fm&steps=2&batch=1&panels=images`);
    await done(page, 0);
    const r = await page.evaluate(() => {
      const el = document.querySelector('diffusion-playground');
      const n = el.shadowRoot.querySelector('#settings-notice');
      return { model: el.getState().model, hidden: n.hidden, text: n.textContent };
    });
    assert(!r.hidden && /"\/\/evil\.example\/m" was refused: a path that starts with "\/\/" names another host/.test(r.text), JSON.stringify(r));
    assert(r.model === 'models/emoji32', `ran ${r.model}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'refused-model-page.png') });
  });

  pageTest('hostile checkpoints (sample_size 46340, a NaN weight): a notice, then a good model runs [webgpu]', async ({ context, base }) => {
    await routeFixtures(context);
    const { nanTensor } = await routeHostile(context);
    await routePage(context, base, 'hostile.html', `<${EL} id="a" loading="eager" backend="webgpu" model="models/hostile-size" steps="3" controls="compact"></${EL}>`);
    const page = await open(context, `${base}hostile.html`);
    const notice = () =>
      page.evaluate(() => {
        const n = document.querySelector('#a').shadowRoot.querySelector('.notice');
        return { hidden: n.hidden, text: n.textContent.trim(), status: document.querySelector('#a').dataset.status };
      });
    let e = await waitEvent(page, (e) => e.type === 'dp-error' || e.type === 'dp-done', { from: 0, timeout: 120000 });
    assert(e.type === 'dp-error', `sample_size 46340 ran: ${JSON.stringify(e.detail)}`);
    let n = await notice();
    assert(!n.hidden && /46340|sample.?size|too large|limit/i.test(n.text) && n.status === 'error', `sample_size 46340: ${JSON.stringify(n)}`);
    notes.push(`[hostile] sample_size 46340: ${n.text.slice(0, 200)}`);
    let from = await eventCount(page);
    await setState(page, { model: 'models/soak-a' });
    await done(page, from);
    assert((await notice()).hidden, 'the notice stays after a good model ran');
    from = await eventCount(page);
    await setState(page, { model: 'models/hostile-nan' });
    e = await waitEvent(page, (e) => e.type === 'dp-error' || e.type === 'dp-done', { from, timeout: 120000 });
    assert(e.type === 'dp-error', `a NaN weight ran: ${JSON.stringify(e.detail)}`);
    n = await notice();
    assert(!n.hidden && (/NaN|finite/i.test(n.text) || n.text.includes(nanTensor)), `NaN weight (${nanTensor}): ${JSON.stringify(n)}`);
    notes.push(`[hostile] NaN in ${nanTensor}: ${n.text.slice(0, 200)}`);
    from = await eventCount(page);
    await setState(page, { model: 'models/soak-b', seed: 4 });
    const d = await done(page, from);
    assert(d.detail.settings.model === 'models/soak-b' && (await notice()).hidden, `after the NaN checkpoint: ${JSON.stringify(d.detail.settings)}`);
    const img = await lastImage(page, '#a');
    assert(img.length === 12 * 12 && img.every(Number.isFinite), `the good model's image: ${img.length} values`);
  });

  pageTest('soak: 1,000 random control changes with model switches; same image as a fresh run, flat GPU buffers and wasm memory, under 600 s [webgpu]', async ({ context, base }) => {
    const started = Date.now();
    await routeFixtures(context);
    const page = await open(context, `${base}index.html?backend=webgpu&model=models/soak-a&sampler=ddim&steps=4&batch=1&seed=1`);
    await done(page, 0);
    const random = rng(16);
    const pick = (xs) => xs[Math.floor(random() * xs.length)];
    // The same settings at the two measurements, so the sessions alive then are alike.
    const checkpoint = { model: 'models/soak-a', sampler: 'ddim', steps: 5, eta: 0, seed: 11, batch: 4, side: false, view: 'x0' };
    const measure = async () => {
      const from = await eventCount(page);
      await setState(page, checkpoint);
      await page.evaluate(() => document.querySelector('diffusion-playground').run()); // even if nothing changed
      await done(page, from);
      return counters(page);
    };
    let at200 = null;
    let switches = 0;
    let waits = 0;
    let waitMs = 0;
    const t0 = Date.now();
    for (let i = 1; i <= 1000; i++) {
      const change = pick([
        () => ({ sampler: pick(['ddpm', 'ddim']) }),
        () => ({ steps: 1 + Math.floor(random() * 6) }),
        () => ({ eta: Math.round(random() * 100) / 100 }),
        () => ({ seed: Math.floor(random() * 1000) }),
        () => ({ batch: pick([1, 4]) }),
        () => ({ side: random() < 0.5 }),
        () => ({ view: pick(['x0', 'sample']) }),
        () => ({ variance: pick(['fixed_small', 'fixed_large']) }),
      ])();
      if (random() < 0.015) {
        Object.assign(change, { model: pick(['models/soak-a', 'models/soak-b']) });
        switches++;
      }
      const from = await eventCount(page);
      await setState(page, change);
      if (i % 250 === 0 || change.model) {
        const w0 = Date.now();
        await page.evaluate(() => document.querySelector('diffusion-playground').run()); // even if nothing changed
        await done(page, from); // let some runs (and every model load) finish
        waits++;
        waitMs += Date.now() - w0;
      } else {
        await page.waitForTimeout(Math.floor(random() * 25));
      }
      if (i === 200) at200 = await measure();
    }
    const at1000 = await measure();
    const final = { model: 'models/soak-b', sampler: 'ddpm', steps: 5, eta: 0, seed: 77, batch: 4, side: false, variance: 'fixed_large', view: 'x0' };
    let from = await eventCount(page);
    await setState(page, final);
    await done(page, from);
    const soaked = await lastImage(page);
    const secs = (Date.now() - t0) / 1000;
    // A fresh page with the final settings must give the same image.
    const fresh = await open(context, `${base}index.html?backend=webgpu&model=models/soak-b&sampler=ddpm&steps=5&seed=77&batch=4&variance=fixed_large`);
    await done(fresh, 0);
    const d = maxAbsDiff(soaked, await lastImage(fresh));
    assert(d <= 1e-5, `the image after the soak differs from a fresh run's by ${d}`);
    // Stated margins: GPU buffers exactly as many (and as many bytes); wasm memory at most 8 MiB more.
    const grew = at1000.wasmBytes - at200.wasmBytes;
    notes.push(
      `[soak] 1,000 changes (${switches} model switches, ${waits} waits for a finished run, ${(waitMs / 1000).toFixed(0)} s of them) in ${secs.toFixed(0)} s: ` +
        `at the 200th ${at200.gpuBuffers} GPU buffers / ${at200.gpuBytes} B, wasm ${(at200.wasmBytes / 2 ** 20).toFixed(1)} MiB; ` +
        `at the 1,000th ${at1000.gpuBuffers} / ${at1000.gpuBytes} B, wasm ${(at1000.wasmBytes / 2 ** 20).toFixed(1)} MiB; ` +
        `${at1000.engines} engine(s) alive; final image vs a fresh run: max |diff| ${d}`,
    );
    assert(at1000.engines === 1, `${at1000.engines} engines alive after the soak (one model shown)`);
    assert(at1000.gpuBuffers === at200.gpuBuffers && at1000.gpuBytes === at200.gpuBytes, `GPU buffers grew: ${JSON.stringify(at200)} -> ${JSON.stringify(at1000)}`);
    assert(grew <= WASM_MARGIN, `wasm memory grew by ${grew} bytes between the 200th and the 1,000th change`);
    // Bounded: the README's test command runs it, so it must stay a few minutes on this VM.
    const total = (Date.now() - started) / 1000;
    assert(total < SOAK_LIMIT_S, `the soak took ${total.toFixed(0)} s (the bound is ${SOAK_LIMIT_S} s)`);
  });

  pageTest('CPU soak: 400 random control changes on Web Workers; same image as a fresh run, the workers\' wasm memory and sessions flat, under 240 s [cpu]', async ({ context, base }) => {
    const started = Date.now();
    await routeFixtures(context);
    const page = await open(context, `${base}index.html?backend=cpu&workers=2&model=models/soak-a&sampler=ddim&steps=4&batch=1&seed=1`);
    await done(page, 0);
    const workers = () =>
      page.evaluate(async () => {
        const base = new URL('.', document.querySelector('script[src$="diffusion-playground.js"]').src);
        const { holdEngine } = await import(new URL('engine.js', base).href);
        const wasm = await import(new URL('pkg/diffusion_playground.js', base).href);
        const hold = holdEngine('models/soak-a', 'cpu');
        try {
          const loaded = await hold.promise;
          return { page: wasm.debugCounters().wasmBytes, workers: loaded.pool ? await loaded.pool.debugCounters() : null };
        } finally {
          hold.release();
        }
      });
    const random = rng(17);
    const pick = (xs) => xs[Math.floor(random() * xs.length)];
    const checkpoint = { sampler: 'ddim', steps: 5, eta: 0, seed: 11, batch: 4, side: false, view: 'x0' };
    const measure = async () => {
      const from = await eventCount(page);
      await setState(page, checkpoint);
      await page.evaluate(() => document.querySelector('diffusion-playground').run());
      await done(page, from);
      return workers();
    };
    let at100 = null;
    for (let i = 1; i <= 400; i++) {
      const change = pick([
        () => ({ sampler: pick(['ddpm', 'ddim', 'dpmpp2m']) }),
        () => ({ steps: 1 + Math.floor(random() * 6) }),
        () => ({ eta: Math.round(random() * 100) / 100 }),
        () => ({ seed: Math.floor(random() * 1000) }),
        () => ({ batch: pick([1, 4]) }),
        () => ({ side: random() < 0.5 }),
        () => ({ view: pick(['x0', 'sample']) }),
        () => ({ clip: pick(['checkpoint', 'off']) }),
      ])();
      const from = await eventCount(page);
      await setState(page, change);
      if (i % 100 === 0) {
        await page.evaluate(() => document.querySelector('diffusion-playground').run());
        await done(page, from);
      } else {
        await page.waitForTimeout(Math.floor(random() * 25));
      }
      if (i === 100) at100 = await measure();
    }
    const at400 = await measure();
    const final = { sampler: 'ddpm', steps: 5, eta: 0, seed: 77, batch: 4, side: false, variance: 'fixed_large', clip: 'checkpoint', view: 'x0' };
    const from = await eventCount(page);
    await setState(page, final);
    await done(page, from);
    const soaked = await lastImage(page);
    const fresh = await open(context, `${base}index.html?backend=cpu&workers=2&model=models/soak-a&sampler=ddpm&steps=5&seed=77&batch=4&variance=fixed_large`);
    await done(fresh, 0);
    const d = maxAbsDiff(soaked, await lastImage(fresh));
    const total = (Date.now() - started) / 1000;
    notes.push(
      `[cpu soak] 400 changes in ${total.toFixed(0)} s: at the 100th page wasm ${(at100.page / 2 ** 20).toFixed(1)} MiB, workers ${JSON.stringify(at100.workers?.map((w) => [w.wasmBytes, w.sessions]))}; ` +
        `at the 400th ${(at400.page / 2 ** 20).toFixed(1)} MiB, ${JSON.stringify(at400.workers?.map((w) => [w.wasmBytes, w.sessions]))}; final image vs a fresh run ${d}`,
    );
    assert(d <= 1e-5, `the image after the CPU soak differs from a fresh run's by ${d}`);
    assert(at100.workers && at100.workers.length === 2 && at400.workers?.length === 2, `the CPU backend ran without its 2 workers: ${JSON.stringify(at400)}`);
    assert(at400.page - at100.page <= WASM_MARGIN, `the page's wasm memory grew by ${at400.page - at100.page} bytes`);
    at400.workers.forEach((w, k) => {
      const before = at100.workers[k];
      assert(w.wasmBytes - before.wasmBytes <= WASM_MARGIN, `worker ${k}'s wasm memory grew by ${w.wasmBytes - before.wasmBytes} bytes between the 100th and the 400th change`);
      assert(w.sessions === before.sessions, `worker ${k} holds ${w.sessions} sessions at the 400th change, ${before.sessions} at the 100th`);
    });
    assert(total < CPU_SOAK_LIMIT_S, `the CPU soak took ${total.toFixed(0)} s (the bound is ${CPU_SOAK_LIMIT_S} s)`);
  });
}
