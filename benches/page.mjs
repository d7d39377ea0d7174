// Benchmark of the playground page in headless Chromium (WebGPU on SwiftShader): time to the
// first image and ms per step, next to the native CLI (`dp sample`, wgpu on the local Vulkan
// driver) measured in the same run on the same model and settings.
//
//   node benches/page.mjs                                   # default model, DDIM 50, eta 0, batch 1
//   node benches/page.mjs --model DIR --steps 20 --batch 4 --sampler ddpm
//   node benches/page.mjs --batch 4 --backend webgpu        # backend: auto (default) | webgpu | cpu
//
// It starts `cargo xtask serve` (release wasm) with the model, opens index.html with the settings
// in the URL, and reads the page's dp-ready / dp-step / dp-done events: engine ready (weights
// fetched, device and pipelines created), first step drawn (time to first image), run done, and
// the page's own ms/step. A second run on the same page (Run button) gives the warm ms/step.
// Prints figures only; nothing is asserted.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, COMMON_FLAGS, ROOT, WEBGPU_FLAGS, eventCount, newContext, open, option, startServer, waitEvent } from '../tests/page/harness.mjs';

const defaultModel = existsSync(path.join(ROOT, 'models/emoji32/config.json')) ? 'models/emoji32' : 'tests/fixtures/models/tiny';
const model = option('model', defaultModel);
const settings = {
  sampler: option('sampler', 'ddim'),
  steps: Number(option('steps', '50')),
  eta: Number(option('eta', '0')),
  seed: Number(option('seed', '7')),
  batch: Number(option('batch', '1')),
  backend: option('backend', 'auto'),
};
if (!['auto', 'webgpu', 'cpu'].includes(settings.backend)) {
  console.error(`--backend ${settings.backend}: expected auto, webgpu or cpu`);
  process.exit(2);
}
if (!existsSync(path.join(path.resolve(ROOT, model), 'config.json'))) {
  console.error(`--model ${model}: no config.json there (a diffusers UNet2DModel folder is needed)`);
  process.exit(2);
}
const TIMEOUT = 30 * 60 * 1000;

/** The native CLI on the same model and settings and the page's backend: mean ms/step, adapter. */
function native(backend) {
  const build = spawnSync('cargo', ['build', '--release', '--quiet', '--bin', 'dp'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('cargo build --release --bin dp failed');
  const args = ['sample', '--model', model, '--sampler', settings.sampler, '--steps', String(settings.steps), '--seed', String(settings.seed), '--batch', String(settings.batch), '--out', path.join(ROOT, 'artifacts', 'bench-native.png')];
  if (settings.sampler === 'ddim') args.push('--eta', String(settings.eta));
  args.push('--backend', backend === 'cpu' ? 'cpu' : 'gpu');
  const r = spawnSync(path.join(ROOT, 'target/release/dp'), args, { cwd: ROOT, encoding: 'utf8', env: { WGPU_BACKEND: 'vulkan', ...process.env } });
  if (r.status !== 0) throw new Error(`dp sample failed:\n${r.stdout}${r.stderr}`);
  const total = (r.stdout + r.stderr).split('\n').find((l) => l.startsWith('total'));
  const m = total && total.match(/mean ([\d.]+) ms\/step.*fastest [\d.]+ \((.*)\)\s*$/);
  if (!m) throw new Error(`no timing line in dp's output:\n${r.stdout}${r.stderr}`);
  const setup = (r.stdout + r.stderr).split('\n').find((l) => l.startsWith('setup'));
  return { msPerStep: Number(m[1]), adapter: m[2], setupMs: setup ? Number(setup.match(/([\d.]+) ms/)[1]) : NaN };
}

const server = await startServer(['--release', '--model', model]);
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...COMMON_FLAGS, ...WEBGPU_FLAGS] });
let page;
try {
  const context = await newContext(browser);
  const q = new URLSearchParams(Object.entries(settings).map(([k, v]) => [k, String(v)]));
  page = await open(context, `${server.base}index.html?${q}`);
  const ready = await waitEvent(page, (e) => e.type === 'dp-ready' || e.type === 'dp-error', { timeout: TIMEOUT });
  if (ready.type === 'dp-error') throw new Error(`the page reported an error: ${JSON.stringify(ready.detail)}`);
  const first = await waitEvent(page, (e) => e.type === 'dp-step', { timeout: TIMEOUT });
  const done = await waitEvent(page, (e) => e.type === 'dp-done', { timeout: TIMEOUT });
  const n = await eventCount(page);
  await page.locator('diffusion-playground #run').click();
  const again = await waitEvent(page, (e) => e.type === 'dp-done', { from: n, timeout: TIMEOUT });
  if (page.errors.length) console.log(`# console errors: ${page.errors.join(' | ')}`);
  await context.close();

  const backend = ready.detail.backend;
  const nat = native(backend);
  const warm = again.detail.msPerStep;
  const label = `${settings.sampler.toUpperCase()} ${settings.steps}${settings.sampler === 'ddim' ? ` eta ${settings.eta}` : ''}, batch ${settings.batch}, seed ${settings.seed}, model ${model}`;
  console.log(`# ${label}`);
  console.log(`# browser: headless Chromium, backend=${settings.backend}: runs on ${backend} (${ready.detail.reason}); adapter ${ready.detail.adapter ?? 'none'}`);
  console.log(`# native:  dp sample, ${nat.adapter}`);
  console.log('| measure | value |');
  console.log('|---|---:|');
  const probe = ready.detail.probeMs;
  if (probe) console.log(`| backend probe: cpu / webgpu ms per forward | ${probe.cpu?.toFixed(0) ?? '–'} / ${probe.webgpu?.toFixed(0) ?? '–'}${probe.webgpuAtLeast ? ' (at least)' : ''} |`);
  console.log(`| engine ready (after navigation) | ${ready.t.toFixed(0)} ms |`);
  console.log(`| first image: step 1 drawn (after navigation) | ${first.t.toFixed(0)} ms |`);
  console.log(`| run done (after navigation) | ${done.t.toFixed(0)} ms |`);
  console.log(`| page ms/step, first run (includes first-use shader compilation) | ${done.detail.msPerStep.toFixed(1)} |`);
  console.log(`| page ms/step, second run | ${warm.toFixed(1)} |`);
  console.log(`| native dp ms/step (same settings) | ${nat.msPerStep.toFixed(1)} |`);
  console.log(`| browser / native (second run) | ${(warm / nat.msPerStep).toFixed(2)}x |`);
} finally {
  await browser.close();
  server.stop();
}
