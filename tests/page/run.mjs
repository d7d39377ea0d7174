// Browser tests of the playground page (www/) in headless Chromium with WebGPU on SwiftShader.
// Most run twice, with backend=webgpu and backend=cpu ("NAME [webgpu]", "NAME [cpu]";
// DP_PAGE_BACKENDS=cpu runs one set); backend-tests.mjs has the tests of the backend choice,
// panels-tests.mjs those of the step anatomy, schedule and branch panels (on the CPU backend),
// ops-tests.mjs those of DPM-Solver++, inversion, interpolation and inpainting (issue 15).
//
//   PAGE_URL=http://127.0.0.1:8080/ node tests/page/run.mjs     # against a running server
//   node tests/page/run.mjs                                     # starts `cargo xtask serve`
//   node tests/page/run.mjs --only embed                        # tests whose name has "embed"
//   DP_DIST_DIR=target/page-dist node tests/page/run.mjs        # the "[dist]" tests need a folder
//                                                               # made by `cargo xtask dist --out DIR`
//
// embed-tests.mjs has the tests of embedding in blogs on other origins (CORS, CSP, fallback
// content, lazy start); cache-tests.mjs those of the weights' cache freshness (a copy of
// DP_WEB_DIR, default target/web, on a static host).
// One line per test, then "N passed, M failed"; exit status 1 on any failure. Screenshots go to
// artifacts/ (gitignored). The pure-JS modules (url-state, controls, frames, run-loop) are tested
// in Node by tests/page/unit.mjs.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { registerBackendTests } from './backend-tests.mjs';
import { registerCacheTests } from './cache-tests.mjs';
import { registerEmbedTests } from './embed-tests.mjs';
import { registerOpsTests } from './ops-tests.mjs';
import { registerPanelTests } from './panels-tests.mjs';
import { registerReliabilityTests } from './reliability-tests.mjs';
import {
  ARTIFACTS,
  CHROMIUM,
  COMMON_FLAGS,
  WEBGPU_FLAGS,
  assert,
  eventCount,
  events,
  newContext,
  open,
  runTests,
  startServer,
  waitEvent,
} from './harness.mjs';

/** The element's test hooks, as plain data. */
function state(page, sel = 'diffusion-playground') {
  return page.evaluate((sel) => document.querySelector(sel).getState(), sel);
}

function tensorStats(page, expr, sel = 'diffusion-playground') {
  return page.evaluate(
    ([sel, expr]) => {
      const el = document.querySelector(sel);
      const x = new Function('el', `return ${expr}`)(el);
      if (!x) return null;
      let finite = true;
      let min = Infinity;
      let max = -Infinity;
      let sum = 0;
      let sq = 0;
      for (const v of x) {
        if (!Number.isFinite(v)) finite = false;
        min = Math.min(min, v);
        max = Math.max(max, v);
        sum += v;
        sq += v * v;
      }
      const mean = sum / x.length;
      return { n: x.length, finite, min, max, mean, std: Math.sqrt(Math.max(0, sq / x.length - mean * mean)), values: Array.from(x) };
    },
    [sel, expr],
  );
}

/**
 * Every canvas inside the playground(s) that the reader can see: {visible, content} where
 * content means at least one non-transparent, non-uniform pixel. Hidden ones are skipped.
 */
function visibleCanvases(page, sel = 'diffusion-playground') {
  return page.evaluate((sel) => {
    const out = [];
    for (const el of document.querySelectorAll(sel)) {
      for (const c of el.shadowRoot.querySelectorAll('canvas')) {
        const r = c.getBoundingClientRect();
        const style = getComputedStyle(c);
        if (r.width === 0 || r.height === 0 || style.display === 'none' || style.visibility === 'hidden') continue;
        let content = false;
        if (c.width && c.height) {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] !== 0 && (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2])) {
              content = true;
              break;
            }
          }
        }
        out.push({ id: c.id || c.closest('figure')?.className || '', width: c.width, height: c.height, content });
      }
    }
    return out;
  }, sel);
}

