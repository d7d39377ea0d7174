// Side-by-side benchmark of issue 12, in one run in headless Chromium on the same model:
//   (a) onnxruntime-web's wasm (CPU) forward of the model exported to ONNX, at each batch size,
//       on 1 thread and on its default thread count (and on all cores), median and min of warm runs;
//   (b) the playground page's ms per DDIM step with `backend=cpu` and `backend=webgpu`;
// then a markdown table with the ratios, the date, the command, the CPU and the load average.
//
//   node benches/cpu.mjs                        # emoji32, batch 1 and 16 (WebGPU at batch 16 skipped)
//   node benches/cpu.mjs --webgpu-b16           # also WebGPU at batch 16 (~16 s per step on SwiftShader)
//   node benches/cpu.mjs --batches 1 --runs 3 --steps 4       # a quick smoke run
//   node benches/cpu.mjs --rounds 3 --steps 50                # both, alternately, three times
//   node benches/cpu.mjs --skip-page | --skip-ort             # one half only
//   node benches/cpu.mjs --help
//
// The ONNX file (artifacts/onnx/<model>.onnx, git-ignored) is exported with
// train/export_onnx.py when missing or older than the model. onnxruntime-web runs on a page of
// a small static server of this script that sends COOP same-origin + COEP require-corp, so the
// page is cross-origin isolated and ORT may use wasm threads; that browser has no WebGPU flags.
// The playground page is served by `cargo xtask serve --release --model DIR` (as in
// benches/page.mjs): `backend=cpu` runs in a Chromium without WebGPU (a reader without a GPU),
// `backend=webgpu` in one with WebGPU on SwiftShader. Prints figures only; nothing is asserted.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, createReadStream } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, COMMON_FLAGS, ROOT, WEBGPU_FLAGS, newContext, open, startServer, waitEvent, events } from '../tests/page/harness.mjs';

const USAGE = `usage: node benches/cpu.mjs [OPTIONS]

--model DIR          diffusers UNet2DModel folder (default models/emoji32)
--onnx FILE          its ONNX export (default artifacts/onnx/<name of DIR>.onnx; exported when
                     missing or older than the model, with train/.venv/bin/python train/export_onnx.py)
--batches LIST       batch sizes (default 1,16; the page takes 1, 4 or 16)
--runs N             onnxruntime-web: timed forwards per cell (default 10), after --warmup
--warmup N           onnxruntime-web: untimed forwards first (default 2)
--ort-threads LIST   onnxruntime-web thread settings: numbers, "default" (ORT's own choice:
                     min(4, ceil(cores / 2)) on an isolated page) and "all" (every logical core);
                     default 1,default,all; a setting that resolves to a count already run is skipped
--steps N            the page: DDIM steps per run (default 10); ms/step is over steps 2..N
--backends LIST      the page's backends (default cpu,cpu-1worker,cpu-simd128,webgpu): cpu is what a
                     reader gets (the wasm build the browser validates: relaxed SIMD in Chromium;
                     the batch split over one Web Worker per core, at most 4); cpu-1worker the
                     same on one worker (one core: \`?workers=1\`); cpu-simd128 the plain simd128
                     build on one worker (\`?simd=simd128&workers=1\`), for comparison
--webgpu-b16         also run backend=webgpu at batch 16 (SwiftShader: ~16 s per step)
--webgpu-b16-steps N DDIM steps for that cell (default 3)
--rounds N           repeat the whole measurement N times (default 1), alternating onnxruntime-web
                     and the page, so that a machine whose speed drifts (a shared VM) slows both
                     alike; cells pool every round's times, and the target ratio is also given per
                     round, with the median of the rounds
--skip-ort           only the page
--skip-page          only onnxruntime-web
-h, --help           this text`;

