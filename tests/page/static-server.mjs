// A small static file server for the embedding tests and the load benchmark, standing in for
// the hosts a blog author might put the playground on. Three kinds of host:
//
//   headers: 'cors'   sends what `cargo xtask serve` sends (Access-Control-Allow-Origin: * and
//                     Cross-Origin-Resource-Policy: cross-origin) on every file
//   headers: 'file'   sends what the folder's `_headers` file says (as Netlify and Cloudflare
//                     Pages read it), and nothing else: tests that file as `cargo xtask dist`
//                     writes it
//   headers: 'none'   sends no CORS header at all (a host that was not set up for embedding)
//
// Bound to 127.0.0.1 on a free port; GET and HEAD only; Cache-Control: no-store. With `gzip`
// it compresses what static hosts compress (HTML, JS, CSS, JSON, wasm; not the weights) for
// clients that accept it.

import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

/** Content types by extension (also the browser tests' server's). */
export const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

export const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Cross-Origin-Resource-Policy': 'cross-origin',
};

/**
 * The rules of a Netlify-style `_headers` file: [{pattern: RegExp, headers: [[name, value]]}].
 * A line that starts in column 0 is a path (`*` matches anything, including `/`); the indented
 * `Name: value` lines under it are its headers; `#` starts a comment.
 */
export function parseHeadersFile(text) {
  const rules = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\s+$/, '');
    if (!line.trim() || line.trim().startsWith('#')) return;
    if (!/^\s/.test(line)) {
      const source = line.trim().replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
      rules.push({ path: line.trim(), pattern: new RegExp(`^${source}$`), headers: [] });
      return;
    }
    const m = line.trim().match(/^([A-Za-z0-9-]+):\s*(.*)$/);
    if (!m || !rules.length) throw new Error(`_headers line ${i + 1} is not "Name: value" under a path: ${JSON.stringify(raw)}`);
    rules.at(-1).headers.push([m[1], m[2]]);
  });
  return rules;
}

const COMPRESSED = new Set(['.html', '.js', '.mjs', '.css', '.json', '.map', '.wasm', '.txt', '.svg']);

/**
 * Serves `dir` on 127.0.0.1 (a free port unless `port` is given). Returns {base, requests,
 * close()}: `requests` lists every request's path in order, for tests that count them.
 */
export async function serveStatic(dir, { headers = 'cors', port = 0, gzip = false } = {}) {
  if (!['cors', 'file', 'none'].includes(headers)) throw new Error(`headers: expected cors, file or none, got ${headers}`);
  dir = path.resolve(dir);
  const rules = headers === 'file' ? parseHeadersFile(await readFile(path.join(dir, '_headers'), 'utf8')) : [];
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    requests.push(url.pathname);
    const extra = {};
    if (headers === 'cors') Object.assign(extra, CORS_HEADERS);
    for (const rule of rules) {
      if (rule.pattern.test(url.pathname)) for (const [k, v] of rule.headers) extra[k] = v;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain', ...extra }).end('GET or HEAD only\n');
      return;
    }
    let file = path.join(dir, decodeURIComponent(url.pathname));
    if (!file.startsWith(dir)) {
      res.writeHead(400, extra).end();
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = path.join(file, 'index.html');
      let body = await readFile(file);
      const zipped = gzip && COMPRESSED.has(path.extname(file)) && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
      if (zipped) {
        body = gzipSync(body);
        extra['Content-Encoding'] = 'gzip';
        extra.Vary = 'Accept-Encoding';
      }
      res.writeHead(200, {
        'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream',
        'Content-Length': body.length,
        'Cache-Control': 'no-store',
        ...extra,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain', ...extra }).end('not found\n');
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    base: `http://127.0.0.1:${server.address().port}/`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}

/**
 * A second origin for blog posts: serves `pages` (a Map of path -> {body, headers}, which the
 * caller may change between requests) on 127.0.0.1 at a free port; 404 for anything else.
 * Returns {base, close()}.
 */
export async function servePages(pages) {
  const server = http.createServer((req, res) => {
    const page = pages.get(new URL(req.url, 'http://x').pathname);
    if (!page) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...page.headers });
    res.end(page.body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    base: `http://127.0.0.1:${server.address().port}/`,
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}
