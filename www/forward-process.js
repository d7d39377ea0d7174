// The forward (noising) process, computed in JS with no GPU:
// q(x_t | x_0) = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, with eps the seeded noise
// the engine itself uses and alpha_bar from the model's scheduler_config.json (the wasm
// module's alphasCumprodFor, which needs no WebGPU). The view picks x_0 (a generated sample or
// an example), slides t and plots the two coefficients.

import { fetchSampleShape, fetchSchedulerConfig, loadWasm } from './engine.js';
import { EXAMPLE_NAMES, exampleImage } from './examples.js';
import { schedulePlot } from './plot.js';
import { drawRgba, tensorToRgba } from './render.js';

/** x_t = sqrt(ab) x0 + sqrt(1 - ab) eps, elementwise. */
export function qSample(x0, eps, alphaBar) {
  const a = Math.sqrt(alphaBar);
  const b = Math.sqrt(1 - alphaBar);
  const out = new Float32Array(x0.length);
  for (let i = 0; i < x0.length; i++) out[i] = a * x0[i] + b * eps[i];
  return out;
}

/**
 * What the view needs of `model`, all without a GPU: {alphasCumprod (from its
 * scheduler_config.json, or diffusers' defaults without one), shape [C, H, W], initialNoise}.
 */
export async function forwardModel(model) {
  const [wasm, shape, scheduler] = await Promise.all([loadWasm(), fetchSampleShape(model), fetchSchedulerConfig(model)]);
  return {
    alphasCumprod: wasm.alphasCumprodFor(scheduler),
    shape,
    initialNoise: (seed, n, len) => wasm.initialNoise(seed, n, len),
  };
}

export class ForwardProcessView {
  /**
   * `parts`: {section (shown with class "ready"), wait (its text while not), source (select),
   * t (range), tOut (output), x0, eps, xt (canvases), plot (svg), caption}. Call `load(model)`.
   */
  constructor(parts) {
    this.parts = parts;
    this.generated = null;
    this.model = null;
    this.seed = 0;
    this.loads = 0;
    parts.source.addEventListener('change', () => this.render());
    parts.t.addEventListener('input', () => this.render());
    this.fillSources();
  }

  /** Loads `model` (forwardModel) and shows the view; of overlapping calls the last one wins. */
  async load(model) {
    const call = ++this.loads;
    try {
      const m = await forwardModel(model);
      if (call !== this.loads) return;
      this.setModel(m);
      this.parts.section.classList.add('ready');
    } catch (e) {
      if (call !== this.loads) return;
      this.parts.section.classList.remove('ready');
      this.parts.wait.textContent = `The forward-process view cannot be shown: ${e.message || e}`;
      console.warn(`diffusion-playground: no forward-process view for ${model} (${e.message || e})`);
    }
  }

  /** `alphasCumprod` (Float32Array, length T), `shape` [C, H, W], `initialNoise(seed, n, len)`. */
  setModel({ alphasCumprod, shape, initialNoise }) {
    this.model = { alphasCumprod, shape, initialNoise };
    const T = alphasCumprod.length;
    this.parts.t.max = String(T - 1);
    if (Number(this.parts.t.value) > T - 1) this.parts.t.value = String(Math.round((T - 1) / 4));
    this.plot = schedulePlot(this.parts.plot, alphasCumprod);
    this.eps = null;
    this.render();
  }

  /** The noise seed (the playground's seed: the same eps as that run's x_T, image 1). */
  setSeed(seed) {
    if (seed !== this.seed) {
      this.seed = seed;
      this.eps = null;
      this.render();
    }
  }

  /** The last run's final images, (n, C, H, W), offered as x_0 sources. */
  setGenerated(data, n) {
    this.generated = { data, n };
    this.fillSources();
    this.render();
  }

  fillSources() {
    const select = this.parts.source;
    const keep = select.value;
    select.replaceChildren();
    const group = (label) => {
      const g = document.createElement('optgroup');
      g.label = label;
      select.append(g);
      return g;
    };
    if (this.generated) {
      const g = group('Generated');
      for (let k = 0; k < this.generated.n; k++) g.append(new Option(`Generated image ${k + 1}`, `gen:${k}`));
    }
    const ex = group('Examples');
    for (const name of EXAMPLE_NAMES) ex.append(new Option(name, `ex:${name}`));
    select.value = [...select.options].some((o) => o.value === keep) ? keep : select.options[0].value;
  }

  x0() {
    const [c, h, w] = this.model.shape;
    const [kind, id] = this.parts.source.value.split(':');
    if (kind === 'gen' && this.generated) {
      const len = c * h * w;
      const k = Math.min(Number(id), this.generated.n - 1);
      return this.generated.data.subarray(k * len, (k + 1) * len);
    }
    return exampleImage(EXAMPLE_NAMES.includes(id) ? id : EXAMPLE_NAMES[0], c, h, w);
  }

  render() {
    if (!this.model) return;
    const [c, h, w] = this.model.shape;
    if (!this.eps) this.eps = this.model.initialNoise(this.seed, 1, c * h * w);
    const t = Math.min(Number(this.parts.t.value), this.model.alphasCumprod.length - 1);
    const ab = this.model.alphasCumprod[t];
    const x0 = this.x0();
    const xt = qSample(x0, this.eps, ab);
    for (const [canvas, data] of [
      [this.parts.x0, x0],
      [this.parts.eps, this.eps],
      [this.parts.xt, xt],
    ]) {
      const g = tensorToRgba(data, 1, c, h, w);
      drawRgba(canvas, g.rgba, g.width, g.height);
    }
    this.parts.tOut.value = `t = ${t}`;
    this.parts.caption.textContent =
      `x_t = ${Math.sqrt(ab).toFixed(3)} · x_0 + ${Math.sqrt(1 - ab).toFixed(3)} · ε`;
    this.plot.setT(t);
  }
}