function sameArrays(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Records in window.__inputAt the page time of the first `type` event on the playground's
 * `sel` (what the reader did), so a test counts what happened after it on the page's clock:
 * Playwright's own round trips wait for the page's tasks, and a CPU step is one.
 */
function markFirstInput(page, sel, type) {
  return page.evaluate(
    ([sel, type]) => {
      window.__inputAt = null;
      const el = document.querySelector('diffusion-playground').shadowRoot.querySelector(sel);
      el.addEventListener(type, () => (window.__inputAt ??= performance.now()), { capture: true });
    },
    [sel, type],
  );
}

/** The dp-* events logged after the marked input (markFirstInput). */
async function eventsAfterInput(page) {
  return page.evaluate(() => window.__dp.filter((e) => window.__inputAt !== null && e.t > window.__inputAt));
}

function noErrors(page) {
  assert(page.errors.length === 0, `console errors: ${page.errors.join(' | ')}`);
}

// ----- tests -------------------------------------------------------------------------------------

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
/** A test in a fresh browser context (made with `options`), closed after it: fn({context, base}). */
const pageTest = (name, fn, options = {}) =>
  test(name, async ({ browser, base }) => {
    const context = await newContext(browser, options);
    try {
      await fn({ context, base });
    } finally {
      await context.close();
    }
  });
const notes = [];

/** The backends the page tests run on (DP_PAGE_BACKENDS=cpu runs only the CPU variants). */
const BACKENDS = (process.env.DP_PAGE_BACKENDS || 'webgpu,cpu').split(',').map((b) => b.trim());
/** A page test run once per backend (named "NAME [webgpu]", "NAME [cpu]"): fn({context, base, backend}). */
const bothTest = (name, fn, options = {}) => {
  for (const backend of BACKENDS) pageTest(`${name} [${backend}]`, (env) => fn({ ...env, backend }), options);
};

/** Serves the pages matching `glob` with backend="…" on every playground and iframe in them. */
function forceBackend(context, glob, backend) {
  return context.route(glob, async (route) => {
    const r = await route.fetch();
    const html = (await r.text())
      .replace(/<diffusion-playground /g, `<diffusion-playground backend="${backend}" `)
      .replace(/(<iframe\b[^>]*\ssrc=")embed\.html\?/g, `$1embed.html?backend=${backend}&amp;`);
    await route.fulfill({ response: r, body: html });
  });
}

/** Every playground on the page (or those matching `sel`) reports running on `backend`. */
async function onBackend(page, backend, sel = 'diffusion-playground') {
  const got = await page.evaluate((sel) => [...document.querySelectorAll(sel)].map((el) => el.dataset.backend), sel);
  assert(got.length && got.every((b) => b === backend), `playgrounds run on ${JSON.stringify(got)}, wanted ${backend}`);
}

bothTest('page loads with no console errors (index.html)', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&sampler=ddim&steps=6&seed=3&batch=4`);
  await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
  await page.waitForTimeout(200);
  noErrors(page);
  await onBackend(page, backend);
  const canvases = await visibleCanvases(page);
  assert(canvases.length >= 4, `expected the grid, filmstrip and forward-process canvases, saw ${canvases.length}`);
  const blank = canvases.filter((c) => !c.content);
  assert(!blank.length, `blank canvases: ${JSON.stringify(blank)}`);
  await page.screenshot({ path: path.join(ARTIFACTS, `index-${backend}.png`), fullPage: true });
});

bothTest('DDIM 10 steps with a fixed seed gives a finite, non-blank, reproducible image', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&sampler=ddim&steps=10&eta=0&seed=42&batch=1`);
  const ready = await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 });
  const first = await waitEvent(page, (e) => e.type === 'dp-step');
  const done = await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
  assert(done.detail.settings.steps === 10 && done.detail.settings.sampler === 'ddim', JSON.stringify(done.detail.settings));
  const img = await tensorStats(page, 'el.lastImage()');
  assert(img && img.finite, 'lastImage() is missing or not finite');
  assert(img.n === (await page.evaluate(() => document.querySelector('diffusion-playground').initialSample().length)), 'size');
  assert(img.std > 1e-3, `image is constant (std ${img.std})`);
  assert(img.min >= -1.0001 && img.max <= 1.0001, `out of [-1, 1]: ${img.min}..${img.max}`);
  const canvases = await visibleCanvases(page);
  assert(canvases.every((c) => c.content), 'a blank canvas is shown');
  const timings = await page.evaluate(() => document.querySelector('diffusion-playground').timings);
  assert(ready.detail.backend === backend && ready.detail.reason === `asked for by backend=${backend}`, `dp-ready: ${ready.detail.backend}, ${ready.detail.reason}`);
  notes.push(
    `[${backend}] DDIM 10, batch 1, ${ready.detail.model}: engine ready ${ready.t.toFixed(0)} ms after navigation, first step drawn at ` +
      `${first.t.toFixed(0)} ms, run done at ${done.t.toFixed(0)} ms; ${done.detail.msPerStep.toFixed(1)} ms/step ` +
      `(x_T drawn ${timings.firstImage?.toFixed(0)} ms after the run started; ${ready.detail.executor})`,
  );
  // DDIM with eta = 0 is deterministic: the same settings give the same image.
  const n = await eventCount(page);
  await page.locator('diffusion-playground #run').click();
  await waitEvent(page, (e) => e.type === 'dp-done', { from: n, timeout: 120000 });
  const again = await tensorStats(page, 'el.lastImage()');
  assert(sameArrays(img.values, again.values), 'a second run with the same settings gave another image');
  noErrors(page);
});

