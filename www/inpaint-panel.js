// The inpainting panel (issue 15): on a finished run's image (image 0, or one chosen from the
// batch) the reader paints a mask with mouse, pen or touch (pointer events; a brush size;
// clear; invert), and the masked region is sampled again with the current sampler (DDPM or
// DDIM: the engine's RePaint, the known pixels replaced by a draw from q(x_t | x_0) at every
// step, with an optional resample count) while the rest stays. The result shows next to the
// original. Settings: `mask` (mask.js's compact text, when it fits in a URL) and `resample`.

import { decodeMask, engineMask, paintDisc, urlMask } from './mask.js';
import { NAMES, evaluations, formatMs } from './messages.js';
import { imageOf, sampleFrom } from './op-run.js';
import { drawRgba, tensorToRgba } from './render.js';
import { RunQueue } from './run-loop.js';
import { laneClip, runSamplers } from './url-state.js';

/** The sampler inpainting uses with these settings (the run's, or in side by side the first of DDPM/DDIM), or null. */
export function inpaintSampler(s) {
  return runSamplers(s).find((x) => x === 'ddpm' || x === 'ddim') ?? null;
}

export class InpaintPanel {
  /**
   * `p`: {section, imageField, image, paint, brush, clear, invert, resample, resampleOut, run,
   * status, original, result}. `env`: {work(queue, job), shape(), settings(), lastImage(),
   * update(partial)}.
   */
  constructor(p, env) {
    this.p = p;
    this.env = env;
    this.queue = new RunQueue();
    this.mask = null; // Uint8Array H*W, 1 = fill
    this.result = null; // {image, x0, mask, out, evaluations, sampler}
    this.doneKey = null;
    this.drawing = false;
    p.clear.addEventListener('click', () => this.#edit(() => this.mask.fill(0)));
    p.invert.addEventListener('click', () => this.#edit(() => this.mask.forEach((m, i) => (this.mask[i] = m ? 0 : 1))));
    p.resample.addEventListener('input', () => {
      p.resampleOut.value = p.resample.value;
      this.env.update({ resample: Number(p.resample.value) });
    });
    p.image.addEventListener('change', () => this.#showImage());
    p.run.addEventListener('click', () => this.runNow());
    const paint = p.paint;
    paint.addEventListener('pointerdown', (e) => {
      if (!this.mask || !this.#x0()) return;
      e.preventDefault();
      try {
        paint.setPointerCapture(e.pointerId); // keeps the stroke when the finger leaves the canvas
      } catch {
        // a pointer the browser no longer tracks (synthetic events): paint without capture
      }
      this.drawing = true;
      this.#paintAt(e);
    });
    paint.addEventListener('pointermove', (e) => {
      if (this.drawing) this.#paintAt(e);
    });
    const end = () => {
      if (!this.drawing) return;
      this.drawing = false;
      this.#commit();
    };
    paint.addEventListener('pointerup', end);
    paint.addEventListener('pointercancel', end);
    this.#state('idle');
  }

  #state(state) {
    this.p.section.dataset.state = state;
  }

  #say(text) {
    this.p.status.textContent = text;
  }

  #cells() {
    const shape = this.env.shape();
    return shape ? { h: shape[1], w: shape[2], c: shape[0] } : null;
  }

  #ensureMask() {
    const cells = this.#cells();
    if (!cells) return false;
    if (!this.mask || this.mask.length !== cells.h * cells.w) this.mask = new Uint8Array(cells.h * cells.w);
    return true;
  }

  /** The settings changed: take a mask from them (URL, attribute, setState), the resample count, the sampler's reason. */
  update(s) {
    if (this.#ensureMask() && s.mask && s.mask !== this.maskText) {
      const m = decodeMask(s.mask, this.mask.length);
      if (m) {
        this.mask = m;
        this.maskText = s.mask;
        this.#showImage();
      } else console.warn(`diffusion-playground: ignoring mask=${s.mask} (not a mask of this model's ${this.mask.length} pixels)`);
    }
    this.p.resample.value = String(s.resample);
    this.p.resampleOut.value = String(s.resample);
    const sampler = inpaintSampler(s);
    this.p.run.disabled = !sampler || this.p.section.dataset.state === 'running';
    this.p.section.dataset.sampler = sampler ?? '';
    if (!sampler) this.#say('Inpainting needs DDPM or DDIM: DPM-Solver++’s multistep update cannot take the known pixels’ replacement at each step. Choose DDPM or DDIM above.');
    else if (this.p.section.dataset.state === 'idle' && this.#x0()) this.#say('Paint the region to fill (mouse or finger), then press Inpaint.');
  }

  /** A main run finished: its images can be painted on; inpaint again when a mask is set. */
  afterRun() {
    const s = this.env.settings();
    const last = this.env.lastImage();
    const n = s.batch;
    const keep = Number(this.p.image.value) || 0;
    this.p.image.replaceChildren(...Array.from({ length: n }, (_, k) => new Option(`image ${k}`, String(k))));
    this.p.image.value = String(Math.min(keep, n - 1));
    this.p.imageField.hidden = n < 2;
    this.#ensureMask();
    this.#showImage();
    if (last && this.p.section.dataset.state !== 'running') {
      this.#state('idle');
      this.update(s);
    }
    if (s.mask && this.mask?.some((m) => m) && inpaintSampler(s) && this.doneKey !== this.#key(s)) this.runNow();
  }

  #key(s) {
    return `${s.model}|${s.seed}|${s.sampler}|${s.side}|${s.compare}|${s.steps}|${s.eta}|${s.variance}|${s.clip}|${s.batch}|${this.p.image.value}|${s.resample}|${this.mask ? Array.from(this.mask).join('') : ''}`;
  }

  /** The chosen image of the finished run, (1, C, H, W), or null. */
  #x0() {
    const last = this.env.lastImage();
    const cells = this.#cells();
    if (!last || !cells) return null;
    const len = cells.c * cells.h * cells.w;
    const k = Number(this.p.image.value) || 0;
    return last.length >= (k + 1) * len ? imageOf(last, k, len) : null;
  }