const argv = process.argv.slice(2);
if (argv.includes('-h') || argv.includes('--help')) {
  console.log(USAGE);
  process.exit(0);
}
const KNOWN_FLAGS = ['--webgpu-b16', '--skip-ort', '--skip-page'];
const KNOWN_VALUES = ['--model', '--onnx', '--batches', '--runs', '--warmup', '--ort-threads', '--steps', '--backends', '--webgpu-b16-steps', '--rounds'];
for (let i = 0; i < argv.length; i++) {
  if (KNOWN_VALUES.includes(argv[i])) i++;
  else if (!KNOWN_FLAGS.includes(argv[i])) fail(`unknown option ${argv[i]}\n\n${USAGE}`);
}

function fail(message) {
  console.error(`benches/cpu.mjs: ${message}`);
  process.exit(2);
}
function option(name, fallback) {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) fail(`--${name} needs a value`);
  return v;
}
function intOption(name, fallback, min = 1) {
  const v = option(name, String(fallback));
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${name} ${v}: give a whole number of at least ${min}`);
  return n;
}
const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);

const model = option('model', 'models/emoji32');
const modelDir = path.resolve(ROOT, model);
const modelName = path.basename(modelDir);
const onnxPath = path.resolve(ROOT, option('onnx', path.join('artifacts', 'onnx', `${modelName}.onnx`)));
const batches = list(option('batches', '1,16')).map(Number);
if (!batches.length || batches.some((b) => ![1, 4, 16].includes(b))) fail('--batches: give sizes among 1, 4 and 16 (what the page offers)');
const runs = intOption('runs', 10);
const warmup = intOption('warmup', 2, 0);
const ortThreads = list(option('ort-threads', '1,default,all'));
for (const t of ortThreads) {
  if (!['default', 'all'].includes(t) && !(Number.isInteger(Number(t)) && Number(t) >= 1)) fail(`--ort-threads: ${t} is not a count, "default" or "all"`);
}
const steps = intOption('steps', 10, 2);
const rounds = intOption('rounds', 1);
// The page's URL parameters for each backend the bench can time.
const PAGE_BACKENDS = {
  cpu: { backend: 'cpu' },
  'cpu-1worker': { backend: 'cpu', workers: '1' },
  'cpu-simd128': { backend: 'cpu', simd: 'simd128', workers: '1' },
  webgpu: { backend: 'webgpu' },
};
const backends = list(option('backends', 'cpu,cpu-1worker,cpu-simd128,webgpu'));
if (backends.some((b) => !PAGE_BACKENDS[b])) fail(`--backends: give some of ${Object.keys(PAGE_BACKENDS).join(', ')}`);
const webgpuB16 = argv.includes('--webgpu-b16');
const webgpuB16Steps = intOption('webgpu-b16-steps', 3, 2);
const skipOrt = argv.includes('--skip-ort');
const skipPage = argv.includes('--skip-page');
const command = `node benches/cpu.mjs${argv.length ? ` ${argv.join(' ')}` : ''}`;
const TIMEOUT = 30 * 60 * 1000;

// ----- what must be there ------------------------------------------------------------------------

const configPath = path.join(modelDir, existsSync(path.join(modelDir, 'config.json')) ? 'config.json' : 'unet/config.json');
if (!existsSync(configPath)) fail(`--model ${model}: no config.json there (a diffusers UNet2DModel folder is needed)`);
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const size = Array.isArray(config.sample_size) ? config.sample_size : [config.sample_size, config.sample_size];
const sampleShape = [config.in_channels, size[0], size[1]];

let playwright;
try {
  playwright = await import('playwright-core');
} catch {
  fail('the npm package playwright-core is missing: run `npm ci` in the repository root (or `cargo xtask setup`)');
}
const ORT_DIST = path.join(ROOT, 'node_modules/onnxruntime-web/dist');
const ortVersion = existsSync(path.join(ORT_DIST, '../package.json')) ? JSON.parse(readFileSync(path.join(ORT_DIST, '../package.json'), 'utf8')).version : null;
if (!skipOrt && !ortVersion) fail('the npm package onnxruntime-web is missing: run `npm ci` in the repository root (package-lock.json pins it as a dev dependency)');
if (!existsSync(CHROMIUM)) fail(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM=/path/to/chromium)`);

