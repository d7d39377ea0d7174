// The page tests of the weights' cache (www/weights-cache.js): cached weights are used again
// only when the server still has the same contents. A copy of the built page (DP_WEB_DIR,
// default target/web under CARGO_TARGET_DIR) on a static host that sends no ETag, whose weights a test rewrites
// between visits as a retrained checkpoint of the same size would be (and its manifest.json as
// `build-web` writes it); and, on the server under test, a freshness check that cannot be made
// (the manifest's request fails), which the model line must own up to. Registered by run.mjs.

import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WEB_DIR, assert, open, waitEvent } from './harness.mjs';
import { serveStatic } from './static-server.mjs';

const WEIGHTS = 'diffusion_pytorch_model.safetensors';

function webDir() {
  const dir = WEB_DIR;
  assert(existsSync(path.join(dir, 'models', 'index.json')), `${dir} has no models/index.json: run \`cargo xtask build-web\` (or set DP_WEB_DIR)`);
  return dir;
}

/** Runs `fn({host, dir, model})` with a temporary copy of the built page on a static host. */
async function withCopy(fn) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dp-cache-'));
  try {
    cpSync(webDir(), dir, { recursive: true });
    const [name] = JSON.parse(readFileSync(path.join(dir, 'models', 'index.json'), 'utf8'));
    const host = await serveStatic(dir);
    try {
      return await fn({ host, dir, model: `models/${name}` });
    } finally {
      await host.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Rewrites `model`'s weights under `dir` as a retrained checkpoint of the same size would be:
 * a low mantissa bit of the last tensor's last value changes, and the manifest follows.
 */
function retrain(dir, model) {
  const file = path.join(dir, model, WEIGHTS);
  const bytes = readFileSync(file);
  bytes[bytes.length - 4] ^= 1;
  writeFileSync(file, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(path.join(dir, model, 'manifest.json'), JSON.stringify({ files: { [WEIGHTS]: { bytes: bytes.length, sha256 } } }));
}

async function ready(page) {
  return (await waitEvent(page, (e) => e.type === 'dp-ready', { timeout: 120000 })).detail;
}

export function registerCacheTests({ pageTest, h }) {
  pageTest('cached weights: unchanged ones are reused, a retrained file of the same size is downloaded again', async ({ context }) =>
    withCopy(async ({ host, dir, model }) => {
      const weightRequests = () => host.requests.filter((p) => p.endsWith(`/${WEIGHTS}`)).length;
      const page = await open(context, `${host.base}index.html?backend=cpu&steps=1&batch=1&model=${model}`);
      let info = await ready(page);
      assert(info.fromCache === false && weightRequests() === 1, `first visit: fromCache ${info.fromCache}, ${weightRequests()} weight requests`);
      await page.reload();
      info = await ready(page);
      assert(info.fromCache === true && info.cacheNote === null, `unchanged: fromCache ${info.fromCache}, note ${info.cacheNote}`);
      assert(weightRequests() === 1, `unchanged weights were requested again (${weightRequests()} requests)`);
      const meta = await page.locator('diffusion-playground #meta').innerText();
      assert(/weights from the browser cache/.test(meta), `model line: ${meta}`);
      retrain(dir, model);
      await page.reload();
      info = await ready(page);
      assert(info.fromCache === false, 'a retrained checkpoint of the same size came from the cache');
      assert(weightRequests() === 2, `${weightRequests()} weight requests after the rewrite`);
      await page.reload();
      info = await ready(page);
      assert(info.fromCache === true, 'the new weights were not cached');
      h.noErrors(page);
    }),
  );

  pageTest('a freshness check that cannot be made uses the cache and says so in the model line', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&steps=1&batch=1`);
    assert((await ready(page)).fromCache === false, 'first visit claims a cache hit');
    const failures = [
      ['the network', (route) => route.abort('internetdisconnected'), /manifest\.json could not be fetched/],
      ['a 503', (route) => route.fulfill({ status: 503, body: 'busy\n' }), /manifest\.json: HTTP 503/],
    ];
    for (const [what, fail, why] of failures) {
      await context.route('**/manifest.json', fail);
      await page.reload();
      const info = await ready(page);
      assert(info.fromCache === true, `${what}: the weights were not taken from the cache`);
      assert(/^weights from this browser's cache, not checked against the server \(/.test(info.cacheNote ?? '') && why.test(info.cacheNote), `${what}: cacheNote ${info.cacheNote}`);
      const meta = await page.locator('diffusion-playground #meta').innerText();
      assert(meta.includes(info.cacheNote), `${what}: the model line does not say so: ${meta}`);
      await context.unroute('**/manifest.json');
    }
    await page.reload();
    const info = await ready(page);
    assert(info.fromCache === true && info.cacheNote === null, `checked again: fromCache ${info.fromCache}, note ${info.cacheNote}`);
  });
}