bothTest('switching sampler keeps x_T (same seed, same starting noise)', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&sampler=ddim&steps=2&seed=11&batch=4`);
  await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
  // The model's sample shape from its own config.json, not from the page.
  const config = await (await fetch(new URL(`${(await state(page)).model}/config.json`, base))).json();
  const size = Array.isArray(config.sample_size) ? config.sample_size : [config.sample_size, config.sample_size];
  const imageLen = config.in_channels * size[0] * size[1];
  const xDdim = await tensorStats(page, 'el.initialSample()');
  const imgDdim = await tensorStats(page, 'el.lastImage()');
  const n = await eventCount(page);
  await page.locator('diffusion-playground label:has(input[name="sampler"][value="ddpm"])').click();
  const done = await waitEvent(page, (e) => e.type === 'dp-done', { from: n, timeout: 120000 });
  assert(done.detail.settings.sampler === 'ddpm', `ran ${done.detail.settings.sampler}`);
  const xDdpm = await tensorStats(page, 'el.initialSample()');
  const imgDdpm = await tensorStats(page, 'el.lastImage()');
  assert(xDdim.n === 4 * imageLen, `x_T has ${xDdim.n} values, not 4 images of ${config.in_channels}x${size.join('x')}`);
  assert(xDdim.std > 0.5, `x_T does not look like noise (std ${xDdim.std})`);
  assert(sameArrays(xDdim.values, xDdpm.values), 'x_T differs between DDIM and DDPM');
  assert(!sameArrays(imgDdim.values, imgDdpm.values), 'DDPM and DDIM gave identical final images');
  // A new seed changes x_T.
  const m = await eventCount(page);
  await page.locator('diffusion-playground #new-seed').click();
  await waitEvent(page, (e) => e.type === 'dp-step', { from: m });
  const xNew = await tensorStats(page, 'el.initialSample()');
  assert(!sameArrays(xNew.values, xDdpm.values), 'a new seed kept the same x_T');
  noErrors(page);
});

bothTest('dragging the steps slider mid-run cancels it; the final image matches the last setting', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&sampler=ddim&steps=400&seed=5&batch=1`);
  const running = await waitEvent(page, (e) => e.type === 'dp-step' && e.detail.n === 400 && e.detail.i >= 2, { timeout: 120000 });
  const later = await waitEvent(page, (e) => e.type === 'dp-step' && e.detail.n === 400 && e.detail.i >= running.detail.i + 4, { timeout: 120000 });
  // Long pauses let an intermediate run take a step or two but not finish (they have tens of
  // steps): scale them to this device's speed, timed between warm steps (the running mean
  // still holds the first step's compilation). A fixed 1.5 s floor let the CPU backend (about
  // 20 ms a step) finish a 73-step run inside one on CI, which is correct behaviour, not a
  // missed cancel; 12 steps' time still leaves a new run room to start.
  const ms = Math.max(1, (later.t - running.t) / (later.detail.i - running.detail.i));
  const long = Math.round(Math.max(2.5 * ms, Math.min(1500, 12 * ms)));
  const n = await eventCount(page);
  await markFirstInput(page, '#steps', 'input');
  const slider = page.locator('diffusion-playground #steps');
  const box = await slider.boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.4, y);
  await page.mouse.down();
  // Pause at some points long enough for the intermediate runs to start (and be cancelled).
  for (const [f, pause] of [[0.35, 50], [0.3, long], [0.2, 50], [0.12, long], [0.07, 100]]) {
    await page.mouse.move(box.x + box.width * f, y, { steps: 3 });
    await page.waitForTimeout(pause);
  }
  await page.mouse.up();
  const final = Number(await slider.inputValue());
  assert(final < 400, `the drag did not move the slider (${final})`);
  const done = await waitEvent(page, (e) => e.type === 'dp-done', { from: n, timeout: 120000 });
  const after = await events(page, n);
  const dones = after.filter((e) => e.type === 'dp-done');
  assert(dones.length === 1, `${dones.length} runs finished after the drag (only the last setting should)`);
  assert(done.detail.settings.steps === final, `finished with ${done.detail.settings.steps} steps, slider says ${final}`);
  assert((await state(page)).steps === final, 'getState() disagrees with the slider');
  assert(new URL(page.url()).searchParams.get('steps') === String(final), `URL says steps=${new URL(page.url()).searchParams.get('steps')}`);
  const old = (await eventsAfterInput(page)).filter((e) => e.type === 'dp-step' && e.detail.n === 400);
  assert(old.length <= 1, `the 400-step run went on for ${old.length} steps after the drag began`);
  // Runs never interleave: the steps after the drag form blocks (one per run, cut short when
  // cancelled), and the last block is the whole run of the final setting, in order.
  const blocks = [];
  for (const e of after.filter((e) => e.type === 'dp-step')) {
    const last = blocks.at(-1);
    if (last && last.n === e.detail.n && e.detail.i === last.is.at(-1) + 1) last.is.push(e.detail.i);
    else blocks.push({ n: e.detail.n, is: [e.detail.i] });
  }
  const lastBlock = blocks.at(-1);
  assert(lastBlock.n === final && lastBlock.is.length === final && lastBlock.is[0] === 0, `last run: ${JSON.stringify(lastBlock)}`);
  assert(blocks.slice(0, -1).every((b) => b.is[0] === 0 || b.n === 400), `a run resumed after another started: ${JSON.stringify(blocks.map((b) => [b.n, b.is[0], b.is.length]))}`);
  notes.push(`slider drag: ${blocks.length - 1} superseded run(s) (${blocks.slice(0, -1).map((b) => `${b.n}:${b.is.length} steps`).join(', ')}) before the final ${final}-step run`);
  const img = await tensorStats(page, 'el.lastImage()');
  // The image is the one these settings give: a fresh page with them reproduces it.
  const page2 = await open(context, `${base}index.html?backend=${backend}&sampler=ddim&steps=${final}&seed=5&batch=1`);
  await waitEvent(page2, (e) => e.type === 'dp-done', { timeout: 120000 });
  const ref = await tensorStats(page2, 'el.lastImage()');
  assert(sameArrays(img.values, ref.values), 'the final image is not the one its settings give');
  noErrors(page);
});

