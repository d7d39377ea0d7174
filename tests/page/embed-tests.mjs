// The page tests of embedding in other people's blogs: a post on a second origin (another
// port) embeds the element and the iframe by the README's snippets (embedSnippets, which the
// unit tests hold to the README), from the server under test (`cargo xtask serve`'s headers)
// and from the `dist` folder on a static host that reads its `_headers` file; with and without
// a strict Content-Security-Policy, and cross-origin isolated. A host without CORS headers
// leaves the snippet's fallback content in place; a policy without 'wasm-unsafe-eval' gets a
// message naming it. Lazy start: playgrounds far down a post fetch and compute nothing until
// scrolled to, pause when scrolled away or hidden, and resume.
//
// The dist tests need DP_DIST_DIR, a folder made by `cargo xtask dist --out DIR` from the same
// build (`cargo xtask test` makes target/page-dist). Registered by run.mjs.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ARTIFACTS, ROOT, assert, eventCount, events, newContext, waitEvent } from './harness.mjs';
import { servePages, serveStatic } from './static-server.mjs';

const { DEFAULTS, embedSnippets } = await import(pathToFileURL(path.join(ROOT, 'www/url-state.js')).href);

/** The README's snippets for a playground served from `host`, on the CPU (quick in tests). */
function snippets(host, settings = {}) {
  return embedSnippets({ ...DEFAULTS, backend: 'cpu', ...settings }, `${host}diffusion-playground.js`, host);
}

/** A strict policy that allows the playground from `host`: the README's CSP line. */
export function strictCsp(host) {
  const h = new URL(host).origin;
  return `default-src 'self'; script-src ${h} 'wasm-unsafe-eval'; worker-src blob: ${h}; connect-src ${h}; style-src ${h}; img-src ${h} data:; frame-src ${h}`;
}

function postHtml(body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A blog post</title>
<link rel="icon" href="data:,"></head>
<body><article><h1>A blog post</h1><p>Some words before the playground.</p>
${body}
</article></body></html>`;
}

/** Runs `fn(blog)` with a second origin serving posts: blog.post(path, body, headers) -> URL. */
async function withBlog(fn) {
  const pages = new Map();
  const server = await servePages(pages);
  try {
    return await fn({
      post(p, body, headers = {}) {
        pages.set(p, { body: postHtml(body), headers });
        return `${server.base}${p.slice(1)}`;
      },
    });
  } finally {
    await server.close();
  }
}

function distDir() {
  const dir = process.env.DP_DIST_DIR;
  assert(dir, 'DP_DIST_DIR is unset: make a dist folder with `cargo xtask dist --out target/page-dist` and set DP_DIST_DIR=target/page-dist');
  const abs = path.resolve(ROOT, dir);
  assert(existsSync(path.join(abs, '_headers')) && existsSync(path.join(abs, 'diffusion-playground.js')), `DP_DIST_DIR=${dir} is not a folder made by \`cargo xtask dist\``);
  return abs;
}

/** The element finished a run on the CPU, its fallback content replaced; the iframe's too. */
async function bothFinish(page, { iframe = true } = {}) {
  const done = await waitEvent(page, (e) => (e.type === 'dp-done' || e.type === 'dp-error') && e.id === '', { timeout: 120000 });
  assert(done.type === 'dp-done', `the element failed: ${JSON.stringify(done.detail)}`);
  const el = page.locator('body > article > diffusion-playground');
  assert((await el.getAttribute('data-backend')) === 'cpu', 'the element did not run on the CPU');
  assert(!(await page.locator('diffusion-playground > a > img').isVisible()), 'the fallback image still shows although the element runs');
  // The CPU workers start from another origin too (through a blob: the README's CSP allows).
  const ready = (await waitEvent(page, (e) => e.type === 'dp-ready' && e.id === '', { timeout: 120000 })).detail;
  assert(ready.workers > 0, `the element does not run on CPU workers: ${ready.workers} (${ready.workersNote})`);
  if (iframe) {
    const frame = page.frameLocator('iframe');
    await frame.locator('diffusion-playground[data-status="done"]').waitFor({ timeout: 120000 });
  }
}

/**
 * Registers the tests. `h`: run.mjs's page helpers {visibleCanvases, noErrors}. Returns
 * nothing; every server a test starts is closed by it.
 */