/** The ONNX export, made with train/export_onnx.py when missing or older than the model's files. */
function ensureOnnx() {
  const newest = ['config.json', 'diffusion_pytorch_model.safetensors', 'unet/config.json', 'unet/diffusion_pytorch_model.safetensors']
    .map((f) => path.join(modelDir, f))
    .filter(existsSync)
    .reduce((t, f) => Math.max(t, statSync(f).mtimeMs), 0);
  if (existsSync(onnxPath) && statSync(onnxPath).mtimeMs >= newest) return;
  const python = path.join(ROOT, 'train/.venv/bin/python');
  if (!existsSync(python)) {
    fail(
      `${path.relative(ROOT, onnxPath)} does not exist and train/.venv (the Python venv that exports it) is missing.\n` +
        'Create the venv with `train/setup_venv.sh` (torch, diffusers, onnx, onnxruntime from train/requirements.txt; ' +
        'a large download, a few minutes), or export elsewhere and pass --onnx FILE.',
    );
  }
  console.error(`# exporting ${model} to ${path.relative(ROOT, onnxPath)} (train/export_onnx.py) ...`);
  const r = spawnSync(python, [path.join(ROOT, 'train/export_onnx.py'), '--model', modelDir, '--out', onnxPath], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) fail(`train/export_onnx.py failed (status ${r.status}); its message is above`);
}

// ----- statistics and machine facts --------------------------------------------------------------

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length ? (s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2) : NaN;
};
const fmt = (ms) => (!Number.isFinite(ms) ? '—' : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
const cell = (times) => (times && times.length ? `${fmt(median(times))} (${fmt(Math.min(...times))})` : '—');
const load = () => os.loadavg()[0].toFixed(2);
const cpuModel = () => `${os.cpus()[0]?.model?.trim() || '?'}, ${os.cpus().length} logical cores`;

// ----- (a) onnxruntime-web -----------------------------------------------------------------------

const MIME = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.map': 'application/json' };
const BENCH_HTML = '<!doctype html><meta charset="utf-8"><title>onnxruntime-web wasm bench</title><p>onnxruntime-web bench page</p>';

/** A static server whose every response makes the page cross-origin isolated. */
function isolatedServer() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin', 'Cache-Control': 'no-store' };
    let file = null;
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204, headers);
      res.end();
      return;
    } else if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' });
      res.end(BENCH_HTML);
      return;
    } else if (url.pathname === '/model.onnx') {
      file = onnxPath;
    } else if (url.pathname.startsWith('/ort/')) {
      const name = path.basename(url.pathname);
      if (/^[A-Za-z0-9_.-]+$/.test(name)) file = path.join(ORT_DIST, name);
    }
    if (!file || !existsSync(file)) {
      res.writeHead(404, headers);
      res.end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': MIME[path.extname(file)] || 'application/octet-stream', 'Content-Length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ base: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() })));
}