bothTest('eta is disabled under DDPM and enabled under DDIM; radios work by keyboard', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&sampler=ddim&steps=3&seed=1`);
  await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 });
  const eta = page.locator('diffusion-playground #eta');
  assert(await eta.isEnabled(), 'eta disabled under DDIM');
  assert(await page.locator('diffusion-playground #variance-field').evaluate((f) => f.disabled), 'variance enabled under DDIM');
  // Keyboard: focus the checked DDIM radio and press ArrowLeft to choose DDPM.
  await page.locator('diffusion-playground input[name="sampler"][value="ddim"]').focus();
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => document.querySelector('diffusion-playground').getState().sampler === 'ddpm');
  assert(!(await eta.isEnabled()), 'eta enabled under DDPM');
  assert(await page.locator('diffusion-playground #eta-field').evaluate((f) => f.classList.contains('disabled') && getComputedStyle(f).opacity < 1), 'eta field not visibly disabled');
  assert(!(await page.locator('diffusion-playground #variance-field').evaluate((f) => f.disabled)), 'variance disabled under DDPM');
  await page.locator('diffusion-playground label:has(input[value="ddim"])').click();
  assert(await eta.isEnabled(), 'eta still disabled after switching back to DDIM');
  // Every form control has an accessible name.
  const unlabelled = await page.evaluate(() => {
    const root = document.querySelector('diffusion-playground').shadowRoot;
    return [...root.querySelectorAll('input, select, textarea, button')]
      .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim() || el.getAttribute('aria-labelledby')))
      .map((el) => el.outerHTML.slice(0, 80));
  });
  assert(!unlabelled.length, `unlabelled controls: ${unlabelled.join(' | ')}`);
  noErrors(page);
});

bothTest('URL state round-trips (open a link, change a control, reload)', async ({ context, base, backend }) => {
  const models = await (await fetch(`${base}models/index.json`)).json();
  const model = `models/${models[0]}`;
  const q = `sampler=ddpm&steps=7&eta=0.3&seed=123&batch=4&variance=fixed_large&model=${model}`;
  const page = await open(context, `${base}index.html?backend=${backend}&${q}`);
  await waitEvent(page, (e) => e.type === 'dp-step', { timeout: 120000 });
  const s = await state(page);
  const want = { sampler: 'ddpm', steps: 7, eta: 0.3, seed: 123, batch: 4, variance: 'fixed_large', model };
  for (const [k, v] of Object.entries(want)) assert(s[k] === v, `${k}: ${s[k]} != ${v}`);
  assert((await page.locator('diffusion-playground #steps-num').inputValue()) === '7', 'steps control not restored');
  assert(await page.locator('diffusion-playground input[name="variance"][value="fixed_large"]').isChecked(), 'variance control not restored');
  assert(await page.locator('diffusion-playground input[name="batch"][value="4"]').isChecked(), 'batch control not restored');
  // Change the seed through its field: the address follows, and a reload restores it.
  await page.locator('diffusion-playground #seed').fill('987');
  await page.locator('diffusion-playground #seed').press('Enter');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('seed') === '987');
  const share = await page.evaluate(() => document.querySelector('diffusion-playground').shareUrl());
  await page.reload();
  await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 });
  const r = await state(page);
  assert(r.seed === 987 && r.sampler === 'ddpm' && r.steps === 7 && r.variance === 'fixed_large', `after reload: ${JSON.stringify(r)}`);
  const page2 = await open(context, share);
  await waitEvent(page2, (e) => e.type === 'dp-ready', { timeout: 120000 });
  assert(JSON.stringify(await state(page2)) === JSON.stringify(r), 'the share link does not restore the same state');
  noErrors(page);
});

bothTest('weights are cached for the next visit (Cache API)', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&steps=1`);
  const a = await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 });
  assert(a.detail.fromCache === false, 'first visit claims a cache hit');
  await page.reload();
  const b = await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 });
  assert(b.detail.fromCache === true, 'second visit downloaded the weights again');
  noErrors(page);
});

