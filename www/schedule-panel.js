// The schedule panel: for the plan the current settings make (no run needed; it follows the
// sampler, steps, eta and variance controls as they move), alpha-bar_t and log-SNR over t and
// the noise sigma_t each visited step adds, with the visited timesteps ticked along the axis
// and the step the anatomy shows marked. Every value is the engine's scheduler's
// (`schedulePlan` in src/web/anatomy.rs, run on the model's scheduler_config.json).

import { formatNumber } from './anatomy-text.js';
import { fetchSchedulerConfig, loadWasm } from './engine.js';
import { NAMES } from './messages.js';
import { linePlot, thin } from './svg-plot.js';
import { runSamplers } from './url-state.js';

/** Dots on the curves up to this many visited steps; beyond it the ticks alone mark them. */
const MAX_DOTS = 100;

export class SchedulePanel {
  /** `parts`: {section, wait, caption, abar, snr, sigma (svgs), legend}. Call `load(model)`. */
  constructor(parts) {
    this.p = parts;
    this.wasm = null;
    this.json = null;
    this.settings = null;
    this.loads = 0;
    this.plots = [];
    this.current = null;
    /** The plans drawn last: {sampler: schedulePlan(...)} (for tests and the legend). */
    this.plans = {};
  }

  /** Loads `model`'s scheduler config; of overlapping calls the last one wins. */
  async load(model) {
    const call = ++this.loads;
    try {
      const [wasm, json] = await Promise.all([loadWasm(), fetchSchedulerConfig(model)]);
      if (call !== this.loads) return;
      this.wasm = wasm;
      this.json = json;
      this.p.section.classList.add('ready');
      this.render();
    } catch (e) {
      if (call !== this.loads) return;
      this.p.section.classList.remove('ready');
      this.p.wait.textContent = `The schedule cannot be shown: ${e.message || e}`;
    }
  }

  /** The settings changed (sampler, steps, eta, variance, side): redraw for the new plan. */
  update(settings) {
    this.settings = settings;
    this.render();
  }

  /** Marks timestep `t` (the step the anatomy shows), or nothing for null. */
  setCurrent(t) {
    this.current = t;
    for (const plot of this.plots) plot.marker(t);
  }

  render() {
    const s = this.settings;
    if (!this.wasm || !s) return;
    const samplers = runSamplers(s);
    const plans = {};
    try {
      for (const sampler of samplers) {
        plans[sampler] = this.wasm.schedulePlan(this.json ?? undefined, sampler, s.steps, sampler === 'ddim' ? s.eta : 0, s.variance ?? 'fixed_small');
      }
    } catch (e) {
      this.p.caption.textContent = `No plan for these settings: ${e.message || e}`;
      this.p.section.dataset.error = 'true';
      return;
    }
    delete this.p.section.dataset.error;
    this.plans = plans;
    const first = plans[samplers[0]];
    const T = first.T;
    const ts = Array.from(first.timesteps);
    const dots = ts.length <= MAX_DOTS;
    const xAxis = { min: 0, max: T - 1, ticks: [0, Math.round((T - 1) / 2), T - 1], label: 't' };
    const curve = (values) => thin(T, 240).map((t) => [t, values[t]]);
    const visited = (values) => ts.map((t) => [t, values[t]]);
    const abar = first.alphasCumprod;
    const snr = first.logSnr;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of snr) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const names = samplers.map((x) => NAMES[x]).join(' and ');
    const list = ts.length > 8 ? `${ts.slice(0, 4).join(', ')}, …, ${ts.slice(-2).join(', ')}` : ts.join(', ');
    this.p.caption.textContent = `${names}, ${ts.length} steps: visits t = ${list}`;
    this.plots = [
      linePlot(this.p.abar, {
        x: xAxis,
        y: { min: 0, max: 1, ticks: [0, 0.5, 1], label: 'ᾱ_t' },
        series: [{ cls: 'curve', points: curve(abar) }, { cls: 'visited', points: visited(abar), line: false, dots, label: 'ᾱ_t at t' }],
        rug: ts,
        title: `alpha-bar_t over t = 0..${T - 1}; the ${ts.length} visited timesteps are marked`,
      }),
      linePlot(this.p.snr, {
        x: xAxis,
        y: { min: lo, max: hi, ticks: [lo, 0, hi].filter((v, i, a) => a.indexOf(v) === i && v >= lo && v <= hi), label: 'log SNR_t' },
        series: [{ cls: 'curve', points: curve(snr) }, { cls: 'visited', points: visited(snr), line: false, dots, label: 'log SNR at t' }],
        rug: ts,
        title: `log SNR_t = ln(alpha-bar / (1 - alpha-bar)) over t, from ${formatNumber(hi)} at t = 0 to ${formatNumber(lo)} at t = ${T - 1}`,
      }),
      this.#sigmaPlot(samplers, plans, xAxis, ts, dots),
    ];
    this.p.section.dataset.steps = String(ts.length);
    this.p.section.dataset.samplers = samplers.join(' ');
    this.setCurrent(this.current);
  }

  #sigmaPlot(samplers, plans, xAxis, ts, dots) {
    const s = this.settings;
    const series = [];
    const legend = [];
    let hi = 0;
    for (const sampler of samplers) {
      const plan = plans[sampler];
      const at = (values) => ts.map((t, i) => [t, values[i]]);
      let run;
      let ref;
      if (sampler === 'dpmpp2m') {
        run = { label: 'σ_t = 0 (DPM-Solver++ adds no noise)', values: plan.sigma };
        ref = { label: 'σ_t at η = 1 (DDPM’s √β̃_t)', values: plan.sigmaEta1 };
      } else if (sampler === 'ddim') {
        run = { label: `σ_t at η = ${formatNumber(s.eta)}`, values: plan.sigma };
        ref = { label: 'σ_t at η = 1 (DDPM’s √β̃_t)', values: plan.sigmaEta1 };
      } else if ((s.variance ?? 'fixed_small') === 'fixed_large') {
        run = { label: 'σ_t = √β_t (DDPM)', values: plan.sigma };
        ref = { label: '√β̃_t, the posterior', values: plan.sigmaPosterior };
      } else {
        run = { label: 'σ_t = √β̃_t (DDPM)', values: plan.sigma };
        ref = { label: '√β_t', values: plan.sigmaBeta };
      }
      for (const v of [...run.values, ...ref.values]) hi = Math.max(hi, v);
      series.push({ cls: `ref ref-${sampler}`, points: at(ref.values), label: ref.label });
      series.push({ cls: `run run-${sampler}`, points: at(run.values), dots, label: run.label });
      legend.push(`${samplers.length > 1 ? `${NAMES[sampler]}: ` : ''}solid ${run.label}; dashed ${ref.label}`);
    }
    this.p.legend.textContent = `${legend.join('. ')}. Each σ_t is drawn at the step’s t.`;
    return linePlot(this.p.sigma, {
      x: xAxis,
      y: { min: 0, max: hi > 0 ? hi : 1, ticks: [0, hi > 0 ? hi : 1], label: 'σ_t' },
      series,
      rug: ts,
      title: `sigma_t, the noise each of the ${ts.length} steps adds, at its timestep`,
    });
  }
}