/** Runs in the page: one ORT session at one thread setting, every batch size. */
async function ortInPage({ threads, batches, runs, warmup, sampleShape }) {
  const ort = await import('/ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = '/ort/';
  const cores = navigator.hardwareConcurrency || 1;
  if (threads === 'all') ort.env.wasm.numThreads = cores;
  else if (threads !== 'default') ort.env.wasm.numThreads = Number(threads);
  const session = await ort.InferenceSession.create('/model.onnx', { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const resolved = ort.env.wasm.numThreads;
  const out = { isolated: self.crossOriginIsolated, cores, threads: resolved, simd: ort.env.wasm.simd, cells: [] };
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (const batch of batches) {
    const n = batch * sampleShape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(n).map(rand);
    const feeds = {
      sample: new ort.Tensor('float32', x, [batch, ...sampleShape]),
      timestep: new ort.Tensor('float32', new Float32Array(batch).fill(500), [batch]),
    };
    for (let i = 0; i < warmup; i++) await session.run(feeds);
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = await session.run(feeds);
      times.push(performance.now() - t0);
      if (i === 0 && !Number.isFinite(r.out_sample.data[0])) throw new Error('onnxruntime-web gave a non-finite output');
    }
    out.cells.push({ batch, times });
  }
  await session.release();
  return out;
}

async function measureOrt() {
  const server = await isolatedServer();
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, headless: true, args: COMMON_FLAGS });
  const results = [];
  try {
    const done = new Set();
    for (const threads of ortThreads) {
      const context = await browser.newContext();
      const page = await open(context, server.base);
      const isolated = await page.evaluate(() => self.crossOriginIsolated);
      if (!isolated) throw new Error('the onnxruntime-web bench page is not cross-origin isolated (COOP/COEP headers not honoured): threads > 1 cannot run');
      const cores = await page.evaluate(() => navigator.hardwareConcurrency || 1);
      const count = threads === 'all' ? cores : threads === 'default' ? Math.min(4, Math.ceil(cores / 2)) : Number(threads);
      if (done.has(count)) {
        console.error(`# onnxruntime-web, threads ${threads}: ${count} thread(s), already measured`);
        results.push({ setting: threads, threads: count, same: true });
        await context.close();
        continue;
      }
      console.error(`# onnxruntime-web ${ortVersion} wasm, threads ${threads} (${count}) ...`);
      const r = await page.evaluate(ortInPage, { threads, batches, runs, warmup, sampleShape });
      if (page.errors.length) console.error(`# console errors: ${page.errors.join(' | ')}`);
      await context.close();
      done.add(r.threads);
      for (const c of r.cells) console.error(`#   batch ${c.batch}: ${cell(c.times)} ms/forward (median (min) of ${c.times.length})`);
      results.push({ setting: threads, ...r });
    }
    return { results, chromium: browser.version() };
  } finally {
    await browser.close();
    server.close();
  }
}

// ----- (b) the page ------------------------------------------------------------------------------

/** Per-step times from the page's dp-step events (each carries the running mean msPerStep). */
function stepTimes(stepEvents) {
  const times = [];
  let prevSum = 0;
  for (const e of stepEvents) {
    const k = e.detail.i + 1;
    const sum = e.detail.msPerStep * k;
    times.push(sum - prevSum);
    prevSum = sum;
  }
  return times;
}

async function measurePage() {
  const server = await startServer(['--release', '--model', model]);
  const cells = [];
  const info = {};
  try {
    for (const backend of backends) {
      const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, headless: true, args: backend === 'webgpu' ? [...COMMON_FLAGS, ...WEBGPU_FLAGS] : COMMON_FLAGS });
      info[backend] = { chromium: browser.version() };
      try {
        for (const batch of batches) {
          if (backend === 'webgpu' && batch === 16 && !webgpuB16) {
            cells.push({ backend, batch, skipped: 'not run (pass --webgpu-b16; ~16 s per step on SwiftShader)' });
            continue;
          }
          const n = backend === 'webgpu' && batch === 16 ? webgpuB16Steps : steps;
          console.error(`# page backend=${backend} batch ${batch}: DDIM ${n} ...`);
          const context = await newContext(browser);
          try {
            const pageBackend = PAGE_BACKENDS[backend].backend;
            const q = new URLSearchParams({ ...PAGE_BACKENDS[backend], sampler: 'ddim', steps: String(n), eta: '0', seed: '7', batch: String(batch) });
            const page = await open(context, `${server.base}index.html?${q}`);
            const ready = await waitEvent(page, (e) => e.type === 'dp-ready' || e.type === 'dp-error', { timeout: TIMEOUT });
            if (ready.type === 'dp-error') {
              const hint =
                backend === 'cpu' && ready.detail?.webgpu === false
                  ? ' (this page build has no CPU backend: `backend=cpu` comes with the cpu-web work of issue 12)'
                  : '';
              throw new Error(`the page reported an error: ${ready.detail?.message}${hint}`);
            }
            const reported = ready.detail?.backend;
            if (reported !== undefined && reported !== pageBackend) throw new Error(`asked for backend=${backend}, the page runs ${JSON.stringify(reported)}`);
            const done = await waitEvent(page, (e) => e.type === 'dp-done' || e.type === 'dp-error', { timeout: TIMEOUT });
            if (done.type === 'dp-error') throw new Error(`the page reported an error: ${done.detail?.message}`);
            const stepsSeen = (await events(page)).filter((e) => e.type === 'dp-step');
            const times = stepTimes(stepsSeen);
            info[backend].adapter = ready.detail?.adapter;
            info[backend].reported = reported;
            info[backend].executor = ready.detail?.executor;
            info[backend].workers = ready.detail?.workers;
            if (page.errors.length) console.error(`# console errors: ${page.errors.join(' | ')}`);
            const warm = times.slice(1);
            console.error(`#   steps 2..${times.length}: ${cell(warm)} ms/step (median (min)); first step ${fmt(times[0])} ms; run mean ${fmt(done.detail.msPerStep)}`);
            cells.push({ backend, batch, steps: n, times: warm, first: times[0], mean: done.detail.msPerStep, reported });
          } catch (e) {
            console.error(`#   failed: ${e.message}`);
            cells.push({ backend, batch, error: e.message });
          } finally {
            await context.close();
          }
        }
      } finally {
        await browser.close();
      }
    }
  } finally {
    server.stop();
  }
  return { cells, info };
}

