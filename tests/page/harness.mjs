// Shared by the page tests (tests/page/run.mjs, tests/page/unit.mjs) and the page benchmark
// (benches/page.mjs): Chromium flags for WebGPU on SwiftShader, a `cargo xtask serve` started on
// a free port (or PAGE_URL), helpers that record and await the playground's dp-* events, and
// the tests' tiny runner (runTests, assert).

import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(ROOT, 'artifacts');
/** The built page (`cargo xtask build-web`): DP_WEB_DIR, else target/web under CARGO_TARGET_DIR. */
export const WEB_DIR = path.resolve(ROOT, process.env.DP_WEB_DIR ?? path.join(process.env.CARGO_TARGET_DIR || 'target', 'web'));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const COMMON_FLAGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan'];

// ----- server ------------------------------------------------------------------------------------

/** The value after `--name` on the command line, or `fallback`; throws when the value is missing. */
export function option(name, fallback, argv = process.argv) {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startServer(serveArgs = []) {
  if (process.env.PAGE_URL) return { base: new URL(process.env.PAGE_URL).href, stop() {} };
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/`;
  const args = ['xtask', 'serve', '--port', String(port), ...serveArgs];
  console.log(`# PAGE_URL unset: starting cargo ${args.join(' ')} (builds target/web first)`);
  const child = spawn('cargo', args, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  let exited = null;
  child.on('exit', (code) => (exited = code));
  const deadline = Date.now() + 30 * 60 * 1000;
  for (;;) {
    if (exited !== null) throw new Error(`cargo xtask serve exited with ${exited} before serving`);
    try {
      const r = await fetch(`${base}index.html`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('cargo xtask serve did not come up in 30 minutes');
    await new Promise((r) => setTimeout(r, 1000));
  }
  return {
    base,
    stop() {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}

// ----- helpers -----------------------------------------------------------------------------------

/** Records every dp-* event (with the element's id) in window.__dp, from before page scripts run. */
export const EVENT_LOG = () => {
  window.__dp = [];
  for (const type of ['dp-ready', 'dp-step', 'dp-done', 'dp-error', 'dp-pause', 'dp-resume']) {
    document.addEventListener(
      type,
      (e) => window.__dp.push({ type, id: e.target.id || '', t: performance.now(), detail: JSON.parse(JSON.stringify(e.detail ?? null)) }),
      true,
    );
  }
};

export async function newContext(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, ...options });
  await context.addInitScript(EVENT_LOG);
  return context;
}

/** Opens `url` in a new page of `context`, collecting console errors and uncaught exceptions. */
export async function open(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.errors = errors;
  await page.goto(url);
  return page;
}

/**
 * Waits until window.__dp has an event matching `pred` (a function of e, run here in Node)
 * after index `from`. Polls from Node rather than compiling `pred` in the page: a page whose
 * Content-Security-Policy forbids eval (the embedding tests' strict one) must work too.
 */
export async function waitEvent(page, pred, { from = 0, timeout = 60000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const found = (await page.evaluate((from) => window.__dp.slice(from), from)).find((e) => pred(e));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no event matching ${pred} within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const eventCount = (page) => page.evaluate(() => window.__dp.length);
export const events = (page, from = 0) => page.evaluate((from) => window.__dp.slice(from), from);

// ----- the test runner ---------------------------------------------------------------------------

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/**
 * Runs `tests` ([{name, fn}]) in order, only those whose name contains the `--only` argument
 * when given: `before()` (skipped when none is selected) gives what every `fn` is called with,
 * `after()` cleans up. One line per test, then each of `notes` as "# note", then "N passed,
 * M failed"; exits with status 1 on any failure (a failing `before` counts as one).
 */
export async function runTests(tests, { notes = [], before = async () => ({}), after = async () => {} } = {}) {
  const argv = process.argv;
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : null;
  const selected = tests.filter((t) => !only || t.name.includes(only));
  let passed = 0;
  let failed = 0;
  try {
    const env = selected.length ? await before() : {};
    for (const t of selected) {
      const t0 = Date.now();
      try {
        await t.fn(env);
        passed++;
        console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${String(e?.message || e).split('\n')[0]}`);
      }
    }
  } catch (e) {
    failed++;
    console.log(`FAIL setup: ${e?.message || e}`);
  } finally {
    await after();
  }
  for (const n of notes) console.log(`# ${n}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