export function registerEmbedTests({ test, pageTest, notes, h }) {
  /** Element and iframe from `host`: plain, with the strict CSP, and cross-origin isolated. */
  const threePosts = async (browser, host, label) => {
    await withBlog(async (blog) => {
      const { element, iframe } = snippets(host);
      const variants = [
        ['plain', {}],
        ['strict CSP', { 'Content-Security-Policy': strictCsp(host) }],
        ['cross-origin isolated', { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }],
      ];
      for (const [name, headers] of variants) {
        // The iframe's document would itself need COEP in an isolated post: element only there.
        const isolated = name === 'cross-origin isolated';
        const url = blog.post(`/${name.replace(/ /g, '-')}.html`, isolated ? element : `${element}\n<p>And in a frame:</p>\n${iframe}`, headers);
        const context = await newContext(browser, { viewport: { width: 1000, height: 1800 } });
        try {
          const page = await context.newPage();
          const errors = [];
          page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
          page.on('pageerror', (e) => errors.push(e.message));
          page.errors = errors;
          const response = await page.goto(url);
          for (const [k, v] of Object.entries(headers)) assert(response.headers()[k.toLowerCase()] === v, `the post lacks its ${k} header`);
          assert(new URL(url).origin !== new URL(host).origin, 'the post is not on another origin');
          await bothFinish(page, { iframe: !isolated });
          if (isolated) assert(await page.evaluate(() => crossOriginIsolated), 'the post is not cross-origin isolated');
          const canvases = await h.visibleCanvases(page);
          assert(canvases.length >= 1 && canvases.every((c) => c.content), `canvases (${name}): ${JSON.stringify(canvases)}`);
          h.noErrors(page);
          await page.screenshot({ path: path.join(ARTIFACTS, `embed-${label}-${name.replace(/ /g, '-')}.png`), fullPage: true });
        } finally {
          await context.close();
        }
      }
    });
  };

  test('a post on another origin embeds the element and the iframe by the README snippets (plain, strict CSP, cross-origin isolated)', async ({ browser, base }) => {
    await threePosts(browser, base, 'serve');
  });

  test('[dist] the dist folder on a static host that reads _headers: one module for the code, embeds on another origin (plain, strict CSP, isolated)', async ({ browser }) => {
    const host = await serveStatic(distDir(), { headers: 'file' });
    try {
      await threePosts(browser, host.base, 'dist');
      // One request for the element's code: the bundle, no plain modules, no separate glue (and,
      // on the CPU backend, the workers' own bundle, which they load once the element runs).
      const scripts = [...new Set(host.requests.filter((p) => /\.m?js$/.test(p)))].sort();
      assert(JSON.stringify(scripts) === JSON.stringify(['/cpu-worker.js', '/diffusion-playground.js', '/embed.js']), `scripts fetched from the dist host: ${scripts.join(', ')}`);
      notes.push(`dist host: scripts fetched ${scripts.join(', ')}; ${host.requests.length} requests for 5 playgrounds`);
    } finally {
      await host.close();
    }
  });

  test('[dist] a host that sends no CORS header: the fallback image and link stand in the element\'s place', async ({ browser }) => {
    const host = await serveStatic(distDir(), { headers: 'none' });
    try {
      await withBlog(async (blog) => {
        const url = blog.post('/no-cors.html', snippets(host.base).element);
        const context = await newContext(browser);
        try {
          const page = await context.newPage();
          const errors = [];
          page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
          await page.goto(url);
          const img = page.locator('diffusion-playground > a > img');
          await img.waitFor({ state: 'visible', timeout: 30000 });
          await page.waitForFunction(() => document.querySelector('diffusion-playground img').complete);
          await page.waitForTimeout(1000); // time for the module script to have run, had it loaded
          assert(await page.evaluate(() => !customElements.get('diffusion-playground')), 'the element was defined although its script had no CORS header');
          assert(errors.some((e) => /Access-Control-Allow-Origin|CORS/.test(e)), `no CORS error in the console: ${errors.join(' | ')}`);
          const shown = await page.evaluate(() => {
            const el = document.querySelector('diffusion-playground');
            const i = el.querySelector('img');
            const r = i.getBoundingClientRect();
            return { natural: i.naturalWidth, width: r.width, height: r.height, link: el.querySelector('p a').href, text: el.innerText };
          });
          assert(shown.natural === 256 && shown.width === 256 && shown.height === 256, `the fallback image is not shown: ${JSON.stringify(shown)}`);
          assert(shown.link.startsWith(`${host.base}index.html?`) && /Open the playground/.test(shown.text), `the fallback link: ${JSON.stringify(shown)}`);
          assert(await page.locator('diffusion-playground p a').isVisible(), 'the link to the full page is not visible');
          await page.screenshot({ path: path.join(ARTIFACTS, 'embed-no-cors.png'), fullPage: true });
        } finally {
          await context.close();
        }
      });
    } finally {
      await host.close();
    }
  });

  pageTest('a policy without \'wasm-unsafe-eval\' gets a message that names it, and the fallback content', async ({ context, base }) => {
    await withBlog(async (blog) => {
      const csp = strictCsp(base).replace(" 'wasm-unsafe-eval'", '');
      const url = blog.post('/no-wasm.html', snippets(base).element, { 'Content-Security-Policy': csp });
      const page = await context.newPage();
      await page.goto(url);
      const err = await waitEvent(page, (e) => e.type === 'dp-error', { timeout: 60000 });
      assert(/Content-Security-Policy/.test(err.detail.message) && err.detail.message.includes("'wasm-unsafe-eval'"), `message: ${err.detail.message}`);
      assert(await page.locator('diffusion-playground .notice').isVisible(), 'no visible message');
      assert(await page.locator('diffusion-playground > a > img').isVisible(), 'the fallback image is not shown inside the element');
      notes.push(`CSP without wasm-unsafe-eval: ${err.detail.message}`);
    });
  });

  pageTest('a policy without the worker-src line samples in the page\'s thread and says why', async ({ context, base }) => {
    await withBlog(async (blog) => {
      const csp = strictCsp(base).replace(/ worker-src [^;]*;/, '');
      const url = blog.post('/no-workers.html', snippets(base, { steps: 3 }).element, { 'Content-Security-Policy': csp });
      const page = await context.newPage();
      await page.goto(url);
      const ready = (await waitEvent(page, (e) => e.type === 'dp-ready' || e.type === 'dp-error', { timeout: 60000 })).detail;
      assert(ready.workers === 0 && /worker-src needs blob: and http:\/\/127\.0\.0\.1:\d+/.test(ready.workersNote), `dp-ready: workers ${ready.workers}, note ${ready.workersNote}`);
      const done = await waitEvent(page, (e) => e.type === 'dp-done' || e.type === 'dp-error', { timeout: 120000 });
      assert(done.type === 'dp-done', `the run did not finish in the page's thread: ${JSON.stringify(done.detail)}`);
      notes.push(`CSP without worker-src: ${ready.workersNote}`);
    });
  });

  pageTest('three playgrounds at the bottom of a long post fetch and compute nothing until scrolled to; they pause when scrolled away or hidden and resume', async ({ context, base }) => {
    await withBlog(async (blog) => {
      const filler = Array.from({ length: 60 }, (_, i) => `<p>Paragraph ${i + 1} of a long post, long before any playground.</p>`).join('\n');
      const three = ['a', 'b', 'c']
        .map((id, k) => snippets(base, { steps: 20, seed: k + 1 }).element.replace(/^<script[^>]*><\/script>\n/, '').replace('<diffusion-playground ', `<diffusion-playground id="${id}" `))
        .join('\n');
      const script = `<script type="module" src="${base}diffusion-playground.js"></script>`;
      const url = blog.post('/long.html', `${script}\n${filler}\n<div style="height: 4000px"></div>\n${three}`);
      const page = await context.newPage();
      const requests = [];
      page.on('request', (r) => requests.push(new URL(r.url()).pathname));
      page.errors = [];
      page.on('console', (m) => m.type() === 'error' && page.errors.push(m.text()));
      await page.goto(url);
      await page.waitForFunction(() => customElements.get('diffusion-playground') && document.querySelectorAll('diffusion-playground[data-status]').length === 3);
      await page.waitForTimeout(2000);
      const early = requests.filter((p) => /\.(safetensors|wasm)$|models\/|pkg\//.test(p));
      assert(!early.length, `requests before scrolling: ${early.join(', ')}`);
      assert((await eventCount(page)) === 0, `events before scrolling: ${JSON.stringify(await events(page))}`);
      const waiting = await page.evaluate(() => [...document.querySelectorAll('diffusion-playground')].map((el) => [el.dataset.status, el.shadowRoot.querySelector('#status').textContent]));
      assert(waiting.every(([s, t]) => s === 'idle' && /scrolls into view/.test(t)), `before scrolling: ${JSON.stringify(waiting)}`);

      // Scrolled to, one after another: each starts as it comes near (the weights load once).
      for (const id of ['a', 'b', 'c']) {
        await page.evaluate((id) => document.getElementById(id).scrollIntoView(), id);
        await waitEvent(page, (e) => e.type === 'dp-done' && e.id === id, { timeout: 120000 });
      }
      const weights = requests.filter((p) => p.endsWith('.safetensors'));
      assert(weights.length === 1, `weights requested ${weights.length} times for three playgrounds`);

      // A long run on #a; scrolled away it pauses between steps, and goes on where it stopped.
      const n = await eventCount(page);
      await page.evaluate(() => {
        document.getElementById('a').scrollIntoView();
        document.getElementById('a').setAttribute('steps', '400');
      });
      await waitEvent(page, (e) => e.type === 'dp-step' && e.id === 'a' && e.detail.n === 400 && e.detail.i >= 3, { from: n, timeout: 60000 });
      // The pause after scrolling away, not one from before the observer saw #a come into view.
      const running = await eventCount(page);
      await page.evaluate(() => window.scrollTo(0, 0));
      const paused = await waitEvent(page, (e) => e.type === 'dp-pause' && e.id === 'a', { from: running, timeout: 30000 });
      assert(paused.detail.reason === 'offscreen', `paused for ${paused.detail.reason}`);
      const stepsOf = async (from) => (await events(page, from)).filter((e) => e.type === 'dp-step' && e.id === 'a').map((e) => e.detail.i);
      const before = await stepsOf(n);
      await page.waitForTimeout(1500);
      const whilePaused = await stepsOf(n);
      assert(whilePaused.length === before.length, `${whilePaused.length - before.length} steps while scrolled away`);
      assert((await page.locator('#a').getAttribute('data-status')) === 'paused', 'data-status is not paused');
      const m = await eventCount(page);
      await page.evaluate(() => document.getElementById('a').scrollIntoView());
      await waitEvent(page, (e) => e.type === 'dp-resume' && e.id === 'a', { from: m, timeout: 30000 });
      const next = await waitEvent(page, (e) => e.type === 'dp-step' && e.id === 'a', { from: m, timeout: 30000 });
      assert(next.detail.i === before.at(-1) + 1, `resumed at step ${next.detail.i}, paused after ${before.at(-1)}`);

      // A hidden tab pauses it too.
      const k = await eventCount(page);
      const setHidden = (hidden) =>
        page.evaluate((hidden) => {
          Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true });
          document.dispatchEvent(new Event('visibilitychange'));
        }, hidden);
      await setHidden(true);
      const hiddenPause = await waitEvent(page, (e) => e.type === 'dp-pause' && e.id === 'a', { from: k, timeout: 30000 });
      assert(hiddenPause.detail.reason === 'hidden', `paused for ${hiddenPause.detail.reason}`);
      const hiddenSteps = (await stepsOf(k)).length;
      await page.waitForTimeout(1000);
      assert((await stepsOf(k)).length === hiddenSteps, 'steps ran while the tab was hidden');
      await setHidden(false);
      await waitEvent(page, (e) => e.type === 'dp-resume' && e.id === 'a', { from: k, timeout: 30000 });
      await waitEvent(page, (e) => e.type === 'dp-step' && e.id === 'a', { from: await eventCount(page), timeout: 30000 });
      await page.evaluate(() => document.querySelector('#a').stop());
      h.noErrors(page);
    });
  });

  pageTest('loading="eager" starts a playground far down a post at once', async ({ context, base }) => {
    await withBlog(async (blog) => {
      const { element } = snippets(base, { steps: 3 });
      const url = blog.post('/eager.html', `<div style="height: 5000px"></div>\n${element.replace('<diffusion-playground ', '<diffusion-playground loading="eager" ')}`);
      const page = await context.newPage();
      await page.goto(url);
      await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
      assert((await page.evaluate(() => window.scrollY)) === 0, 'the page scrolled');
      const shown = await page.locator('diffusion-playground').evaluate((el) => el.getBoundingClientRect().top > window.innerHeight + 1000);
      assert(shown, 'the playground is not far below the viewport');
    });
  });
}