// ----- the run -----------------------------------------------------------------------------------

const started = new Date();
const loadBefore = load();
if (!skipOrt) ensureOnnx();
const ortRounds = [];
const pageRounds = [];
for (let r = 0; r < rounds; r++) {
  if (rounds > 1) console.error(`# round ${r + 1} of ${rounds}`);
  if (!skipOrt) ortRounds.push(await measureOrt());
  if (!skipPage) pageRounds.push(await measurePage());
}
const loadAfter = load();

/** Every round's times of one cell, pooled (the rounds have the same rows and cells). */
const pooled = (cells) => cells.flatMap((c) => c?.times ?? []);
const ort = skipOrt
  ? null
  : {
      chromium: ortRounds[0].chromium,
      results: ortRounds[0].results.map((res, k) =>
        res.same ? res : { ...res, cells: res.cells.map((c, j) => ({ ...c, times: pooled(ortRounds.map((o) => o.results[k].cells[j])) })) },
      ),
    };
const page = skipPage
  ? null
  : {
      info: pageRounds[0].info,
      cells: pageRounds[0].cells.map((c, k) => {
        const all = pageRounds.map((p) => p.cells[k]);
        if (!c.times) return c;
        const times = pooled(all);
        return { ...c, times, mean: all.reduce((a, x) => a + (x.mean ?? 0), 0) / all.length };
      }),
    };

const ortRows = (ort?.results ?? []).map((r) => {
  if (r.same) return { label: `onnxruntime-web's thread setting "${r.setting}" resolves to ${r.threads} thread(s) here: that row above`, same: r.threads, threads: r.threads };
  return { label: `onnxruntime-web wasm, ${r.setting === 'default' ? `default threads (${r.threads})` : r.setting === 'all' ? `all cores (${r.threads} threads)` : `${r.threads} thread${r.threads > 1 ? 's' : ''}`}, ms/forward`, threads: r.threads, cells: r.cells };
});
for (const r of ortRows.filter((r) => r.same)) {
  const row = ortRows.find((o) => o.cells && o.threads === r.threads);
  if (row) row.label = row.label.replace(', ms/forward', `; also ORT's "${ort.results.find((x) => x.same && x.threads === r.threads).setting}" setting here, ms/forward`);
}
const ortTimes = (threads, batch) => ortRows.find((r) => r.threads === threads && r.cells)?.cells.find((c) => c.batch === batch)?.times;
const pageCell = (backend, batch) => page?.cells.find((c) => c.backend === backend && c.batch === batch);
const defaultThreads = ort?.results.find((r) => r.setting === 'default')?.threads;

