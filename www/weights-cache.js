// A model's weights, downloaded with progress and kept in the Cache API for the next visit,
// reused only when the server still has the same contents:
//
// 1. The model's manifest.json (written by `cargo xtask build-web`/`dist`: the weights' byte
//    length and SHA-256), fetched with `cache: 'no-cache'`, against the SHA-256 the cached copy
//    was stored with. This works on any static host.
// 2. Without a manifest entry: a HEAD's ETag (else Last-Modified) against the cached copy's.
//    A server that sends neither gets the weights downloaded again. Never by length alone.
// 3. When neither can be asked (offline, a network error, a 5xx): the cached copy, with a
//    `cacheNote` that the page shows, saying it was not checked and why.

const CACHE_NAME = 'diffusion-playground-models-v1';
/** The file next to the weights that names their contents (xtask/src/manifest.rs). */
export const MANIFEST = 'manifest.json';
/** The header in which a cached copy keeps the SHA-256 it was stored with. */
const SHA_HEADER = 'x-dp-sha256';

let cachePromise = null;

/** The Cache API store, or null (said once on the console) where the browser does not offer one. */
export function openCache() {
  if (!cachePromise) {
    cachePromise = (async () => {
      if (!('caches' in globalThis) || !globalThis.caches) {
        console.warn(
          'diffusion-playground: the Cache API is unavailable here (it needs https:// or localhost); ' +
            'model weights will be downloaded again on every visit.',
        );
        return null;
      }
      try {
        return await caches.open(CACHE_NAME);
      } catch (e) {
        console.warn(`diffusion-playground: cannot open the Cache API store (${e.message || e}); weights will not be cached.`);
        return null;
      }
    })();
  }
  return cachePromise;
}

/**
 * The entry for `file` in a manifest's text ({bytes, sha256}), or null when the text is not
 * such a manifest or does not list the file.
 */
export function parseManifest(text, file) {
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const e = json?.files?.[file];
  if (!e || !Number.isSafeInteger(e.bytes) || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) return null;
  return { bytes: e.bytes, sha256: e.sha256 };
}

/**
 * What a manifest entry says of a cached copy stored as `stored` ({sha256, bytes, etag,
 * lastModified}): 'fresh' when both hash and length match, else 'stale'; null without an entry.
 */
export function byManifest(stored, entry) {
  if (!entry) return null;
  return stored.sha256 === entry.sha256 && stored.bytes === entry.bytes ? 'fresh' : 'stale';
}

/**
 * What a HEAD's validators ({etag, lastModified}) say of a cached copy: 'fresh' when the ETag
 * equals the stored one (or, where the server sends no ETag, Last-Modified does); 'stale'
 * otherwise, also when there is nothing to compare.
 */
export function byValidators(stored, head) {
  if (head.etag) return stored.etag === head.etag ? 'fresh' : 'stale';
  if (head.lastModified) return stored.lastModified === head.lastModified ? 'fresh' : 'stale';
  return 'stale';
}

/** The sentence the page shows when cached weights are used without a check. */
export function uncheckedNote(why) {
  return `weights from this browser's cache, not checked against the server (${why})`;
}

/** `fetch`, with a network error or a 5xx answer as {failed: why} rather than a response. */
async function ask(url, init) {
  const name = new URL(url).pathname.split('/').pop();
  try {
    const response = await fetch(url, init);
    if (response.status >= 500) return { failed: `${name}: HTTP ${response.status}` };
    return { response };
  } catch (e) {
    return { failed: `${name} could not be fetched: ${e?.message || e}` };
  }
}

/**
 * Whether the cached copy `hit` of `url` is still what the server has: {verdict: 'fresh' |
 * 'stale' | 'unchecked', why?, entry?} (`entry`: the manifest's, for checking a new download).
 */
