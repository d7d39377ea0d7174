// The DDIM inversion panel (issue 15): choose an image (an example of the forward-process view,
// image 0 of the finished run, or an uploaded PNG, downscaled to the model's size), run DDIM
// backwards (η = 0) to its x_T, run that x_T forwards again with DDIM η = 0 and show how far
// the reconstruction is from the image. Both run with x̂_0 clipping off whatever the checkpoint
// says (op-run.js INVERSION_CLIP: clipping breaks the map), and "Use this x_T", which starts the
// main run from it, turns clipping off there too. The source and the step count are settings
// (`invert`: an example's name or "sample", an upload is not in the URL; `invsteps`).

import { EXAMPLE_NAMES, exampleImage } from './examples.js';
import { fileToTensor } from './image-input.js';
import { formatMs } from './messages.js';
import { INVERSION_CLIP, invert, reconstructionError, sampleFrom } from './op-run.js';
import { drawRgba, tensorToRgba } from './render.js';
import { RunQueue } from './run-loop.js';
import { parseValue } from './url-state.js';

export const UPLOAD = 'upload';
export const SAMPLE = 'sample';

export class InvertPanel {
  /**
   * `p`: {section, source, fileField, file, steps, run, use, back, status, x0, xT, rec, error}.
   * `env`: {work(queue, job) (panel work on the finished run: PanelSessions' session in
   * job(isCurrent, session)), shape(), settings(), lastImage(), setSource(name|null),
   * update(partial) (settings), useXT(xT, label), backToSeed(), inverted({source, steps,
   * label, x0, xT})}.
   */
  constructor(p, env) {
    this.p = p;
    this.env = env;
    this.queue = new RunQueue();
    this.result = null; // {source, label, steps, x0, xT, rec, meanAbs, maxAbs, evaluations}
    this.upload = null; // {name, x0}
    this.doneKey = null;
    p.source.replaceChildren(
      ...EXAMPLE_NAMES.map((n) => new Option(`Example: ${n}`, n)),
      new Option('Image 0 of the finished run', SAMPLE),
      new Option('Upload a PNG…', UPLOAD),
    );
    p.source.addEventListener('change', () => {
      p.fileField.hidden = p.source.value !== UPLOAD;
      this.#say('');
    });
    p.file.addEventListener('change', () => this.#readFile());
    p.steps.addEventListener('change', () => {
      const text = p.steps.value.trim();
      const n = text === '' ? null : parseValue('invsteps', text);
      if (n === undefined) {
        this.#say(`Steps must be a whole number from 1 to ${p.steps.max} (or empty: the run’s steps).`);
        p.steps.value = this.env.settings().invsteps ?? '';
        return;
      }
      this.env.update({ invsteps: n });
    });
    p.run.addEventListener('click', () => this.runNow());
    p.use.addEventListener('click', () => this.result && this.env.useXT(this.result.xT, `inverted from ${this.result.label}`));
    p.back.addEventListener('click', () => this.env.backToSeed());
    this.#state('idle');
  }

  #say(text) {
    this.p.status.textContent = text;
  }

