// The page tests about where the model runs (backend = auto | webgpu | cpu): auto's probe, its
// timings in dp-ready and its memory per adapter; backend=cpu from the URL and the element
// attribute; a browser without WebGPU running on the CPU (and drawing the native CLI's image);
// backend=webgpu without WebGPU (the notice); a GPU device lost mid-run (the move to the CPU).
// Registered by run.mjs, which passes its test registrars and page helpers.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { parseNpy } from '../browser/npy.js';
import { ARTIFACTS, CHROMIUM, COMMON_FLAGS, ROOT, assert, eventCount, newContext, open, waitEvent } from './harness.mjs';

const STORAGE_PREFIX = 'diffusion-playground/backend/';
// The run the no-WebGPU test compares with the native CLI (what xtask test's native step runs).
export const NATIVE_PAGE_RUN = { model: 'models/emoji32', sampler: 'ddim', steps: 10, eta: 0, seed: 7, batch: 4 };

/**
 * The native CLI's final tensor for NATIVE_PAGE_RUN: the .npy that DP_PAGE_NATIVE_NPY names
 * (cargo xtask test makes it), else made here with target/{release,debug}/dp on the CPU.
 */
function nativeSample() {
  let file = process.env.DP_PAGE_NATIVE_NPY;
  if (!file) {
    const target = path.resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target');
    const dp = ['release', 'debug'].map((p) => path.join(target, p, 'dp')).find(existsSync);
    assert(dp, `no native dp in ${target}/{release,debug}: run \`cargo build --bin dp\` or set DP_PAGE_NATIVE_NPY`);
    const r = NATIVE_PAGE_RUN;
    file = path.join(ARTIFACTS, 'native_emoji32_ddim10_seed7_b4.npy');
    execFileSync(dp, ['sample', '--model', path.join(ROOT, r.model), '--sampler', r.sampler, '--steps', String(r.steps), '--eta', String(r.eta),
      '--seed', String(r.seed), '--batch', String(r.batch), '--backend', 'cpu', '--save-npy', file, '--out', file.replace(/\.npy$/, '.png')], { stdio: 'ignore' });
  }
  const buf = readFileSync(file);
  return { file, ...parseNpy(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)) };
}