bothTest('side by side runs DDPM and DDIM from the same x_T', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&side=1&steps=5&seed=9&batch=1`);
  await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
  const a = await tensorStats(page, 'el.initialSample(0)');
  const b = await tensorStats(page, 'el.initialSample(1)');
  assert(sameArrays(a.values, b.values), 'the two samplers started from different x_T');
  const lanes = await page.locator('diffusion-playground .lane canvas').count();
  assert(lanes === 2, `${lanes} image panels`);
  const steps = await events(page);
  const samplers = new Set(steps.filter((e) => e.type === 'dp-step').map((e) => e.detail.sampler));
  assert(samplers.has('ddpm') && samplers.has('ddim'), `steps from ${[...samplers]}`);
  noErrors(page);
});

bothTest('live view toggle, filmstrip (~10 frames) and timeline scrubbing', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&sampler=ddim&steps=25&seed=4&batch=1&view=x0`);
  await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
  const frames = await page.locator('diffusion-playground .film-row[data-view="x0"] .film-frame').count();
  assert(frames === 10, `filmstrip has ${frames} frames`);
  const timeline = page.locator('diffusion-playground #timeline');
  assert(await timeline.isEnabled(), 'timeline disabled after the run');
  assert((await timeline.getAttribute('max')) === '25', `timeline max ${await timeline.getAttribute('max')}`);
  const pixels = () => page.locator('diffusion-playground .lane canvas').evaluate((c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data));
  const end = await pixels();
  await timeline.focus();
  await page.keyboard.press('Home');
  assert((await timeline.getAttribute('aria-valuetext')) === 'x_T', `at Home the timeline shows ${await timeline.getAttribute('aria-valuetext')}`);
  const start = await pixels();
  assert(!sameArrays(start, end), 'scrubbing to x_T did not change the image');
  await page.keyboard.press('End');
  await page.locator('diffusion-playground label:has(input[name="view"][value="sample"])').click();
  const n = await eventCount(page);
  await page.waitForTimeout(300);
  assert((await eventCount(page)) === n, 'changing the view restarted the run');
  await page.locator('diffusion-playground .film-row[data-view="x0"] .film-frame').first().click();
  assert((await state(page)).view === 'x0', 'clicking a predicted-x_0 frame did not switch the view');
  // Both downloads are PNG files.
  for (const button of ['#dl-grid', '#dl-film']) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator(`diffusion-playground ${button}`).click()]);
    const file = await download.path();
    const { readFileSync } = await import('node:fs');
    const head = readFileSync(file).subarray(0, 8).toString('hex');
    assert(head === '89504e470d0a1a0a' && download.suggestedFilename().endsWith('.png'), `${button}: ${download.suggestedFilename()} ${head}`);
  }
  noErrors(page);
});