export async function checkCached(hit, url) {
  const h = hit.headers;
  const stored = {
    sha256: h.get(SHA_HEADER),
    bytes: Number(h.get('content-length')),
    etag: h.get('etag'),
    lastModified: h.get('last-modified'),
  };
  const file = new URL(url).pathname.split('/').pop();
  const m = await ask(new URL(MANIFEST, url).href, { cache: 'no-cache' });
  if (m.failed) return { verdict: 'unchecked', why: m.failed };
  const entry = m.response.ok ? parseManifest(await m.response.text(), file) : null;
  const verdict = byManifest(stored, entry);
  if (verdict) return { verdict, entry };
  const head = await ask(url, { method: 'HEAD', cache: 'no-store' });
  if (head.failed) return { verdict: 'unchecked', why: head.failed };
  if (!head.response.ok) return { verdict: 'stale' };
  const validators = { etag: head.response.headers.get('etag'), lastModified: head.response.headers.get('last-modified') };
  return { verdict: byValidators(stored, validators) };
}

/** The SHA-256 of `bytes` as hex, or null where the browser has no SubtleCrypto. */
export async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) return null;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The bytes of `url`, reporting `onProgress(loaded, total)` while downloading (`total` is 0
 * without a Content-Length). With a `cache`, a cached copy is used when `checkCached` finds it
 * fresh, or, with a `cacheNote`, when it could not check; a new download is stored with its
 * SHA-256. `optional` files resolve to {bytes: null} on 404. Returns {bytes, fromCache, cacheNote}.
 */
export async function fetchBytes(url, { onProgress = () => {}, optional = false, cache = null } = {}) {
  let entry = null;
  if (cache) {
    const hit = await cache.match(url);
    if (hit) {
      const check = await checkCached(hit, url);
      entry = check.entry ?? null;
      if (check.verdict !== 'stale') {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        onProgress(bytes.length, bytes.length);
        const cacheNote = check.verdict === 'unchecked' ? uncheckedNote(check.why) : null;
        if (cacheNote) console.warn(`diffusion-playground: ${url}: ${cacheNote}.`);
        return { bytes, fromCache: true, cacheNote };
      }
      console.info(`diffusion-playground: ${url} changed on the server; downloading it again.`);
      await cache.delete(url);
    }
  }
  // Revalidated with the server, so that a browser's HTTP cache cannot hand back an older copy
  // than the manifest describes.
  const response = await fetch(url, { cache: 'no-cache' });
  if (!response.ok) {
    if (optional && response.status === 404) return { bytes: null, fromCache: false, cacheNote: null };
    throw new Error(`downloading ${url} failed: HTTP ${response.status} ${response.statusText}`.trim());
  }
  const bytes = await readBody(response, onProgress);
  if (cache) await store(cache, url, response, bytes, entry);
  return { bytes, fromCache: false, cacheNote: null };
}

async function readBody(response, onProgress) {
  const total = Number(response.headers.get('content-length')) || 0;
  if (!response.body?.getReader) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress(bytes.length, bytes.length);
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  onProgress(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

/** Stores a download with the SHA-256 of its bytes and the server's validators. */
async function store(cache, url, response, bytes, entry) {
  const headers = new Headers({ 'content-length': String(bytes.length) });
  for (const h of ['etag', 'last-modified', 'content-type']) {
    const v = response.headers.get(h);
    if (v) headers.set(h, v);
  }
  try {
    const sha = await sha256Hex(bytes);
    if (sha) headers.set(SHA_HEADER, sha);
    if (sha && entry && byManifest({ sha256: sha, bytes: bytes.length }, entry) === 'stale') {
      console.warn(
        `diffusion-playground: ${url} does not match its ${MANIFEST} (sha256 ${sha}, ${bytes.length} bytes); ` +
          'it will be downloaded again on every visit until the manifest is rebuilt (cargo xtask build-web or dist).',
      );
    }
    await cache.put(url, new Response(bytes, { headers }));
  } catch (e) {
    console.warn(`diffusion-playground: could not cache ${url} (${e.message || e}).`);
  }
}