/** Registers the tests. `h`: run.mjs's page helpers {visibleCanvases, noErrors, tensorStats, noGpuChecks}. */
export function registerBackendTests({ test, pageTest, notes, h }) {
  pageTest('backend=auto times both backends, takes the faster, reports both in dp-ready and remembers it per adapter', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?steps=3&batch=1`);
    const ready = await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 });
    const d = ready.detail;
    assert(d.requested === 'auto' && !d.remembered, `dp-ready: requested ${d.requested}, remembered ${d.remembered}`);
    assert(d.probeMs.cpu > 0 && d.probeMs.webgpu > 0, `dp-ready lacks a timing: ${JSON.stringify(d.probeMs)}`);
    const faster = d.probeMs.webgpu < d.probeMs.cpu && !d.probeMs.webgpuAtLeast ? 'webgpu' : 'cpu';
    assert(d.backend === faster, `took ${d.backend} with ${JSON.stringify(d.probeMs)}`);
    assert(/^faster in a probe: cpu \d+ ms vs webgpu (over )?\d+ ms/.test(d.reason), `reason: ${d.reason}`);
    const meta = await page.locator('diffusion-playground #meta').innerText();
    assert(meta.includes(d.reason) && meta.includes(d.backend === 'cpu' ? 'runs on the CPU' : 'runs on WebGPU'), `info line: ${meta}`);
    assert(await page.locator('diffusion-playground #note').isHidden(), 'a note is shown although WebGPU was there');
    await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
    notes.push(`auto on this machine: ${d.backend}, ${d.reason}; engine ready ${d.ms.toFixed(0)} ms after navigation`);
    const stored = await page.evaluate((p) => Object.entries(localStorage).filter(([k]) => k.startsWith(p)), STORAGE_PREFIX);
    assert(stored.length === 1 && JSON.parse(stored[0][1]).backend === d.backend, `localStorage: ${JSON.stringify(stored)}`);
    // The next visit takes the remembered choice without a probe.
    await page.reload();
    const again = (await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 })).detail;
    assert(again.remembered && again.backend === d.backend && /^remembered for this adapter \(cpu \d+ ms vs webgpu/.test(again.reason), `second visit: ${again.backend}, ${again.reason}`);
    assert(again.probeMs.cpu === d.probeMs.cpu && again.probeMs.webgpu === d.probeMs.webgpu, `remembered timings ${JSON.stringify(again.probeMs)}`);
    assert((await page.locator('diffusion-playground #meta').innerText()).includes('remembered for this adapter'), 'the info line does not say the choice was remembered');
    await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
    // A damaged entry is dropped: the page probes again and stores a good one.
    await page.evaluate(([k]) => localStorage.setItem(k, '{"backend":"quantum",'), stored[0]);
    await page.reload();
    const third = (await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 })).detail;
    assert(!third.remembered && /^faster in a probe/.test(third.reason), `after a damaged entry: ${third.reason}`);
    await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
    const rewritten = await page.evaluate(([k]) => JSON.parse(localStorage.getItem(k)), stored[0]);
    assert(rewritten && rewritten.backend === third.backend, `entry after the new probe: ${JSON.stringify(rewritten)}`);
    h.noErrors(page);
  });

  pageTest('the CPU backend splits a batch over Web Workers: the same DDPM images as in the page\'s thread, and the info line says how many', async ({ context, base }) => {
    const images = {};
    for (const workers of ['0', '3', '']) {
      const page = await open(context, `${base}index.html?backend=cpu&sampler=ddpm&steps=4&batch=4&seed=9&view=sample${workers ? `&workers=${workers}` : ''}`);
      const ready = (await waitEvent(page, (e) => e.type === 'dp-ready' || e.type === 'dp-error', { timeout: 120000 })).detail;
      const done = await waitEvent(page, (e) => e.type === 'dp-done' || e.type === 'dp-error', { timeout: 120000 });
      assert(done.type === 'dp-done', `workers=${workers}: ${JSON.stringify(done.detail)}`);
      const want = workers === '' ? await page.evaluate(() => Math.min(4, navigator.hardwareConcurrency || 1)) : Number(workers);
      assert(ready.workers === want, `workers=${workers || '(default)'}: dp-ready says ${ready.workers} workers, want ${want}`);
      const meta = await page.locator('diffusion-playground #meta').innerText();
      const named = want === 0 ? "the page's thread: workers=0 asked for" : `${want} worker${want === 1 ? '' : 's'}`;
      assert(meta.includes(named), `the info line does not say "${named}": ${meta}`);
      images[workers || 'default'] = (await h.tensorStats(page, 'el.lastImage()')).values;
      const canvases = await h.visibleCanvases(page);
      assert(canvases.length && canvases.every((c) => c.content), `workers=${workers}: a blank canvas`);
      h.noErrors(page);
      await page.close();
    }
    for (const k of ['3', 'default']) {
      let worst = 0;
      images[k].forEach((v, i) => (worst = Math.max(worst, Math.abs(v - images['0'][i]))));
      assert(worst <= 1e-5, `workers=${k} vs the page's thread: max diff ${worst}`);
    }
    notes.push(`CPU workers: 4 DDPM images on 3 workers and on the default count equal the page-thread ones`);
  });

  pageTest('backend=cpu (URL parameter, element attribute) opens no GPU; changing the attribute moves the playground', async ({ context, base }) => {
    await context.addInitScript(() => {
      window.__adapterRequests = 0;
      if (navigator.gpu) {
        const request = navigator.gpu.requestAdapter.bind(navigator.gpu);
        navigator.gpu.requestAdapter = (...args) => {
          window.__adapterRequests++;
          return request(...args);
        };
      }
    });
    const page = await open(context, `${base}index.html?backend=cpu&steps=3&batch=4`);
    const ready = (await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 })).detail;
    assert(ready.backend === 'cpu' && ready.reason === 'asked for by backend=cpu', `dp-ready: ${ready.backend}, ${ready.reason}`);
    assert(ready.probeMs.cpu === null && ready.probeMs.webgpu === null, `probed although told: ${JSON.stringify(ready.probeMs)}`);
    await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
    assert((await page.evaluate(() => window.__adapterRequests)) === 0, 'backend=cpu asked for a WebGPU adapter');
    assert((await page.locator('diffusion-playground').getAttribute('data-backend')) === 'cpu', 'data-backend is not cpu');
    assert(new URL(page.url()).searchParams.get('backend') === 'cpu', 'the address lost backend=cpu');
    const share = await page.evaluate(() => document.querySelector('diffusion-playground').shareUrl());
    assert(new URL(share).searchParams.get('backend') === 'cpu', `share link ${share}`);
    h.noErrors(page);

    const postUrl = `${base}blog/backend.html`;
    await context.route(postUrl, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><html><head><link rel="icon" href="data:,"><title>post</title>
          <script type="module" src="../diffusion-playground.js"></script></head>
          <body><diffusion-playground backend="cpu" sampler="ddim" steps="2" seed="2" controls="none"></diffusion-playground></body></html>`,
      }),
    );
    const post = await open(context, postUrl);
    const a = (await waitEvent(post, (e) => e.type === 'dp-ready', { timeout: 120000 })).detail;
    assert(a.backend === 'cpu', `backend="cpu" ran on ${a.backend}`);
    await waitEvent(post, (e) => e.type === 'dp-done', { timeout: 120000 });
    const n = await eventCount(post);
    await post.evaluate(() => document.querySelector('diffusion-playground').setAttribute('backend', 'webgpu'));
    const b = (await waitEvent(post, (e) => e.type === 'dp-ready', { from: n, timeout: 120000 })).detail;
    assert(b.backend === 'webgpu' && b.reason === 'asked for by backend=webgpu', `after backend="webgpu": ${b.backend}, ${b.reason}`);
    await waitEvent(post, (e) => e.type === 'dp-done', { from: n, timeout: 120000 });
    const canvases = await h.visibleCanvases(post);
    assert(canvases.length === 1 && canvases[0].content, JSON.stringify(canvases));
    h.noErrors(post);
  });

  /** A page whose browser offers no WebGPU adapter: auto runs on the CPU with a one-line note. */
  const runsOnCpuWithNote = async (page, why) => {
    const ready = (await waitEvent(page, (e) => e.type === 'dp-ready' || e.type === 'dp-error', { timeout: 120000 }));
    assert(ready.type === 'dp-ready', `no engine without WebGPU: ${JSON.stringify(ready.detail)}`);
    assert(ready.detail.backend === 'cpu' && ready.detail.noWebGpu && why.test(ready.detail.reason), `dp-ready: ${ready.detail.backend}, ${ready.detail.reason}`);
    const done = await waitEvent(page, (e) => e.type === 'dp-done' || e.type === 'dp-error', { timeout: 120000 });
    assert(done.type === 'dp-done', `the CPU run failed: ${JSON.stringify(done.detail)}`);
    assert(await page.locator('diffusion-playground .notice').isHidden(), 'an error panel is shown');
    const note = await page.locator('diffusion-playground #note').innerText();
    assert(/^WebGPU is not available here: .+\. Running on the CPU instead\.$/.test(note) && why.test(note), `note: ${note}`);
    assert((await page.locator('diffusion-playground').getAttribute('data-status')) === 'done', 'data-status is not done');
    const canvases = await h.visibleCanvases(page);
    assert(canvases.length >= 4 && canvases.every((c) => c.content), `canvases: ${JSON.stringify(canvases)}`);
    h.noErrors(page);
    return { ready: ready.detail, note };
  };

  pageTest('without navigator.gpu the page runs on the CPU with a one-line note; backend=webgpu says what to do', async ({ context, base }) => {
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
    const page = await open(context, `${base}index.html?steps=5&batch=4`);
    await runsOnCpuWithNote(page, /navigator\.gpu is missing/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'no-webgpu-cpu.png'), fullPage: true });
    const forced = await open(context, `${base}index.html?backend=webgpu&steps=5&batch=4`);
    await h.noGpuChecks(forced, 'no-webgpu.png');
    // The forward process needs no GPU (alpha-bar from the wasm module's alphasCumprodFor).
    await forced.locator('diffusion-playground .forward.ready').waitFor({ timeout: 30000 });
    const caption = await forced.locator('diffusion-playground #fwd-caption').innerText();
    assert(/^x_t = 0\.\d{3} · x_0 \+ 0\.\d{3} · ε$/.test(caption), `forward-process caption: ${caption}`);
    const fwd = (await h.visibleCanvases(forced)).filter((c) => c.id.startsWith('fwd-'));
    assert(fwd.length === 3 && fwd.every((c) => c.content), `forward-process canvases without WebGPU: ${JSON.stringify(fwd)}`);
  });

  pageTest('when requestAdapter() finds no adapter the page runs on the CPU; backend=webgpu says so', async ({ context, base }) => {
    await context.addInitScript(() => {
      if (navigator.gpu) navigator.gpu.requestAdapter = async () => null;
    });
    await runsOnCpuWithNote(await open(context, `${base}index.html?steps=5`), /found no usable GPU adapter/);
    await h.noGpuChecks(await open(context, `${base}index.html?backend=webgpu&steps=5`));
  });

  pageTest('a GPU device lost mid-run: the page moves to the CPU with a note and finishes the run there', async ({ context, base }) => {
    // Keep a handle on every device the page creates, so the test can destroy it.
    await context.addInitScript(() => {
      window.__devices = [];
      const request = GPUAdapter.prototype.requestDevice;
      GPUAdapter.prototype.requestDevice = async function (...args) {
        const device = await request.apply(this, args);
        window.__devices.push(device);
        return device;
      };
    });
    const page = await open(context, `${base}index.html?backend=webgpu&sampler=ddim&steps=40&seed=2&batch=1`);
    await waitEvent(page, (e) => e.type === 'dp-step', { timeout: 120000 });
    const n = await eventCount(page);
    await page.evaluate(() => window.__devices.forEach((d) => d.destroy()));
    const moved = (await waitEvent(page, (e) => e.type === 'dp-ready' || e.type === 'dp-error', { from: n, timeout: 60000 })).detail;
    assert(moved.backend === 'cpu' && moved.deviceLost && /WebGPU device was lost/.test(moved.reason), `after the loss: ${JSON.stringify(moved)}`);
    const done = await waitEvent(page, (e) => e.type === 'dp-done' || e.type === 'dp-error', { from: n, timeout: 120000 });
    assert(done.type === 'dp-done' && done.detail.settings.steps === 40, `the run did not finish on the CPU: ${JSON.stringify(done.detail)}`);
    const note = await page.locator('diffusion-playground #note').innerText();
    assert(/device was lost/.test(note) && /running on the CPU/.test(note) && /[Rr]eload/.test(note), `note: ${note}`);
    assert(await page.locator('diffusion-playground .notice').isHidden(), 'an error panel is shown');
    assert((await page.locator('diffusion-playground #meta').innerText()).includes('runs on the CPU'), 'the info line still names WebGPU');
    assert((await page.locator('diffusion-playground').getAttribute('data-backend')) === 'cpu', 'data-backend is not cpu');
    const canvases = await h.visibleCanvases(page);
    assert(canvases.length && canvases.every((c) => c.content), `blank canvas after the loss: ${JSON.stringify(canvases)}`);
    // Later runs stay on the CPU and need no new device.
    const m = await eventCount(page);
    await page.evaluate(() => document.querySelector('diffusion-playground').setState({ steps: 3 }));
    await waitEvent(page, (e) => e.type === 'dp-done', { from: m, timeout: 120000 });
    assert((await page.evaluate(() => window.__devices.length)) === 1, 'a new device was requested');
  });

  test('Chromium launched without --enable-unsafe-webgpu runs the page on the CPU and draws the native CLI\'s image', async ({ base }) => {
    const native = nativeSample();
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: COMMON_FLAGS });
    try {
      const context = await newContext(browser);
      const r = NATIVE_PAGE_RUN;
      const page = await open(context, `${base}index.html?model=${r.model}&sampler=${r.sampler}&steps=${r.steps}&eta=${r.eta}&seed=${r.seed}&batch=${r.batch}&view=sample`);
      // Without the flag navigator.gpu is there but gives no adapter, as for a blocklisted GPU.
      const { ready, note } = await runsOnCpuWithNote(page, /found no usable GPU adapter/);
      const img = await h.tensorStats(page, 'el.lastImage()');
      assert(img.n === native.data.length, `the page's image has ${img.n} values, the native ${native.data.length} (${native.shape})`);
      let worst = 0;
      native.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - img.values[i]))));
      assert(worst <= 1e-3, `max |page - native| = ${worst} (tolerance 1e-3) vs ${native.file}`);
      // What is drawn is that tensor's picture (the engine's RGBA kernel rounds like render.js).
      const { tensorToRgba } = await import(new URL('../../www/render.js', import.meta.url).href);
      const [n, c, hh, w] = native.shape;
      const want = tensorToRgba(native.data, n, c, hh, w);
      const drawn = await page.locator('diffusion-playground .lane canvas').evaluate((cv) => ({ w: cv.width, h: cv.height, d: Array.from(cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data) }));
      assert(drawn.w === want.width && drawn.h === want.height, `canvas ${drawn.w}x${drawn.h}, native grid ${want.width}x${want.height}`);
      let off = 0;
      want.rgba.forEach((v, i) => (off = Math.max(off, Math.abs(v - drawn.d[i]))));
      assert(off <= 1, `the drawn pixels differ from the native image's by up to ${off} levels`);
      notes.push(`without the flag: ${ready.executor}; note "${note}"; max |page - native dp| = ${worst.toExponential(2)}, pixels within ${off} level(s)`);
      // Asking for WebGPU in the same browser gives the notice that names the missing adapter.
      const forced = await open(context, `${base}index.html?backend=webgpu&steps=5`);
      const message = await h.noGpuChecks(forced);
      assert(/found no usable GPU adapter/.test(message), `not the no-adapter notice: ${message}`);
    } finally {
      await browser.close();
    }
  });
}