bothTest('the embed example renders two independent playgrounds and the iframe', async ({ context, base, backend }) => {
  await forceBackend(context, '**/embed-example.html', backend);
  const page = await open(context, `${base}embed-example.html`);
  // Three playgrounds share the software GPU here (105-150 s for this test on an idle 2-core
  // machine; a DDIM step took ~25 s with the other two running, so cancelling one and taking the
  // next can pass 60 s), so the waits allow 240 s; what they wait for is unchanged.
  await waitEvent(page, (e) => e.type === 'dp-step' && e.id === 'ddim' && e.detail.i >= 4, { timeout: 240000 });
  await waitEvent(page, (e) => e.type === 'dp-step' && e.id === 'ddpm' && e.detail.i >= 3, { timeout: 240000 });
  const a = await state(page, '#ddpm');
  const b = await state(page, '#ddim');
  assert(a.sampler === 'ddpm' && a.steps === 1000 && b.sampler === 'ddim' && b.steps === 50, `${JSON.stringify(a)} / ${JSON.stringify(b)}`);
  const compact = await page.locator('#ddpm').evaluate((el) => ['#variance-field', '#side', '.forward', '#snippet'].filter((q) => el.shadowRoot.querySelector(q)));
  assert(!compact.length, `compact mode shows ${compact.join(', ')}`);
  // One engine: the weights were fetched once for both playgrounds.
  const fetches = await page.evaluate(() => performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.safetensors')).length);
  assert(fetches === 1, `weights fetched ${fetches} times for two playgrounds`);
  // Independent: changing the DDIM one's seed leaves the DDPM run going.
  const n = await eventCount(page);
  await page.locator('#ddim #seed').fill('99');
  await page.locator('#ddim #seed').press('Enter');
  await waitEvent(page, (e) => e.type === 'dp-step' && e.id === 'ddim', { from: n, timeout: 240000 });
  assert((await state(page, '#ddpm')).seed === 7 && (await state(page, '#ddim')).seed === 99, 'seeds are not independent');
  const ddpmSteps = (await events(page, n)).filter((e) => e.type === 'dp-step' && e.id === 'ddpm').map((e) => e.detail.i);
  await waitEvent(page, (e) => e.type === 'dp-step' && e.id === 'ddpm', { from: await eventCount(page), timeout: 240000 });
  assert(!ddpmSteps.includes(0), 'changing one playground restarted the other');
  // The host's stylesheet hides canvases and unstyles buttons; the shadow roots are unaffected.
  const canvases = await visibleCanvases(page, '#ddpm, #ddim');
  assert(canvases.length === 2 && canvases.every((c) => c.content), `canvases: ${JSON.stringify(canvases)}`);
  const frame = page.frameLocator('#frame');
  await frame.locator('diffusion-playground[data-status="done"]').waitFor({ timeout: 240000 });
  const inFrame = await frame.locator('diffusion-playground').evaluate((el) => ({ s: el.getState(), controls: el.shadowRoot.querySelectorAll('input').length, on: el.dataset.backend }));
  assert(inFrame.s.steps === 10 && inFrame.s.seed === 3 && inFrame.s.batch === 4 && inFrame.controls === 0, JSON.stringify(inFrame));
  assert(inFrame.on === backend, `the iframe's playground runs on ${inFrame.on}, wanted ${backend}`);
  await onBackend(page, backend, '#ddpm, #ddim');
  await page.screenshot({ path: path.join(ARTIFACTS, `embed-example-${backend}.png`), fullPage: true });
  noErrors(page);
  // A viewport that shows all three: playgrounds start only near it, and pause away from it.
}, { viewport: { width: 1100, height: 2600 } });

bothTest('embedding from another path resolves pkg/ and models/ next to the module', async ({ context, base, backend }) => {
  const postUrl = `${base}blog/2026/11/post.html`;
  await context.route(postUrl, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><html><head><link rel="icon" href="data:,"><title>post</title>
        <script type="module" src="../../../diffusion-playground.js"></script></head>
        <body><p>A post in a subfolder.</p>
        <diffusion-playground sampler="ddim" steps="3" seed="2" controls="none" backend="${backend}"></diffusion-playground></body></html>`,
    }),
  );
  const page = await open(context, postUrl);
  await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
  const canvases = await visibleCanvases(page);
  assert(canvases.length === 1 && canvases[0].content, JSON.stringify(canvases));
  // Attributes stay live: changing one starts a run with it.
  const n = await eventCount(page);
  await page.evaluate(() => document.querySelector('diffusion-playground').setAttribute('steps', '2'));
  const done = await waitEvent(page, (e) => e.type === 'dp-done', { from: n, timeout: 120000 });
  assert(done.detail.settings.steps === 2, `ran ${done.detail.settings.steps} steps after steps="2"`);
  // Switching the controls mode rebuilds the element; its images come back, not blank canvases.
  const m = await eventCount(page);
  await page.evaluate(() => document.querySelector('diffusion-playground').setAttribute('controls', 'compact'));
  await waitEvent(page, (e) => e.type === 'dp-done', { from: m, timeout: 120000 });
  const after = await visibleCanvases(page);
  assert(after.length >= 1 && after.every((c) => c.content), `after controls="compact": ${JSON.stringify(after)}`);
  assert(await page.locator('diffusion-playground #steps').count() === 1, 'the compact controls (with the steps slider) did not appear');
  noErrors(page);
});

bothTest('usable at 360 px in dark mode (no horizontal scroll)', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&sampler=ddim&steps=3&seed=3&batch=4`);
  await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `the page scrolls sideways by ${overflow} px at 360 px`);
  const bg = await page.locator('diffusion-playground').evaluate((el) => getComputedStyle(el).backgroundColor);
  assert(bg !== 'rgb(255, 255, 255)', `dark mode ignored (background ${bg})`);
  await page.screenshot({ path: path.join(ARTIFACTS, `index-360-dark-${backend}.png`), fullPage: true });
  noErrors(page);
}, { viewport: { width: 360, height: 780 }, colorScheme: 'dark', deviceScaleFactor: 2 });