console.log(`## ${modelName}: the page (backend=cpu, backend=webgpu) vs onnxruntime-web wasm, headless Chromium\n`);
console.log(`- date: ${started.toISOString().replace('T', ' ').slice(0, 16)} UTC`);
console.log(`- command: \`${command}\``);
console.log(`- CPU: ${cpuModel()}`);
console.log(`- load average (1 min) before / after: ${loadBefore} / ${loadAfter}`);
console.log(`- Chromium: ${ort?.chromium ?? Object.values(page?.info ?? {})[0]?.chromium ?? '?'} (headless)`);
console.log(`- model: \`${model}\` (${sampleShape.join('x')} per image)${skipOrt ? '' : `; ONNX \`${path.relative(ROOT, onnxPath)}\` (train/export_onnx.py, float32, opset 17)`}`);
if (ort) {
  const r0 = ort.results.find((r) => !r.same);
  console.log(`- onnxruntime-web ${ortVersion}, wasm EP (\`ort.wasm.min.mjs\`, SIMD ${r0?.simd === false ? 'off' : 'on'}), cross-origin isolated page (COOP/COEP), ${warmup} warm-up + ${runs} timed forwards per cell; Chromium without WebGPU flags`);
}
if (page) {
  for (const [b, i] of Object.entries(page.info)) {
    console.log(`- page ${b} (${new URLSearchParams(PAGE_BACKENDS[b])}): ${b === 'webgpu' ? 'WebGPU flags (SwiftShader)' : 'no WebGPU flags'}; the page reports backend ${i.reported === undefined ? '(not named in dp-ready)' : `\`${i.reported}\``}${i.executor ? `, executor ${i.executor}` : ''}${i.workers != null && b !== 'webgpu' ? `, ${i.workers} worker(s)` : ''}${i.adapter ? `, adapter ${i.adapter}` : ''}`);
  }
  console.log(`- page: \`cargo xtask serve --release\`, DDIM eta 0, seed 7, ${steps} steps (WebGPU batch 16: ${webgpuB16Steps}); ms/step = the page's own step times (from its dp-step events), steps 2..N (step 1 includes first-use compilation)`);
}
console.log('- cells: median (min) in ms\n');

console.log(`| runtime | ${batches.map((b) => `batch ${b}`).join(' | ')} |`);
console.log(`|---|${batches.map(() => '---:').join('|')}|`);
for (const r of ortRows) {
  if (r.cells) console.log(`| ${r.label} | ${batches.map((b) => cell(r.cells.find((c) => c.batch === b)?.times)).join(' | ')} |`);
}
for (const backend of page ? backends : []) {
  console.log(
    `| page ${backend}, ms per DDIM step | ${batches
      .map((b) => {
        const c = pageCell(backend, b);
        return c?.times ? cell(c.times) : c?.skipped ? 'not run' : 'failed';
      })
      .join(' | ')} |`,
  );
}

