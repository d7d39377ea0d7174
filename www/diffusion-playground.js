// <diffusion-playground>: one diffusion sampling playground, embeddable with a single
// <script type="module" src=".../diffusion-playground.js">. Attributes set the starting
// settings and which controls appear:
//
//   <diffusion-playground sampler="ddim" steps="50" eta="0" seed="7" batch="1"
//       model="models/emoji32" variance="fixed_small" view="x0" side-by-side
//       controls="full|compact|none" sync-url></diffusion-playground>
//
// Playgrounds on one page share one Engine per model (engine.js). Progress is reported with
// events on the element: dp-ready, dp-step {i, n, msPerStep, sampler}, dp-done {msTotal,
// settings}, dp-error {message}; `data-status` is idle|loading|running|done|error.
// Test hooks: getState(), lastImage(), initialSample(), timings.

import {
  BASE_URL,
  WebGpuUnavailable,
  checkWebGpu,
  forgetEngine,
  getEngine,
  isDeviceLost,
  isGpuFailure,
  listModels,
} from './engine.js';
import { FrameRecorder } from './frames.js';
import { ForwardProcessView } from './forward-process.js';
import { NAMES, formatMB, formatMs, laneCaption } from './messages.js';
import { drawNoisePreview, hideNotice, showNotice } from './notices.js';
import { filmstripPng, gridPng, saveCanvas } from './png.js';
import { laneTemplate, playgroundTemplate } from './playground-template.js';
import { drawRgba, gridShape, tensorToRgba } from './render.js';
import { RunQueue, runLanes } from './run-loop.js';
import { Timeline } from './timeline.js';
import { DEFAULTS, DEFAULT_MODEL, RUN_KEYS, embedSnippets, parseParams, parseValue, randomSeed, toParams } from './url-state.js';

const CSS_URL = new URL('./playground.css', import.meta.url).href;
const MODULE_URL = new URL(import.meta.url).href;
const MODES = ['full', 'compact', 'none'];

/** Attribute name -> settings key. */
const ATTRS = {
  model: 'model',
  sampler: 'sampler',
  steps: 'steps',
  eta: 'eta',
  variance: 'variance',
  seed: 'seed',
  batch: 'batch',
  'side-by-side': 'side',
  view: 'view',
};


export class DiffusionPlayground extends HTMLElement {
  static observedAttributes = [...Object.keys(ATTRS), 'controls'];

