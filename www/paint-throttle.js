// Coalesces what a run draws per step. A small model on the CPU makes a step every ~25 ms, and
// drawing each one (the images, the progress line, the step anatomy's numbers and pictures)
// costs the page's thread about as much again: measured on 2 cores at batch 1, the thread was
// busy 31 of every 33 ms per step, so it, not the sampler, set the pace. Painting the newest
// state at most once per frame and every `minMs` keeps the thread free for the sampler and the
// sliders; nothing recorded is lost (the recorder and the filmstrip still see every step), only
// intermediate pictures nobody could have seen are skipped.

export class PaintThrottle {
  #pending = new Map(); // key -> the newest paint for it
  #handle = null;
  #last = -Infinity;
  #minMs;
  #frame;
  #cancelFrame;
  #now;

  /**
   * `minMs`: the least time between two paints. `frame(cb)`/`cancelFrame(handle)`: how to wait
   * for the next frame (requestAnimationFrame; a timer where there is none, e.g. in Node).
   */
  constructor({ minMs = 40, frame, cancelFrame, now = () => performance.now() } = {}) {
    this.#minMs = minMs;
    const raf = globalThis.requestAnimationFrame;
    this.#frame = frame ?? (raf ? (cb) => raf.call(globalThis, cb) : (cb) => setTimeout(cb, 16));
    this.#cancelFrame = cancelFrame ?? (raf ? (h) => globalThis.cancelAnimationFrame(h) : (h) => clearTimeout(h));
    this.#now = now;
  }

  /** Paints `paint()` at the next frame due, unless a newer request for `key` comes first. */
  request(key, paint) {
    this.#pending.set(key, paint);
    if (this.#handle === null) this.#handle = this.#frame(() => this.#tick());
  }

  #tick() {
    this.#handle = null;
    if (!this.#pending.size) return;
    if (this.#now() - this.#last < this.#minMs) {
      this.#handle = this.#frame(() => this.#tick());
      return;
    }
    this.flush();
  }

  /** Paints everything pending now (a run's end: its last step must show). */
  flush() {
    if (this.#handle !== null) this.#cancelFrame(this.#handle);
    this.#handle = null;
    this.#last = this.#now();
    const paints = [...this.#pending.values()];
    this.#pending.clear();
    for (const paint of paints) paint();
  }

  /** Drops what is pending (a new run starts: the old one's pictures must not land on it). */
  cancel() {
    if (this.#handle !== null) this.#cancelFrame(this.#handle);
    this.#handle = null;
    this.#pending.clear();
  }
}
