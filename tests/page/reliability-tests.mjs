// The page tests of issue 16 (reliability), on the tiny fixture models: engines and sessions
// are freed (GPU buffers, the engine's parameter copy), a wasm trap is recovered from (the
// playground that trapped says so with a retry button, another on the page loads again), bad
// setState() calls are refused with the page still working, and the soak test: 1,000 random
// control changes with model switches, after which the image equals a fresh run's and the GPU
// buffers and wasm memory have not grown since the 200th change. Registered by run.mjs.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, ROOT, assert, eventCount, open, waitEvent } from './harness.mjs';

const EL = 'diffusion-playground';
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
    for (const model of ['/abs', '//host', 'models/%2e%2e/x', '../models/soak-a', 'https://example.org/m']) {
      await setState(page, { model });
      const now = await page.evaluate(() => document.querySelector('#a').getState().model);
      assert(now === 'models/soak-a', `model=${model} was taken: ${now}`);
    }
  });

  pageTest('soak: 1,000 random control changes with model switches; same image as a fresh run, flat GPU buffers and wasm memory [webgpu]', async ({ context, base }) => {
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
        await page.evaluate(() => document.querySelector('diffusion-playground').run()); // even if nothing changed
        await done(page, from); // let some runs (and every model load) finish
        waits++;
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
      `[soak] 1,000 changes (${switches} model switches, ${waits} waits for a finished run) in ${secs.toFixed(0)} s: ` +
        `at the 200th ${at200.gpuBuffers} GPU buffers / ${at200.gpuBytes} B, wasm ${(at200.wasmBytes / 2 ** 20).toFixed(1)} MiB; ` +
        `at the 1,000th ${at1000.gpuBuffers} / ${at1000.gpuBytes} B, wasm ${(at1000.wasmBytes / 2 ** 20).toFixed(1)} MiB; ` +
        `${at1000.engines} engine(s) alive; final image vs a fresh run: max |diff| ${d}`,
    );
    assert(at1000.engines === 1, `${at1000.engines} engines alive after the soak (one model shown)`);
    assert(at1000.gpuBuffers === at200.gpuBuffers && at1000.gpuBytes === at200.gpuBytes, `GPU buffers grew: ${JSON.stringify(at200)} -> ${JSON.stringify(at1000)}`);
    assert(grew <= 8 * 2 ** 20, `wasm memory grew by ${grew} bytes between the 200th and the 1,000th change`);
  });
}