  #settings = { ...DEFAULTS };
  #mode = 'full';
  #built = false;
  #queue = new RunQueue();
  #bootGeneration = 0;
  #loaded = null; // {engine, wasm, info, model}
  #sessions = new Map(); // batch -> Session[]
  #lanes = []; // UI lanes: {figure, canvas, caption, placeholder, name}
  #lastImage = null;
  #lastXT = [];
  #noGpu = null;
  #forward = null;
  #timeline = null;
  #timings = {};
  #urlTimer = 0;

  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
  }

  // ----- lifecycle ---------------------------------------------------------------------------

  connectedCallback() {
    if (!this.#built) {
      this.#readInitialSettings();
      this.#build();
    }
    if (!this.dataset.status) this.#setStatus('idle', '');
    if (!this.#loaded) this.#boot();
    else this.#requestRun();
  }

  disconnectedCallback() {
    // An element moved in the DOM reconnects at once; only a removed one drops its sessions.
    this.#queue.cancel().then(() => {
      if (!this.isConnected) this.#freeSessions();
    });
  }

  attributeChangedCallback(name, oldValue, value) {
    if (!this.#built || oldValue === value) return;
    if (name === 'controls') {
      const mode = MODES.includes(value) ? value : 'full';
      if (mode !== this.#mode) {
        this.#mode = mode;
        this.#build();
        // The new DOM has empty canvases: run the current settings again to fill them.
        if (this.#loaded) this.#onEngineReady(this.#loaded);
        this.#requestRun();
      }
      return;
    }
    const key = ATTRS[name];
    const parsed = value === null ? DEFAULTS[key] : key === 'side' ? value !== 'false' : parseValue(key, value);
    if (parsed === undefined) return;
    this.#update({ [key]: parsed });
  }

  // ----- public API (also the test hooks) ----------------------------------------------------

  /** The current settings (variance resolved to the checkpoint default once loaded). */
  getState() {
    return { ...this.#settings, variance: this.#variance() };
  }

  /** Changes settings as the controls do (cancels the run in flight and starts a new one). */
  setState(partial) {
    const clean = {};
    for (const [k, v] of Object.entries(partial)) {
      const p = typeof v === 'boolean' ? v : parseValue(k, String(v));
      if (p !== undefined) clean[k] = p;
    }
    this.#update(clean);
  }

  /** Final images of the last completed run, (N, C, H, W) in [-1, 1] (first sampler in side-by-side). */
  lastImage() {
    return this.#lastImage;
  }

  /** x_T of the last started run, (N, C, H, W); `lane` 1 is DDIM in side-by-side mode. */
  initialSample(lane = 0) {
    return this.#lastXT[lane] ?? null;
  }

  /** Load and run timings in ms: {engine, firstImage, firstStep, msPerStep, total}. */
  get timings() {
    return { ...this.#timings };
  }

  /** Runs the current settings again. */
  run() {
    this.#requestRun();
  }

  /** Stops the run in flight. */
  stop() {
    this.#queue.cancel();
    if (this.dataset.status === 'running') this.#setStatus('idle', 'Stopped.');
  }

  // ----- settings ----------------------------------------------------------------------------

  #readInitialSettings() {
    const s = { ...DEFAULTS };
    for (const [attr, key] of Object.entries(ATTRS)) {
      if (!this.hasAttribute(attr)) continue;
      const raw = this.getAttribute(attr);
      const v = key === 'side' ? raw !== 'false' : parseValue(key, raw);
      if (v !== undefined) s[key] = v;
    }
    if (this.hasAttribute('sync-url')) Object.assign(s, parseParams(location.search));
    this.#settings = s;
    const mode = this.getAttribute('controls') || 'full';
    this.#mode = MODES.includes(mode) ? mode : 'full';
  }

  #variance() {
    return this.#settings.variance ?? this.#loaded?.info.defaultVariance ?? 'fixed_small';
  }

  #update(partial) {
    const before = this.#settings;
    const next = { ...before, ...partial };
    if (next.sampler === 'ddim' || next.side) next.eta = Math.min(1, Math.max(0, next.eta));
    if (this.#loaded && next.steps > this.#loaded.info.T) next.steps = this.#loaded.info.T;
    this.#settings = next;
    this.#syncControls();
    this.#syncUrl();
    const needsRun = RUN_KEYS.some((k) => before[k] !== next[k]);
    if (before.model !== next.model) {
      this.#boot();
    } else if (needsRun) {
      this.#requestRun();
    } else if (before.view !== next.view) {
      this.#timeline?.redraw();
    }
  }

  #syncUrl() {
    const state = this.getState();
    const params = toParams(state).toString();
    if (this.hasAttribute('sync-url')) {
      // Debounced: dragging a slider must not flood the history API (browsers throttle it).
      clearTimeout(this.#urlTimer);
      this.#urlTimer = setTimeout(() => {
        const url = `${location.pathname}?${params}${location.hash}`;
        if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(history.state, '', url);
      }, 120);
    }
    const snippet = this.#$('#snippet');
    if (snippet) {
      const { element, iframe } = embedSnippets(state, MODULE_URL, BASE_URL);
      snippet.value = element;
      this.#$('#iframe-snippet').value = iframe;
    }
  }

  /** The URL of the full page with these settings (the share link). */
  shareUrl() {
    return new URL(`index.html?${toParams(this.getState())}`, BASE_URL).href;
  }

  // ----- DOM ---------------------------------------------------------------------------------

  #$(selector) {
    return this.shadowRoot.querySelector(selector);
  }

  #build() {
    this.#built = true;
    this.shadowRoot.replaceChildren(playgroundTemplate(this.#mode, CSS_URL));
    this.#lanes = [];
    this.#ensureLanes(['…']);
    const $ = (s) => this.#$(s);
    const on = (sel, type, fn) => {
      const el = typeof sel === 'string' ? $(sel) : sel;
      if (el) el.addEventListener(type, fn);
    };
    for (const r of this.shadowRoot.querySelectorAll('input[name="sampler"]')) {
      on(r, 'change', () => this.#update({ sampler: r.value }));
    }
    for (const r of this.shadowRoot.querySelectorAll('input[name="variance"]')) {
      on(r, 'change', () => this.#update({ variance: r.value }));
    }
    for (const r of this.shadowRoot.querySelectorAll('input[name="batch"]')) {
      on(r, 'change', () => this.#update({ batch: Number(r.value) }));
    }
    for (const r of this.shadowRoot.querySelectorAll('input[name="view"]')) {
      on(r, 'change', () => this.#update({ view: r.value }));
    }
    on('#steps', 'input', (e) => this.#update({ steps: Number(e.target.value) }));
    on('#steps-num', 'change', (e) => {
      const v = parseValue('steps', e.target.value);
      if (v !== undefined) this.#update({ steps: v });
      else this.#syncControls();
    });
    on('#eta', 'input', (e) => this.#update({ eta: Number(e.target.value) }));
    on('#seed', 'change', (e) => {
      const v = parseValue('seed', e.target.value);
      if (v !== undefined) this.#update({ seed: v });
      else this.#syncControls();
    });
    on('#new-seed', 'click', () => this.#update({ seed: randomSeed() }));
    on('#side', 'change', (e) => this.#update({ side: e.target.checked }));
    on('#model', 'change', (e) => this.#update({ model: e.target.value }));
    on('#run', 'click', () => this.#requestRun());
    on('#stop', 'click', () => this.stop());
    on('#dl-grid', 'click', () => this.#downloadGrid());
    on('#dl-film', 'click', () => this.#downloadFilmstrip());
    on('#copy-link', 'click', () => this.#copy(this.shareUrl(), 'Link copied.'));
    on('#copy-snippet', 'click', () => this.#copy($('#snippet').value, 'Embed code copied.'));
    on('#copy-iframe', 'click', () => this.#copy($('#iframe-snippet').value, 'iframe code copied.'));
    for (const ta of this.shadowRoot.querySelectorAll('textarea')) on(ta, 'focus', () => ta.select());
    // The <form> has only buttons of type "button"; Enter in a number field must not reload.
    on('form', 'submit', (e) => e.preventDefault());
    this.#timeline = new Timeline({
      slider: $('#timeline'),
      output: $('#timeline-out'),
      film: $('#film'),
      draw: (lane, rgba, w, h, what) => this.#draw(lane, rgba, w, h, what),
      view: () => this.#settings.view,
      setView: (view) => this.#update({ view }),
    });
    const fwd = $('.forward');
    if (fwd) {
      this.#forward = new ForwardProcessView({
        source: $('#fwd-source'),
        t: $('#fwd-t'),
        tOut: $('#fwd-t-out'),
        x0: $('#fwd-x0'),
        eps: $('#fwd-eps'),
        xt: $('#fwd-xt'),
        plot: $('#fwd-plot'),
        caption: $('#fwd-caption'),
      });
    } else {
      this.#forward = null;
    }
    const link = this.shadowRoot.querySelector('link[rel="stylesheet"]');
    link.addEventListener('error', () => {
      console.error(`diffusion-playground: could not load ${CSS_URL}`);
      this.shadowRoot.querySelector('style').textContent = ':host { display: block; }';
    });
    this.#syncControls();
    this.#syncUrl();
  }

  #syncControls() {
    const s = this.#settings;
    const root = this.shadowRoot;
    const check = (name, value) => {
      for (const r of root.querySelectorAll(`input[name="${name}"]`)) r.checked = r.value === String(value);
    };
    check('sampler', s.sampler);
    check('variance', this.#variance());
    check('batch', s.batch);
    check('view', s.view);
    const set = (sel, prop, v) => {
      const el = this.#$(sel);
      if (el && el[prop] !== v) el[prop] = v;
    };
    set('#steps', 'value', String(s.steps));
    set('#steps-num', 'value', String(s.steps));
    set('#eta', 'value', String(s.eta));
    set('#eta-out', 'value', s.eta.toFixed(2));
    set('#seed', 'value', String(s.seed));
    set('#side', 'checked', s.side);
    const ddimUsed = s.side || s.sampler === 'ddim';
    const ddpmUsed = s.side || s.sampler === 'ddpm';
    set('#eta', 'disabled', !ddimUsed);
    this.#$('#eta-field')?.classList.toggle('disabled', !ddimUsed);
    const variance = this.#$('#variance-field');
    if (variance) {
      variance.disabled = !ddpmUsed;
      variance.classList.toggle('disabled', !ddpmUsed);
    }
    const samplerField = root.querySelector('input[name="sampler"]')?.closest('fieldset');
    if (samplerField) {
      samplerField.disabled = s.side;
      samplerField.classList.toggle('disabled', s.side);
    }
    if (this.#loaded) {
      const T = String(this.#loaded.info.T);
      set('#steps', 'max', T);
      set('#steps-num', 'max', T);
    }
    this.#forward?.setSeed(s.seed);
  }

  /** One canvas per sampler of the run (one, or two side by side). */
  #ensureLanes(names) {
    const box = this.#$('#lanes');
    while (this.#lanes.length > names.length) this.#lanes.pop().figure.remove();
    while (this.#lanes.length < names.length) {
      const figure = laneTemplate();
      box.append(figure);
      this.#lanes.push({
        figure,
        canvas: figure.querySelector('canvas'),
        caption: figure.querySelector('figcaption'),
        placeholder: figure.querySelector('.placeholder'),
      });
    }
    names.forEach((n, k) => (this.#lanes[k].name = n));
    for (const l of this.#lanes) if (l.canvas.classList.contains('empty')) l.placeholder.textContent = 'Loading…';
  }

  #setStatus(status, text) {
    this.dataset.status = status;
    const el = this.#$('#status');
    if (el && text !== undefined) el.textContent = text;
    this.setAttribute('aria-busy', String(status === 'loading' || status === 'running'));
    const stop = this.#$('#stop');
    if (stop) stop.disabled = status !== 'running';
  }

  #progress(value, text) {
    const bar = this.#$('#progress');
    if (value === null) bar.removeAttribute('value');
    else bar.value = value;
    this.#$('#progress-text').textContent = text;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  // ----- loading -----------------------------------------------------------------------------

  async #boot() {
    const generation = ++this.#bootGeneration;
    const current = () => generation === this.#bootGeneration && this.isConnected;
    const t0 = performance.now();
    this.#loaded = null;
    this.#timeline?.abandon();
    await this.#queue.cancel();
    this.#freeSessions();
    if (!current()) return;
    hideNotice(this.shadowRoot);
    this.#setStatus('loading', 'Loading the model…');
    this.#progress(null, '');
    const models = await listModels();
    if (!current()) return;
    if (!this.#settings.model) {
      this.#settings.model = models.includes(DEFAULT_MODEL) ? DEFAULT_MODEL : models[0] ?? DEFAULT_MODEL;
      this.#syncUrl();
    }
    this.#fillModels(models);
    const model = this.#settings.model;
    try {
      await checkWebGpu();
    } catch (e) {
      if (current()) this.#showNoWebGpu(e instanceof WebGpuUnavailable ? e.reason : String(e.message || e));
      return;
    }
    this.#noGpu = null;
    this.#$('.root').classList.remove('no-gpu');
    let loaded;
    try {
      loaded = await getEngine(model, (p) => current() && this.#onLoadProgress(p));
    } catch (e) {
      if (!current()) return;
      const message = String(e?.message || e);
      if (isGpuFailure(message)) this.#showNoWebGpu(message);
      else this.#showError(`Could not load the model ${model}: ${message}`);
      return;
    }
    if (!current()) return;
    this.#timings = { engine: performance.now() - t0 };
    this.#onEngineReady(loaded);
    this.#requestRun();
  }

  #fillModels(models) {
    const select = this.#$('#model');
    if (!select) return;
    const all = [...new Set([...models, this.#settings.model])];
    select.replaceChildren(...all.map((m) => new Option(m.replace(/^models\//, ''), m)));
    select.value = this.#settings.model;
    this.#$('#model-field').hidden = all.length < 2;
  }

  #onLoadProgress({ phase, loaded, total, fromCache }) {
    if (phase === 'wasm') {
      this.#progress(null, 'Starting the engine…');
    } else if (phase === 'download') {
      if (total) this.#progress(loaded / total, `Downloading weights: ${formatMB(loaded)} / ${formatMB(total)}`);
      else this.#progress(null, `Downloading weights: ${formatMB(loaded)}`);
    } else if (phase === 'upload') {
      this.#progress(1, fromCache ? `Weights from the browser cache (${formatMB(total)}); uploading to the GPU…` : 'Uploading weights to the GPU…');
    }
  }

  #onEngineReady(loaded) {
    this.#loaded = loaded;
    const { info, engine, wasm } = loaded;
    if (this.#settings.steps > info.T) this.#settings.steps = info.T;
    this.#syncControls();
    this.#syncUrl();
    const [c, h, w] = info.sampleShape;
    this.#forward?.setModel({
      alphasCumprod: engine.alphasCumprod(),
      shape: info.sampleShape,
      initialNoise: (seed, n, len) => wasm.initialNoise(seed, n, len),
    });
    this.#$('.forward')?.classList.add('ready');
    const meta = this.#$('#meta');
    if (meta) {
      meta.textContent =
        `Model ${loaded.model}: ${info.parameterCount.toLocaleString()} parameters, ${h}×${w}×${c} images, ` +
        `T = ${info.T}; weights ${info.fromCache ? 'from the browser cache' : `downloaded (${formatMB(info.bytes)})`}; ` +
        `GPU: ${info.adapter}.`;
    }
    this.#emit('dp-ready', { model: loaded.model, ...info });
  }

  #showNoWebGpu(reason) {
    this.#noGpu = reason;
    this.#$('.root').classList.add('no-gpu');
    showNotice(this.shadowRoot, 'no-webgpu', reason);
    this.#setStatus('error', `WebGPU is not available: ${reason}`);
    this.#progress(0, '');
    const wait = this.#$('#fwd-wait');
    if (wait) wait.textContent = 'The forward-process view needs the model’s noise schedule, which loads with WebGPU.';
    this.#emit('dp-error', { message: `WebGPU is not available: ${reason}`, webgpu: false });
    this.#drawNoisePreview();
  }

  /** Without WebGPU, x_T (computed on the CPU) still shows what sampling would start from. */
  #drawNoisePreview() {
    const s = this.#settings;
    this.#ensureLanes((s.side ? ['ddpm', 'ddim'] : [s.sampler]).map((n) => NAMES[n]));
    drawNoisePreview(this.#lanes, s);
  }

  #showError(message) {
    showNotice(this.shadowRoot, 'error', message);
    this.#setStatus('error', message);
    this.#progress(0, '');
    for (const lane of this.#lanes) {
      if (lane.canvas.classList.contains('empty')) lane.placeholder.textContent = 'No image (see the message above).';
    }
    this.#emit('dp-error', { message });
  }

  // ----- sampling ----------------------------------------------------------------------------

  #freeSessions(keepBatch = null) {
    for (const [batch, sessions] of this.#sessions) {
      if (batch === keepBatch) continue;
      for (const s of sessions) s.free();
      this.#sessions.delete(batch);
    }
  }

  #sessionsFor(batch, count) {
    this.#freeSessions(batch);
    const list = this.#sessions.get(batch) ?? [];
    while (list.length < count) list.push(this.#loaded.engine.createSession(batch));
    this.#sessions.set(batch, list);
    return list.slice(0, count);
  }

  #requestRun() {
    if (this.#noGpu) {
      this.#drawNoisePreview();
      return;
    }
    if (!this.#loaded || !this.isConnected) return; // #boot runs once the engine is ready
    const settings = this.getState();
    const samplers = settings.side ? ['ddpm', 'ddim'] : [settings.sampler];
    let plans;
    try {
      plans = samplers.map((s) => this.#loaded.engine.timesteps(s, settings.steps, settings.eta, settings.variance));
    } catch (e) {
      this.#queue.cancel();
      this.#showError(`These settings cannot run: ${e.message || e}`);
      return;
    }
    const loaded = this.#loaded;
    hideNotice(this.shadowRoot);
    this.#$('#lanes').classList.add('stale');
    this.#setStatus('running', `Sampling with ${samplers.map((s) => NAMES[s]).join(' and ')}, ${settings.steps} steps…`);
    this.#queue
      .request(async (isCurrent) => {
        try {
          return await this.#run(settings, samplers, plans, isCurrent);
        } catch (e) {
          if (isCurrent()) throw e; // a superseded run's failure is not the reader's concern
        }
      })
      .catch(async (e) => {
        let message = String(e?.message || e);
        // A lost device first shows up as a failed read; its loss is reported a moment later.
        if (!isDeviceLost(message) && loaded.engine.deviceLost() === undefined) await new Promise((r) => setTimeout(r, 100));
        const lost = loaded.engine.deviceLost();
        if (lost !== undefined && !isDeviceLost(message)) message = `the GPU device was lost (${lost}); ${message}`;
        if (loaded !== this.#loaded && !isDeviceLost(message)) return; // a new engine took over meanwhile
        if (isDeviceLost(message)) this.#showDeviceLost(message);
        else if (isGpuFailure(message)) this.#showNoWebGpu(message);
        else this.#showError(message);
      });
  }

  /**
   * The GPU device stopped (driver reset, GPU process crash, too much memory): the engine is
   * dead. Say so, drop it (shared with other playgrounds of the page, which find out at their
   * next step), and offer a fresh start; the last image stays on screen.
   */
  #showDeviceLost(message) {
    if (this.#loaded) forgetEngine(this.#loaded);
    if (this.dataset.status === 'error' && this.#$('.notice .retry')) return; // already shown
    this.#loaded = null;
    this.#freeSessions();
    showNotice(this.shadowRoot, 'device-lost', message)
      .querySelector('.retry')
      .addEventListener('click', () => this.#boot());
    this.#setStatus('error', `The GPU device was lost: ${message}`);
    this.#progress(0, '');
    this.#emit('dp-error', { message, deviceLost: true });
  }

  async #run(settings, samplers, plans, isCurrent) {
    const { engine, info } = this.#loaded;
    const [c, h, w] = info.sampleShape;
    const { cols, rows } = gridShape(settings.batch);
    const [gw, gh] = [cols * w, rows * h];
    const sessions = this.#sessionsFor(settings.batch, samplers.length);
    this.#ensureLanes(samplers.map((s) => NAMES[s]));
    const lanes = samplers.map((sampler, k) => ({
      name: NAMES[sampler],
      sampler,
      session: sessions[k],
      steps: settings.steps,
      eta: sampler === 'ddim' ? settings.eta : 0,
      variance: settings.variance,
      seed: settings.seed,
      recorder: new FrameRecorder(plans[k], gw, gh),
      ui: this.#lanes[k],
    }));
    this.#timeline.start(lanes);
    for (const lane of lanes) {
      lane.ui.caption.textContent = laneCaption(lane);
    }
    const total = lanes.reduce((n, l) => n + l.recorder.n, 0);
    const t0 = performance.now();
    let firstImage = null;
    const ok = await runLanes(lanes, {
      isCurrent,
      view: () => this.#settings.view,
      onStart: (lane, xT) => {
        if (lane === lanes[0]) this.#lastXT = [];
        this.#lastXT.push(xT);
        const g = tensorToRgba(xT, settings.batch, c, h, w);
        lane.recorder.addInitial(g.rgba);
        this.#draw(lane, g.rgba, gw, gh, 'x_T (the starting noise)');
        this.#$('#lanes').classList.remove('stale');
        if (firstImage === null) firstImage = performance.now() - t0;
        this.#progress(0, `step 0/${settings.steps}`);
      },
      onStep: (lane, i, frame) => {
        if (frame.sample && frame.x0) {
          lane.recorder.add(i, frame.sample, frame.x0);
          this.#timeline.recorded(lane, i);
        }
        const view = frame[this.#settings.view] ? this.#settings.view : frame.view;
        const what = view === 'x0' ? 'predicted x_0' : 'x_t';
        this.#draw(lane, frame[view], gw, gh, `${what} after step ${i + 1} of ${lane.recorder.n} (t = ${lane.timesteps[i]})`);
        const done = lanes.reduce((n, l) => n + l.done, 0);
        const msPerStep = lane.msSum / lane.done;
        const steps = lanes.map((l) => `${lanes.length > 1 ? `${l.name} ` : ''}step ${l.done}/${l.recorder.n}`).join(' · ');
        this.#progress(done / total, `${steps} · ${formatMs(msPerStep)}/step`);
        if (i === 0 && lane === lanes[0]) this.#timings.firstStep = performance.now() - t0;
        this.#emit('dp-step', { i, n: lane.recorder.n, msPerStep, sampler: lane.sampler });
      },
    });
    if (!ok) return;
    const finals = [];
    for (const lane of lanes) {
      finals.push(await lane.session.readTensor('sample'));
      if (!isCurrent()) return;
    }
    const msTotal = performance.now() - t0;
    const stepMs = lanes.reduce((a, l) => a + l.msSum, 0) / total;
    this.#timings = { ...this.#timings, firstImage, msPerStep: stepMs, total: msTotal };
    this.#lastImage = finals[0];
    this.#forward?.setGenerated(finals[0], settings.batch);
    this.#timeline.finish();
    this.#setStatus(
      'done',
      `Done: ${lanes.map((l) => `${l.name} ${l.recorder.n} steps`).join(', ')} in ${formatMs(msTotal)} (${formatMs(stepMs)} per step).`,
    );
    this.#emit('dp-done', { msTotal, msPerStep: stepMs, settings });
  }

  #draw(lane, rgba, w, h, what) {
    drawRgba(lane.ui.canvas, rgba, w, h);
    const s = this.#settings;
    lane.ui.canvas.setAttribute(
      'aria-label',
      `${s.batch === 1 ? 'Image' : `Grid of ${s.batch} images`} from ${lane.name}, seed ${lane.seed}: ${what}`,
    );
  }

  // ----- downloads and sharing -----------------------------------------------------------------

  async #downloadGrid() {
    const shown = this.#lanes.filter((l) => !l.canvas.classList.contains('empty'));
    if (!shown.length) {
      this.#$('#status').textContent = 'Nothing to download yet.';
      return;
    }
    const { canvas, name } = gridPng(shown.map((l) => l.canvas), this.getState());
    await saveCanvas(canvas, name);
  }

  async #downloadFilmstrip() {
    const lanes = this.#timeline.lanes.filter((l) => l.recorder.filmFrames().length);
    if (!lanes.length) {
      this.#$('#status').textContent = 'No filmstrip yet: run the sampler first.';
      return;
    }
    const { canvas, name } = filmstripPng(lanes, this.getState());
    await saveCanvas(canvas, name);
  }

  async #copy(text, done) {
    const status = this.#$('#status');
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = done;
    } catch {
      status.textContent = `Copy this: ${text}`;
    }
  }
}

if (!customElements.get('diffusion-playground')) {
  customElements.define('diffusion-playground', DiffusionPlayground);
}