  #paintAt(e) {
    const { h, w } = this.#cells();
    const r = this.p.paint.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * w;
    const y = ((e.clientY - r.top) / r.height) * h;
    paintDisc(this.mask, w, h, x, y, Number(this.p.brush.value));
    this.#showImage();
  }

  #edit(fn) {
    if (!this.#ensureMask()) return;
    fn();
    this.#showImage();
    this.#commit();
  }

  /** The mask is done (pointer up, clear, invert): into the settings when it fits a URL. */
  #commit() {
    this.maskText = urlMask(this.mask);
    this.env.update({ mask: this.maskText });
    const painted = this.mask.reduce((a, m) => a + m, 0);
    this.p.section.dataset.painted = String(painted);
    this.#say(painted ? `${painted} of ${this.mask.length} pixels to fill; press Inpaint.` : 'Nothing painted: paint the region to fill.');
  }

  /** The image with the mask drawn over it (painted pixels tinted) on the painting canvas, and the original. */
  #showImage() {
    const x0 = this.#x0();
    if (!x0 || !this.#ensureMask()) return;
    const { c, h, w } = this.#cells();
    const g = tensorToRgba(x0, 1, c, h, w);
    drawRgba(this.p.original, g.rgba, w, h);
    const tinted = Uint8ClampedArray.from(g.rgba);
    for (let i = 0; i < this.mask.length; i++) {
      if (!this.mask[i]) continue;
      tinted[i * 4] = Math.round(tinted[i * 4] * 0.35 + 255 * 0.65);
      tinted[i * 4 + 1] = Math.round(tinted[i * 4 + 1] * 0.35 + 40 * 0.65);
      tinted[i * 4 + 2] = Math.round(tinted[i * 4 + 2] * 0.35 + 200 * 0.65);
    }
    drawRgba(this.p.paint, tinted, w, h);
  }

  async runNow() {
    const s = this.env.settings();
    const sampler = inpaintSampler(s);
    const x0 = this.#x0();
    if (!sampler) {
      this.#state('error');
      this.#say('Inpainting needs DDPM or DDIM: choose one of them above (DPM-Solver++ cannot inpaint).');
      return;
    }
    if (!x0) {
      this.#state('error');
      this.#say('No finished image to inpaint yet: wait for the run above to finish.');
      return;
    }
    if (!this.mask.some((m) => m)) {
      this.#state('error');
      this.#say('The mask is empty: paint the region to fill first.');
      return;
    }
    const image = Number(this.p.image.value) || 0;
    const mask = Uint8Array.from(this.mask);
    const key = this.#key(s);
    this.#state('running');
    this.p.run.disabled = true;
    this.#say(`Inpainting image ${image} with ${NAMES[sampler]}, ${s.steps} steps, resample ${s.resample}…`);
    const t0 = performance.now();
    let out;
    try {
      out = await this.env.work(this.queue, (isCurrent, session) =>
        sampleFrom(session, { sampler, steps: s.steps, eta: sampler === 'ddim' ? s.eta : 0, variance: s.variance, seed: s.seed, clip: laneClip(sampler, s.clip), inpaint: { x0, mask: engineMask(mask), resample: s.resample } }, isCurrent, (j) =>
          this.#say(`Inpainting image ${image}: step ${j + 1}/${s.steps}…`),
        ),
      );
    } catch (e) {
      this.#state('error');
      this.#say(`Inpainting failed: ${e.message || e}`);
      this.p.run.disabled = false;
      return;
    }
    this.p.run.disabled = false;
    if (!out) {
      if (this.p.section.dataset.state === 'running') {
        this.#state(this.result ? 'done' : 'idle');
        this.#say('Wait for the run above to finish, then inpaint.');
      }
      return;
    }
    const { c, h, w } = this.#cells();
    this.result = { image, x0, mask, out: out.x, evaluations: out.evaluations, sampler };
    this.doneKey = key;
    const g = tensorToRgba(out.x, 1, c, h, w);
    drawRgba(this.p.result, g.rgba, w, h);
    this.#state('done');
    this.#say(`Inpainted ${mask.reduce((a, m) => a + m, 0)} pixels of image ${image} with ${NAMES[sampler]} (${s.steps} steps, resample ${s.resample}: ${evaluations(out.evaluations)}) in ${formatMs(performance.now() - t0)}.`);
  }

  /** Stops the panel's work; resolves once it has stopped. */
  reset() {
    return this.queue.cancel();
  }
}
