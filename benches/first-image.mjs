// Time to first image of an embedded playground on a slow connection: a blog post on one
// origin embeds the element by the README's snippet from a built folder served on another
// origin, in headless Chromium with the network throttled through the DevTools protocol
// (default 1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip: DevTools' "Slow 4G"-like
// figures), a fresh browser context (empty HTTP and Cache API caches) per run.
//
//   node benches/first-image.mjs                        # target/web (plain modules, as `build-web`
//                                                       # writes it) and target/bench-dist (`dist`:
//                                                       # one minified module), both built first
//   node benches/first-image.mjs --dir DIR [--dir DIR2] # folders built earlier (e.g. an old checkout's)
//   node benches/first-image.mjs --runs 5 --down-kbps 1600 --up-kbps 750 --rtt-ms 150
//   node benches/first-image.mjs --gzip                 # the host gzips HTML, JS, CSS, JSON and
//                                                       # wasm, as common static hosts do
//
// For each folder it prints the median and the fastest of --runs runs of: the element defined
// (its code loaded and run), the wasm and the weights requested, the engine ready (dp-ready),
// the first image (step 1 drawn: dp-step), and the requests and bytes (as transferred) until
// then. The playground runs with backend=cpu (no WebGPU probe in the figures). Prints figures
// only; nothing is asserted.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, COMMON_FLAGS, ROOT, newContext, option, waitEvent } from '../tests/page/harness.mjs';
import { servePages, serveStatic } from '../tests/page/static-server.mjs';

const { DEFAULTS, embedSnippets } = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);

function number(name, fallback) {
  const v = Number(option(name, String(fallback)));
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`--${name}: expected a positive number, got ${option(name, '')}`);
    process.exit(2);
  }
  return v;
}

const runs = number('runs', 3);
const gzip = process.argv.includes('--gzip');
const net = { downKbps: number('down-kbps', 1600), upKbps: number('up-kbps', 750), rttMs: number('rtt-ms', 150) };
const TIMEOUT = 10 * 60 * 1000;

function cargoXtask(args) {
  console.log(`# cargo xtask ${args.join(' ')}`);
  const r = spawnSync('cargo', ['xtask', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`cargo xtask ${args.join(' ')} failed`);
}

let dirs = process.argv.flatMap((a, i) => (a === '--dir' ? [process.argv[i + 1]] : [])).map((d) => path.resolve(d));
if (!dirs.length) {
  cargoXtask(['build-web', '--release']);
  cargoXtask(['dist', '--out', 'target/bench-dist']);
  dirs = [path.join(ROOT, 'target/web'), path.join(ROOT, 'target/bench-dist')];
}
for (const d of dirs) {
  if (!existsSync(path.join(d, 'diffusion-playground.js'))) {
    console.error(`--dir ${d}: no diffusion-playground.js there (a folder made by \`cargo xtask build-web\` or \`dist\` is needed)`);
    process.exit(2);
  }
}

/** One run: a fresh context, throttled, opening the post. Returns the figures in ms and bytes. */
async function measure(browser, postUrl) {
  const context = await newContext(browser);
  await context.addInitScript(() => {
    customElements.whenDefined('diffusion-playground').then(() => (window.__definedAt = performance.now()));
  });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: net.rttMs,
    downloadThroughput: (net.downKbps * 1000) / 8,
    uploadThroughput: (net.upKbps * 1000) / 8,
  });
  const sent = new Map(); // requestId -> {url, at}
  const done = new Map(); // requestId -> bytes received (as transferred)
  let t0 = null;
  cdp.on('Network.requestWillBeSent', (e) => {
    if (t0 === null) t0 = e.timestamp;
    sent.set(e.requestId, { url: e.request.url, at: (e.timestamp - t0) * 1000 });
  });
  // Bytes as they arrive (a response still streaming when the first image shows counts too).
  cdp.on('Network.dataReceived', (e) => done.set(e.requestId, (done.get(e.requestId) ?? 0) + e.encodedDataLength));
  cdp.on('Network.loadingFinished', (e) => done.set(e.requestId, Math.max(done.get(e.requestId) ?? 0, e.encodedDataLength)));
  try {
    await page.goto(postUrl);
    const ready = await waitEvent(page, (e) => e.type === 'dp-ready' || e.type === 'dp-error', { timeout: TIMEOUT });
    if (ready.type === 'dp-error') throw new Error(`the playground reported an error: ${JSON.stringify(ready.detail)}`);
    const first = await waitEvent(page, (e) => e.type === 'dp-step', { timeout: TIMEOUT });
    const defined = await page.evaluate(() => window.__definedAt ?? null);
    const requested = (suffix) => [...sent.values()].find((r) => r.url.endsWith(suffix))?.at ?? NaN;
    // What was asked for before the first image, with the bytes received for it.
    const before = [...sent.entries()].filter(([, r]) => r.at <= first.t).map(([id, r]) => ({ ...r, bytes: done.get(id) ?? 0 }));
    return {
      defined,
      wasm: requested('.wasm'),
      weights: requested('.safetensors'),
      ready: ready.t,
      first: first.t,
      requests: before.length,
      scripts: before.filter((r) => /\.m?js$/.test(new URL(r.url).pathname)).length,
      bytes: before.reduce((a, r) => a + r.bytes, 0),
    };
  } finally {
    await context.close();
  }
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)], min: s[0] };
};

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: COMMON_FLAGS });
const pages = new Map();
const blog = await servePages(pages);
const rows = [];
try {
  for (const dir of dirs) {
    const host = await serveStatic(dir, { headers: 'cors', gzip });
    try {
      const { element } = embedSnippets({ ...DEFAULTS, backend: 'cpu' }, `${host.base}diffusion-playground.js`, host.base);
      pages.set('/post.html', {
        body: `<!doctype html><html><head><meta charset="utf-8"><title>A post</title><link rel="icon" href="data:,"></head>
<body><h1>A post</h1><p>The playground below is embedded by the README's snippet.</p>
${element}
</body></html>`,
        headers: {},
      });
      const results = [];
      for (let i = 0; i < runs; i++) {
        const r = await measure(browser, `${blog.base}post.html`);
        console.log(`# ${path.relative(ROOT, dir) || dir} run ${i + 1}: first image ${(r.first / 1000).toFixed(2)} s, engine ready ${(r.ready / 1000).toFixed(2)} s`);
        results.push(r);
      }
      rows.push({ dir, results });
    } finally {
      await host.close();
    }
  }
} finally {
  await browser.close();
  await blog.close();
}

const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
console.log(
  `\n# ${runs} runs each; network ${net.downKbps} kbit/s down, ${net.upKbps} kbit/s up, ${net.rttMs} ms RTT; ` +
    `host ${gzip ? 'gzips text and wasm' : 'sends files uncompressed'}; backend=cpu; median (fastest)`,
);
console.log('| folder | element defined | wasm requested | weights requested | engine ready | first image | requests (scripts) | bytes |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const { dir, results } of rows) {
  const col = (k, f = s) => {
    const { median, min } = stats(results.map((r) => r[k]));
    return `${f(median)} (${f(min)})`;
  };
  const name = path.relative(ROOT, dir).startsWith('..') ? dir : path.relative(ROOT, dir);
  console.log(
    `| ${name} | ${col('defined')} | ${col('wasm')} | ${col('weights')} | ${col('ready')} | ${col('first')} | ` +
      `${stats(results.map((r) => r.requests)).median} (${stats(results.map((r) => r.scripts)).median}) | ${(stats(results.map((r) => r.bytes)).median / 1e6).toFixed(2)} MB |`,
  );
}