  #state(state) {
    this.p.section.dataset.state = state;
    this.p.run.disabled = state === 'running';
    this.p.use.disabled = state !== 'done';
  }

  /** The settings changed: show the source they name (and the run's x_T origin). */
  update(s, givenXT) {
    const typed = s.invsteps === null || s.invsteps === undefined ? '' : String(s.invsteps);
    if (document.activeElement !== this.p.steps && this.p.steps.value !== typed) this.p.steps.value = typed;
    if (s.invert && s.invert !== this.p.source.value && [...this.p.source.options].some((o) => o.value === s.invert)) {
      this.p.source.value = s.invert;
      this.p.fileField.hidden = true;
    }
    this.p.back.hidden = !givenXT;
  }

  /** A main run finished: invert again if the settings name a source and its result is missing or stale. */
  afterRun() {
    const s = this.env.settings();
    if (!s.invert || s.invert === UPLOAD) return;
    if (this.doneKey !== this.#key(s.invert, s)) this.runNow(s.invert);
  }

  #key(source, s) {
    return `${source}|${this.#steps(s)}|${s.model}|${source === SAMPLE ? `${s.seed}|${s.sampler}|${s.steps}` : ''}`;
  }

  #steps(s) {
    return s.invsteps ?? s.steps;
  }

  async #readFile() {
    const file = this.p.file.files?.[0];
    this.upload = null;
    if (!file) return;
    const [c, h, w] = this.env.shape() ?? [];
    if (!c) {
      this.#say('The model is not loaded yet: try again in a moment.');
      return;
    }
    try {
      this.upload = { name: file.name, x0: await fileToTensor(file, c, h, w) };
      this.#say(`“${file.name}” read and scaled to ${w}×${h}; press Invert.`);
    } catch (e) {
      this.#state('error');
      this.#say(e.message || String(e));
    }
  }

  /** The chosen image as {label, x0} (1, C, H, W), or throws with what to do. */
  #image(source) {
    const shape = this.env.shape();
    if (!shape) throw new Error('the model is not loaded yet');
    const [c, h, w] = shape;
    if (source === UPLOAD) {
      if (!this.upload) throw new Error('choose a PNG file first');
      return { label: `“${this.upload.name}”`, x0: this.upload.x0 };
    }
    if (source === SAMPLE) {
      const last = this.env.lastImage();
      if (!last) throw new Error('no finished run yet: wait for the run above to finish');
      return { label: `image 0 of seed ${this.env.settings().seed}`, x0: last.slice(0, c * h * w) };
    }
    return { label: `the ${source} example`, x0: exampleImage(source, c, h, w) };
  }

  /** Inverts `source` (default: the chosen one) and reconstructs it. */
  async runNow(source = this.p.source.value) {
    const s = this.env.settings();
    let image;
    try {
      image = this.#image(source);
    } catch (e) {
      this.#state('error');
      this.#say(`Cannot invert: ${e.message}.`);
      return;
    }
    if (source !== UPLOAD) this.env.setSource(source);
    const steps = this.#steps(s);
    const key = this.#key(source, s);
    this.#state('running');
    this.#say(`Inverting ${image.label} with ${steps} DDIM steps…`);
    const t0 = performance.now();
    let out;
    try {
      out = await this.env.work(this.queue, async (isCurrent, session) => {
        const xT = await invert(session, image.x0, steps, isCurrent, (j) => this.#say(`Inverting ${image.label}: step ${j + 1}/${steps}…`));
        if (!xT) return null;
        this.#say(`Reconstructing ${image.label} from its x_T…`);
        const rec = await sampleFrom(session, { sampler: 'ddim', steps, eta: 0, clip: INVERSION_CLIP, xT }, isCurrent);
        return rec && { xT, rec: rec.x, evaluations: session.networkEvaluations() };
      });
    } catch (e) {
      this.#state('error');
      this.#say(`The inversion failed: ${e.message || e}`);
      return;
    }
    if (!out) {
      if (this.p.section.dataset.state === 'running') {
        this.#state(this.result ? 'done' : 'idle');
        this.#say('Wait for the run above to finish, then invert.');
      }
      return;
    }
    const err = reconstructionError(out.rec, image.x0);
    this.result = { source, label: image.label, steps, x0: image.x0, xT: out.xT, rec: out.rec, ...err };
    this.doneKey = key;
    this.#draw();
    this.#state('done');
    this.#say(`Inverted ${image.label} with ${steps} steps and reconstructed it (${2 * steps} network evaluations) in ${formatMs(performance.now() - t0)}.`);
    this.env.inverted({ source, steps, label: image.label, x0: image.x0, xT: out.xT });
  }

  #draw() {
    const [c, h, w] = this.env.shape();
    const r = this.result;
    for (const [canvas, x] of [[this.p.x0, r.x0], [this.p.xT, r.xT], [this.p.rec, r.rec]]) {
      const g = tensorToRgba(x, 1, c, h, w);
      drawRgba(canvas, g.rgba, g.width, g.height);
    }
    this.p.error.dataset.meanAbs = String(r.meanAbs);
    this.p.error.dataset.maxAbs = String(r.maxAbs);
    this.p.error.textContent = `Reconstruction error (pixels in [−1, 1]): mean |x̂₀ − x₀| = ${r.meanAbs.toFixed(4)}, max = ${r.maxAbs.toFixed(4)}, after ${r.steps} inversion steps (x̂₀ not clipped).`;
  }

  /** Stops the panel's work; resolves once it has stopped. */
  reset() {
    return this.queue.cancel();
  }
}
