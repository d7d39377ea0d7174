// Content-Security-Policy violations that stop the playground, recorded as the browser reports
// them (securitypolicyviolation events), so that a failed load can say which directive of the
// host page's policy blocked what, instead of a bare "Failed to fetch" or CompileError.

const violations = [];

if (typeof document !== 'undefined') {
  document.addEventListener('securitypolicyviolation', (e) => {
    violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI });
  });
}

/**
 * What the host page must change, for the violations that concern the playground served from
 * `base` (a URL): WebAssembly refused (script-src lacks 'wasm-unsafe-eval'), or a download from
 * `base`'s origin refused (connect-src). Resolves to null when there is none. Call it after a
 * failure: browsers report a violation in a task of its own, after the refused call has failed.
 */
export async function cspAdvice(base) {
  await new Promise((resolve) => setTimeout(resolve, 0));
  const origin = new URL(base).origin;
  if (violations.some((v) => v.blocked === 'wasm-eval' || v.blocked === 'wasm-unsafe-eval')) {
    return (
      "this page's Content-Security-Policy does not allow WebAssembly, which the playground runs on: " +
      "its script-src needs 'wasm-unsafe-eval' (see \"Embedding in your blog\" in the playground's README)"
    );
  }
  const fetches = violations.filter((v) => v.directive === 'connect-src' && v.blocked.startsWith(origin));
  if (fetches.length) {
    return (
      `this page's Content-Security-Policy does not allow downloading from ${origin} ` +
      `(blocked: ${fetches[0].blocked}): add ${origin} to its connect-src`
    );
  }
  return null;
}

/**
 * Why the CPU workers could not start, when the host page's policy refused them, else null. A
 * post on another origin starts them from a blob: URL that imports the worker module from
 * `base`'s origin: worker-src must allow both.
 */
export async function workerAdvice(base) {
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (!violations.some((v) => v.directive === 'worker-src')) return null;
  return `this page's Content-Security-Policy does not allow the playground's CPU workers: its worker-src needs blob: and ${new URL(base).origin}`;
}