const ratios = [];
const ratio = (a, b) => (a && b && a.length && b.length ? `${(median(a) / median(b)).toFixed(2)}x` : '—');
if (page && ort) {
  ratios.push(['page CPU ms/step / ORT 1-thread ms/forward (issue 12 target: ≤ 0.5x)', (b) => ratio(pageCell('cpu', b)?.times, ortTimes(1, b))]);
  if (defaultThreads && defaultThreads !== 1) ratios.push([`page CPU ms/step / ORT default (${defaultThreads} threads) ms/forward`, (b) => ratio(pageCell('cpu', b)?.times, ortTimes(defaultThreads, b))]);
  for (const r of ortRows.filter((r) => r.cells && r.threads !== 1 && r.threads !== defaultThreads)) {
    ratios.push([`page CPU ms/step / ORT ${r.threads} threads ms/forward`, (b) => ratio(pageCell('cpu', b)?.times, ortTimes(r.threads, b))]);
  }
  ratios.push(['page CPU on 1 worker ms/step / ORT 1-thread ms/forward', (b) => ratio(pageCell('cpu-1worker', b)?.times, ortTimes(1, b))]);
  ratios.push(['page CPU, plain simd128 build, 1 worker, ms/step / ORT 1-thread ms/forward', (b) => ratio(pageCell('cpu-simd128', b)?.times, ortTimes(1, b))]);
  ratios.push(['page WebGPU ms/step / ORT 1-thread ms/forward', (b) => ratio(pageCell('webgpu', b)?.times, ortTimes(1, b))]);
}
if (page) ratios.push(['page CPU relaxed-SIMD build / plain simd128 build (1 worker each)', (b) => ratio(pageCell('cpu-1worker', b)?.times, pageCell('cpu-simd128', b)?.times)]);
if (page) ratios.push(['page CPU default workers / 1 worker', (b) => ratio(pageCell('cpu', b)?.times, pageCell('cpu-1worker', b)?.times)]);
if (page) ratios.push(['page WebGPU ms/step / page CPU ms/step', (b) => ratio(pageCell('webgpu', b)?.times, pageCell('cpu', b)?.times)]);
if (ort && ortRows.filter((r) => r.cells).length > 1) {
  for (const r of ortRows.filter((r) => r.cells && r.threads !== 1)) ratios.push([`ORT ${r.threads} threads / ORT 1 thread`, (b) => ratio(ortTimes(r.threads, b), ortTimes(1, b))]);
}
if (ratios.length) {
  console.log(`\n| ratio of medians${rounds > 1 ? ` (all ${rounds} rounds pooled)` : ''} | ${batches.map((b) => `batch ${b}`).join(' | ')} |`);
  console.log(`|---|${batches.map(() => '---:').join('|')}|`);
  for (const [label, f] of ratios) console.log(`| ${label} | ${batches.map(f).join(' | ')} |`);
}
if (rounds > 1 && page && ort) {
  // The target ratio within each round: ORT and the page measured minutes apart, not a run apart.
  const roundRatios = (b) =>
    ortRounds.map((o, r) => {
      const ortCell = o.results.find((x) => x.threads === 1 && x.cells)?.cells.find((c) => c.batch === b);
      const pageCellR = pageRounds[r].cells.find((c) => c.backend === 'cpu' && c.batch === b);
      return ortCell?.times?.length && pageCellR?.times?.length ? median(pageCellR.times) / median(ortCell.times) : NaN;
    });
  const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '—');
  console.log(`\n| page CPU ms/step / ORT 1-thread ms/forward, per round | ${batches.map((b) => `batch ${b}`).join(' | ')} |`);
  console.log(`|---|${batches.map(() => '---:').join('|')}|`);
  console.log(`| rounds 1..${rounds} | ${batches.map((b) => roundRatios(b).map(x).join(', ')).join(' | ')} |`);
  // A round in which the machine slowed during one half only is an outlier either way.
  console.log(`| median of the rounds | ${batches.map((b) => x(median(roundRatios(b).filter(Number.isFinite)))).join(' | ')} |`);
}

const notes = [];
for (const r of ortRows.filter((r) => r.same)) notes.push(`${r.label} (not run twice)`);
for (const c of page?.cells ?? []) {
  if (c.error) notes.push(`page backend=${c.backend} batch ${c.batch} failed: ${c.error}`);
  else if (c.times) notes.push(`page backend=${c.backend} batch ${c.batch}: first step ${fmt(c.first)} ms, mean of all ${c.steps} steps ${fmt(c.mean)} ms`);
}
if (Number(loadBefore) > os.cpus().length - 0.5 || Number(loadAfter) > os.cpus().length - 0.5) {
  notes.push(`the load average exceeded the core count (${os.cpus().length}): other processes shared the CPU, so absolute times (and multi-thread ones most) are inflated; compare within this run`);
}
if (notes.length) {
  console.log('\nNotes:');
  for (const n of notes) console.log(`- ${n}`);
}
if (page?.cells.some((c) => c.error)) process.exit(1);