bothTest('Stop cancels the run within one step', async ({ context, base, backend }) => {
  const page = await open(context, `${base}index.html?backend=${backend}&sampler=ddpm&steps=300&seed=1&batch=1`);
  await waitEvent(page, (e) => e.type === 'dp-step' && e.detail.i >= 1, { timeout: 120000 });
  await markFirstInput(page, '#stop', 'click');
  await page.locator('diffusion-playground #stop').click();
  await page.waitForTimeout(2500);
  const later = (await eventsAfterInput(page)).filter((e) => e.type === 'dp-step' || e.type === 'dp-done');
  assert(later.length <= 1, `${later.length} steps after Stop`);
  assert((await page.locator('diffusion-playground').getAttribute('data-status')) === 'idle', 'data-status is not idle');
  assert(await page.locator('diffusion-playground #stop').isDisabled(), 'Stop still enabled');
  noErrors(page);
});

bothTest('without the Cache API the weights still load, and the console says why', async ({ context, base, backend }) => {
  await context.addInitScript(() => {
    delete window.caches;
    Object.defineProperty(window, 'caches', { value: undefined, configurable: true });
    delete window.caches;
  });
  const page = await context.newPage();
  const warnings = [];
  page.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
  await page.goto(`${base}index.html?backend=${backend}&steps=1&batch=1`);
  const ready = await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 });
  assert(ready.detail.fromCache === false, 'claims a cache hit without a cache');
  await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
  assert(warnings.some((w) => /Cache API is unavailable/.test(w)), `no console warning: ${warnings.join(' | ')}`);
});

