// Browser tests: the wasm build (target/web/, from `cargo xtask build-web`) in headless Debian
// Chromium, on its SwiftShader WebGPU adapter and on the CPU executor (Engine backend "cpu"). Serves target/web/ at /, this folder at /__test__/
// and tests/fixtures/models/ at /__fixtures__/, runs each test of harness.js, prints one line per
// test and `N passed, M failed`, saves artifacts/browser-harness.png, exits 1 on any failure.
//
// Environment: CHROMIUM (default /usr/bin/chromium); DP_EXPECT_ADAPTER (default "swiftshader",
// empty accepts any); DP_NATIVE_SAMPLE_NPY, a native `dp sample --model tests/fixtures/models/tiny
// --sampler ddim --steps 10 --eta 0 --seed 7 --batch 2 --save-npy FILE` result to compare with.
// `--only NAME[,NAME...]` runs just those tests of harness.js (and `adapter`, which the WebGPU
// tests need), e.g. `node tests/browser/run.mjs --only errors`.

import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy } from './npy.js';
import { COMMON_FLAGS, WEBGPU_FLAGS } from '../page/harness.mjs';
import { MIME } from '../page/static-server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const WEB = path.join(path.resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target'), 'web');
const FIXTURES = path.join(ROOT, 'tests', 'fixtures', 'models');
const ARTIFACTS = path.join(ROOT, 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const EXPECT_ADAPTER = process.env.DP_EXPECT_ADAPTER ?? 'swiftshader';
const TEST_TIMEOUT_MS = 240_000;
// Tests that make no deliberate errors: console errors during them fail `no console errors`.
const ERROR_TESTS = new Set(['errors']);
const FLAGS = [...WEBGPU_FLAGS, ...COMMON_FLAGS];
const onlyAt = process.argv.indexOf('--only');
const ONLY = onlyAt >= 0 ? new Set(['adapter', ...(process.argv[onlyAt + 1] ?? '').split(',')]) : null;

function fail(msg) {
  console.error(`error: ${msg}`);
  process.exit(1);
}

/**
 * Maps a URL path to a file: /__test__/ -> this folder, /__fixtures__/ -> fixtures,
 * /__solvers__/ -> tests/fixtures/solvers (DPM-Solver++ and inverse DDIM), else target/web/.
 */
function resolve(urlPath) {
  const mounts = [
    ['/__test__/', HERE],
    ['/__fixtures__/', FIXTURES],
    ['/__solvers__/', path.join(FIXTURES, '..', 'solvers')],
    ['/', WEB],
  ];
  for (const [prefix, dir] of mounts) {
    if (urlPath.startsWith(prefix)) {
      const file = path.resolve(dir, '.' + path.posix.normalize('/' + urlPath.slice(prefix.length)));
      if (file !== dir && !file.startsWith(dir + path.sep)) return null;
      return file.endsWith(path.sep) ? path.join(file, 'index.html') : file;
    }
  }
  return null;
}

function startServer() {
  const server = http.createServer((req, res) => {
    let file = resolve(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (file && fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!file || !fs.existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const type = MIME[path.extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((ok, bad) => {
    server.once('error', bad);
    server.listen(0, '127.0.0.1', () => ok(server));
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, bad) => {
    timer = setTimeout(() => bad(new Error(`${what} took over ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Reads a little-endian f32 .npy (the format `dp sample --save-npy` writes). */
function readNpy(file) {
  const buf = fs.readFileSync(file);
  return parseNpy(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function writeNpy(file, shape, values) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header = header.padEnd(Math.ceil((header.length + 11) / 64) * 64 - 11) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93]).copy(head, 0);
  head.write('NUMPY', 1, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const data = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => data.writeFloatLE(v, i * 4));
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), data]));
}

function maxAbsDiff(a, b) {
  let worst = 0;
  a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]))));
  return worst;
}

/** The two backends' DDIM samples: the same seed must give the same tensor (<= 1e-3). */
function compareBackends(webgpu, cpu) {
  if (webgpu.shape.join() !== cpu.shape.join()) return { ok: false, detail: `shapes [${webgpu.shape}] vs [${cpu.shape}]` };
  const worst = maxAbsDiff(webgpu.values, cpu.values);
  return { ok: worst <= 1e-3, detail: `DDIM 10, seed 7: max |cpu - webgpu| = ${worst.toExponential(2)} (tolerance 1e-3)` };
}

/** The browser's DDIM sample against the native CLI's (when DP_NATIVE_SAMPLE_NPY names one). */
function compareWithNative(sample) {
  const file = process.env.DP_NATIVE_SAMPLE_NPY;
  if (!file) return null;
  let native;
  try {
    native = readNpy(file);
  } catch (e) {
    return { ok: false, detail: `cannot read the native sample: ${e.message}` };
  }
  if (native.shape.join() !== sample.shape.join()) {
    return { ok: false, detail: `native shape [${native.shape}] vs browser [${sample.shape}]` };
  }
  const worst = maxAbsDiff(native.data, sample.values);
  return { ok: worst <= 1e-3, detail: `max |browser - native| = ${worst.toExponential(2)} (tolerance 1e-3) vs ${file}` };
}

async function main() {
  if (!fs.existsSync(path.join(WEB, 'pkg', 'diffusion_playground.js'))) {
    fail(`${path.join(WEB, 'pkg', 'diffusion_playground.js')} is missing: run \`cargo xtask build-web\` first`);
  }
  if (!fs.existsSync(CHROMIUM)) {
    fail(`${CHROMIUM} is missing: install Debian's chromium (cargo xtask setup), or set CHROMIUM`);
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startServer();
  const base = `http://127.0.0.1:${server.address().port}`;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-chromium-'));
  let context;
  const results = [];
  const record = (name, ok, detail) => {
    results.push({ name, ok });
    console.log(`${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}`);
  };
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1100, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    let current = 'load';
    const consoleErrors = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push({ test: current, text: `${m.text()} (${m.location().url})` });
    });
    page.on('pageerror', (e) => consoleErrors.push({ test: current, text: `uncaught: ${e.message}` }));

    const samples = {};
    // The plain simd128 build runs every test; the relaxed-SIMD build (what browsers with
    // relaxed SIMD get) repeats the CPU ones, its results named "... [relaxed]".
    for (const simd of ['simd128', 'relaxed']) {
      const tag = simd === 'relaxed' ? ' [relaxed]' : '';
      current = `load${tag}`;
      const url = `${base}/__test__/harness.html?adapter=${encodeURIComponent(EXPECT_ADAPTER)}&simd=${simd}`;
      await page.goto(url);
      try {
        await page.waitForFunction(() => window.dpReady === true, null, { timeout: 60_000 });
      } catch {
        const why = consoleErrors.map((e) => e.text).join('; ') || 'no console output';
        throw new Error(`the harness page (${simd}) did not load (${why})`);
      }
      const names = (await page.evaluate(() => window.dpTestNames)).filter((n) => !ONLY || ONLY.has(n));
      for (const name of names) {
        current = name;
        const t0 = Date.now();
        let r;
        try {
          r = await withTimeout(page.evaluate((n) => window.dpRun(n), name), TEST_TIMEOUT_MS, name);
        } catch (e) {
          r = { ok: false, detail: e.message };
        }
        record(`${name}${tag}`, r.ok, `${r.detail} [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
        if (name === 'sampling_ddim' && r.data) samples.webgpu = r.data;
        if (name === 'sampling_ddim_cpu' && r.data) samples[simd === 'relaxed' ? 'cpu_relaxed' : 'cpu'] = r.data;
        // Without an adapter nothing else can run: stop with the adapter's message.
        if (name === 'adapter' && !r.ok) break;
      }
      if (simd === 'simd128') {
        // The relaxed run's screenshot would show only its CPU tests.
        const shot = path.join(ARTIFACTS, 'browser-harness.png');
        await page.screenshot({ path: shot, fullPage: true });
        console.log(`screenshot: ${path.relative(ROOT, shot)}`);
      }
    }
    current = 'done';

    for (const [backend, sample] of Object.entries(samples)) {
      const out = path.join(ARTIFACTS, `browser_${backend}_tiny_ddim10_eta0_seed7_b2.npy`);
      writeNpy(out, sample.shape, sample.values);
      console.log(`saved the browser's DDIM sample (${backend}) to ${path.relative(ROOT, out)}`);
      const cmp = compareWithNative(sample);
      if (cmp) record(`sampling_${backend}_matches_native`, cmp.ok, cmp.detail);
      else console.log('note: no native comparison (set DP_NATIVE_SAMPLE_NPY to a `dp sample ... --save-npy` file)');
    }
    for (const cpu of ONLY ? [] : ['cpu', 'cpu_relaxed']) {
      const name = `sampling_${cpu}_matches_webgpu`;
      if (samples.webgpu && samples[cpu]) {
        const cmp = compareBackends(samples.webgpu, samples[cpu]);
        record(name, cmp.ok, cmp.detail);
      } else {
        record(name, false, `missing a DDIM sample: have ${Object.keys(samples).join(', ') || 'none'}`);
      }
    }

    const happyErrors = consoleErrors.filter((e) => !ERROR_TESTS.has(e.test));
    record(
      'no_console_errors',
      happyErrors.length === 0,
      happyErrors.length === 0
        ? `none on the happy path (${consoleErrors.length} during the error tests)`
        : happyErrors.map((e) => `[${e.test}] ${e.text}`).join(' | '),
    );
  } catch (e) {
    record('harness', false, e.message);
  } finally {
    if (context) await context.close().catch(() => {});
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

await main();
