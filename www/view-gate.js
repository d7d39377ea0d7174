// When a playground may spend the reader's bandwidth and CPU: with loading="lazy" (the default)
// it starts (downloads the wasm and the weights, samples) once it comes near the viewport, and
// its runs wait between steps while it is scrolled away; with loading="eager" it starts at
// once and runs wherever it is. Either way runs wait while the tab is hidden.

/** How near the viewport counts as near: start a little before the playground scrolls in. */
export const NEAR_MARGIN = '300px 0px';

/** The loading mode a `loading` attribute names: 'eager' or (default, also when unknown) 'lazy'. */
export function loadingMode(value) {
  return value === 'eager' ? 'eager' : 'lazy';
}

export class ViewGate {
  #el;
  #lazy = true;
  #near = false;
  #observer = null;
  #waiters = new Set();
  #onVisibility = () => this.#wake();

  /** `el`: the element whose position counts. */
  constructor(el) {
    this.#el = el;
  }

  /** Starts watching (the element is in the document); `lazy` as loadingMode says. */
  connect(lazy) {
    this.#lazy = lazy;
    document.addEventListener('visibilitychange', this.#onVisibility);
    if (!this.#observer && typeof IntersectionObserver === 'function') {
      this.#observer = new IntersectionObserver(
        (entries) => {
          this.#near = entries.at(-1).isIntersecting;
          this.#wake();
        },
        { rootMargin: NEAR_MARGIN },
      );
      this.#observer.observe(this.#el);
    } else if (!this.#observer) {
      this.#near = true; // no way to tell: behave as eager
    }
  }

  disconnect() {
    document.removeEventListener('visibilitychange', this.#onVisibility);
    this.#observer?.disconnect();
    this.#observer = null;
    this.#near = false;
  }

  setLazy(lazy) {
    this.#lazy = lazy;
    this.#wake();
  }

  get lazy() {
    return this.#lazy;
  }

  /** Why work must wait now: 'hidden' (the tab), 'offscreen' (lazy and scrolled away) or null. */
  get reason() {
    if (document.visibilityState === 'hidden') return 'hidden';
    if (this.#lazy && !this.#near) return 'offscreen';
    return null;
  }

  get open() {
    return this.reason === null;
  }

  /** Resolves once `open` (at once if it is), or when `cancelled` (a promise) settles first. */
  wait(cancelled) {
    if (this.open) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(check);
        resolve();
      };
      const check = () => this.open && done();
      this.#waiters.add(check);
      cancelled?.then(done, done);
    });
  }

  #wake() {
    for (const check of [...this.#waiters]) check();
  }
}