pageTest('a missing model names the failed download', async ({ context, base }) => {
  const page = await open(context, `${base}index.html?model=models/no-such-model`);
  const err = await waitEvent(page, (e) => e.type === 'dp-error', { timeout: 60000 });
  assert(/models\/no-such-model/.test(err.detail.message) && /404/.test(err.detail.message), `message: ${err.detail.message}`);
  assert(await page.locator('diffusion-playground .notice').isVisible(), 'no visible message');
});

pageTest('bad model files show the engine error message', async ({ context, base }) => {
  await context.route('**/*.safetensors', async (route) => {
    const r = await route.fetch();
    const body = await r.body();
    await route.fulfill({ response: r, body: body.subarray(0, Math.floor(body.length / 3)), headers: { ...r.headers(), 'content-length': String(Math.floor(body.length / 3)) } });
  });
  const page = await open(context, `${base}index.html?steps=2`);
  const err = await waitEvent(page, (e) => e.type === 'dp-error', { timeout: 120000 });
  const notice = await page.locator('diffusion-playground .notice').innerText();
  assert(notice.includes(err.detail.message), `notice "${notice}" lacks "${err.detail.message}"`);
  assert(/could not load the model/i.test(err.detail.message) && err.detail.message.length > 40, `message: ${err.detail.message}`);
  assert((await page.locator('diffusion-playground').getAttribute('data-status')) === 'error', 'data-status is not error');
  notes.push(`bad weights message: ${err.detail.message}`);
  const canvases = await visibleCanvases(page);
  assert(canvases.every((c) => c.content), 'a blank canvas is shown');
});

const noGpuChecks = async (page, shot) => {
  const err = await waitEvent(page, (e) => e.type === 'dp-error', { timeout: 60000 });
  assert(/WebGPU/.test(err.detail.message), `message: ${err.detail.message}`);
  const el = page.locator('diffusion-playground');
  assert((await el.getAttribute('data-status')) === 'error', 'data-status is not error');
  const notice = page.locator('diffusion-playground .notice');
  assert(await notice.isVisible(), 'no visible message');
  const text = await notice.innerText();
  for (const needle of ['WebGPU', 'Chrome', 'Edge 113', 'Safari 26', 'Firefox 141', 'drivers']) {
    assert(text.includes(needle), `the message does not mention ${needle}: ${text}`);
  }
  // Never a blank canvas: the x_T preview is drawn, or the canvas is hidden behind a note.
  await page.waitForFunction(() => {
    const root = document.querySelector('diffusion-playground').shadowRoot;
    return [...root.querySelectorAll('.lane canvas')].every((c) => !c.classList.contains('empty')) ||
      [...root.querySelectorAll('.lane .placeholder')].some((p) => /No image/.test(p.textContent));
  });
  const canvases = await visibleCanvases(page);
  const blank = canvases.filter((c) => !c.content);
  assert(!blank.length, `blank canvases without WebGPU: ${JSON.stringify(blank)}`);
  if (shot) await page.screenshot({ path: path.join(ARTIFACTS, shot), fullPage: true });
  noErrors(page);
  return err.detail.message;
};

registerBackendTests({ test, pageTest, notes, h: { visibleCanvases, noErrors, tensorStats, noGpuChecks } });
registerEmbedTests({ test, pageTest, notes, h: { visibleCanvases, noErrors } });
registerCacheTests({ pageTest, h: { noErrors } });
registerPanelTests({ pageTest, notes, h: { visibleCanvases, noErrors } });
registerReliabilityTests({ pageTest, notes });
registerOpsTests({ pageTest, notes, h: { visibleCanvases, noErrors } });

// ----- main --------------------------------------------------------------------------------------

mkdirSync(ARTIFACTS, { recursive: true });
let server = null;
let browser = null;
await runTests(tests, {
  notes,
  before: async () => {
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...COMMON_FLAGS, ...WEBGPU_FLAGS] });
    return { browser, base: server.base };
  },
  after: async () => {
    await browser?.close();
    server?.stop();
  },
});
