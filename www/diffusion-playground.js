// <diffusion-playground>: one diffusion sampling playground, embeddable with a single
// <script type="module" src=".../diffusion-playground.js">. Attributes set the starting
// settings and which controls appear:
//
//   <diffusion-playground sampler="ddim" steps="50" eta="0" seed="7" batch="1"
//       model="models/emoji32" variance="fixed_small" view="x0" side-by-side
//       backend="auto|webgpu|cpu" controls="full|compact|none" loading="lazy|eager"
//       panels="images anatomy filmstrip schedule branches forward invert interpolate inpaint"
//       compare="ddpm-ddim|dpmpp2m-ddim|dpmpp2m-ddpm" invert="Heart|sample" invsteps="50"
//       lerp="12|inv:Heart,Smiley" frames="7" mask="r…" resample="2" sync-url>
//     fallback content: shown by browsers that cannot run the element (script blocked or
//     failed), and again inside it when the model cannot be loaded at all
//   </diffusion-playground>
//
// With loading="lazy" (the default) nothing is downloaded or computed until the element comes
// near the viewport, and a run pauses between steps while it is scrolled away; "eager" starts
// at once. Runs pause while the tab is hidden either way (view-gate.js).
//
// Playgrounds on one page share one Engine per model and backend (engine.js). Progress is
// reported with events on the element: dp-ready {model, backend, reason, probeMs: {cpu,
// webgpu}, ...} (again after a lost GPU moved it to the CPU), dp-step {i, n, msPerStep,
// sampler}, dp-done {msTotal, settings}, dp-error {message}, dp-pause {reason: offscreen |
// hidden}, dp-resume; `data-status` is idle|loading|running|paused|done|error, `data-backend`
// webgpu|cpu once loaded.
// sampler="dpmpp2m" is DPM-Solver++(2M) (η and variance do not apply); side-by-side runs the
// pair `compare` names (default DDPM and DDIM). The panels of issue 15 take their settings from
// attributes too: invert (an example's name, e.g. "Heart", or "sample": image 0 of the run; the
// panel inverts it once the run is done) and invsteps (its DDIM steps; default the run's), lerp
// and frames (the interpolation strip's other seed, or "inv:A,B" for the strip between the
// inversions of examples A and B, and its frame count), mask (inpaint-panel.js / mask.js's
// compact text: the inpainting mask, which the panel fills once the run is done) and resample
// (1-10). All of them are in the URL too, except an uploaded image and an x_T: startFrom(xT) (or
// the inversion panel's "use this x_T", which also turns clipping off) runs from a given x_T
// until the seed changes. A refused `model` value (not a folder path inside the playground's
// folder) shows a notice saying what to write instead (url-state.js modelRefusal).
// Test hooks: getState(), lastImage(), initialSample(), timings, panels, panelState() (also
// {invert, interpolate, inpaint, mask}: the panels' tensors), startFrom(xT, label).

//
// The element is the glue: controls.js binds the settings to attributes, the form and the URL;
// runner.js loads the engine, runs the settings and reports what happened; this file builds the
// shadow DOM, keeps the settings and draws the images.

import { AnatomyPanel, partsToRgba } from './anatomy-panel.js';
import { replayStep } from './branch-run.js';
import { BranchesPanel } from './branches-panel.js';
import { BASE_URL } from './engine.js';
import { ATTRS, attributeSetting, bindControls, cleanSettings, controlsMode, fillModels, initialSettings, syncControls, urlWriter } from './controls.js';
import { ForwardProcessView } from './forward-process.js';
import { InpaintPanel } from './inpaint-panel.js';
import { InterpolatePanel } from './interpolate-panel.js';
import { InvertPanel } from './invert-panel.js';
import { INVERSION_CLIP, PanelSessions } from './op-run.js';
import { filmstripPng, gridPng, saveCanvas } from './png.js';
import { parsePanels } from './panels.js';
import { laneTemplate, playgroundTemplate } from './playground-template.js';
import { drawRgba } from './render.js';
import { RunQueue } from './run-loop.js';
import { Runner } from './runner.js';
import { SchedulePanel } from './schedule-panel.js';
import { Timeline } from './timeline.js';
import { DEFAULTS, DEFAULT_MODEL, RUN_KEYS, modelRefusal, toParams } from './url-state.js';
import { ViewGate, loadingMode } from './view-gate.js';

const CSS_URL = new URL('./playground.css', import.meta.url).href;
const MODULE_URL = new URL(import.meta.url).href;

/**
 * The shadow root's own rules until playground.css has loaded (then it shows the .root), and
 * alone if it fails to. Constructed sheets, not a <style> element: a host page whose
 * Content-Security-Policy has a style-src without 'unsafe-inline' refuses inline <style>.
 */
function sheet(css) {
  const s = new CSSStyleSheet();
  s.replaceSync(css);
  return s;
}
const LOADING_SHEET = sheet(':host { display: block; } .root { visibility: hidden; }');
const UNSTYLED_SHEET = sheet(':host { display: block; }');
const NOT_STARTED = 'Starts when it scrolls into view.';

export class DiffusionPlayground extends HTMLElement {
  static observedAttributes = [...Object.keys(ATTRS), 'controls', 'loading', 'panels'];

  #settings = { ...DEFAULTS };
  #gate = new ViewGate(this);
  #started = false; // the first boot has begun (lazy elements wait for the viewport)
  #waitingToStart = false;
  #mode = 'full';
  #panels = parsePanels(null, 'full');
  #built = false;
  #lanes = []; // UI lanes: {figure, canvas, caption, placeholder, name}
  #forward = null;
  #timeline = null;
  #anatomy = null;
  #schedule = null;
  #branches = null;
  #replays = new WeakMap(); // run lane -> RunQueue of its anatomy replays
  #invert = null;
  #interpolate = null;
  #inpaint = null;
  #opSessions = null; // the op panels' own sessions (op-run.js)
  #opLock = Promise.resolve(); // one op panel's work at a time
  #inversions = []; // the last two inverted images {source, steps, label, x0, xT}
  #refusal = null; // the sentence about the last refused `model` value, shown until a valid model is chosen
  /** A setting's value was refused (URL, attribute, setState): a refused model gets a notice. */
  #onRefused = (key, value) => {
    if (key !== 'model') return;
    this.#refusal = modelRefusal(value);
    this.#showRefusal();
  };
  /** What follows a run: the timeline and the panels that show its steps. */
  #views = {
    start: (lanes) => {
      this.#timeline?.start(lanes);
      this.#anatomy?.start(lanes);
      this.#branches?.start(lanes);
    },
    recorded: (lane, i) => {
      this.#timeline?.recorded(lane, i);
      this.#anatomy?.recorded(lane, i);
    },
    finish: () => {
      this.#timeline?.finish();
      this.#anatomy?.finish();
      this.#branches?.finish();
      // After the run's own bookkeeping (its extra work waits for no run pending).
      setTimeout(() => this.#opPanels().forEach((p) => p.afterRun()), 0);
    },
    abandon: () => {
      this.#timeline?.abandon();
      this.#anatomy?.abandon();
      this.#branches?.reset();
      this.#freeOps();
    },
  };
  #writeUrl = urlWriter(this, MODULE_URL, BASE_URL);
  #runner = new Runner(this, {
    chooseModel: (models) => this.#chooseModel(models),
    engineReady: (loaded) => {
      if (this.#settings.steps > loaded.info.T) this.#settings.steps = loaded.info.T;
      this.#syncControls();
      this.#syncUrl();
    },
    lanes: (names) => (names ? this.#ensureLanes(names) : this.#lanes),
    draw: (lane, rgba, w, h, what) => this.#draw(lane, rgba, w, h, what),
    timeline: () => this.#views,
    finished: (images, batch) => this.#forward?.setGenerated(images, batch),
    gate: this.#gate,
    keep: () => ({ state: Boolean(this.#anatomy || this.#branches), parts: Boolean(this.#anatomy) }),
  });

  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
  }

  // ----- lifecycle ---------------------------------------------------------------------------

  connectedCallback() {
    if (!this.#built) {
      ({ settings: this.#settings, mode: this.#mode } = initialSettings(this, this.#onRefused));
      this.#panels = parsePanels(this.getAttribute('panels'), this.#mode);
      this.#build();
    }
    this.#gate.connect(loadingMode(this.getAttribute('loading')) === 'lazy');
    if (!this.dataset.status) this.#runner.setStatus('idle', this.#gate.lazy ? NOT_STARTED : '');
    if (!this.#started) this.#startWhenNear();
    else if (!this.#runner.loaded) this.#runner.boot();
    else this.#runner.run();
  }

  disconnectedCallback() {
    // An element moved in the DOM reconnects at once; only a removed one drops its sessions.
    this.#gate.disconnect();
    this.#runner.disconnect();
    queueMicrotask(() => {
      if (!this.isConnected) {
        this.#branches?.reset();
        this.#freeOps();
      }
    });
  }

  /** Starts now if eager, else once the element comes near the viewport (and the tab shows). */
  #startWhenNear() {
    if (!this.#gate.lazy) {
      this.#start();
      return;
    }
    if (this.#waitingToStart) return;
    this.#waitingToStart = true;
    this.#gate.wait().then(() => {
      this.#waitingToStart = false;
      if (this.isConnected && !this.#started) this.#start();
    });
  }

  #start() {
    this.#started = true;
    for (const l of this.#lanes) if (l.canvas.classList.contains('empty')) l.placeholder.textContent = 'Loading…';
    this.#runner.boot();
  }

  attributeChangedCallback(name, oldValue, value) {
    if (!this.#built || oldValue === value) return;
    if (name === 'loading') {
      const lazy = loadingMode(value) === 'lazy';
      this.#gate.setLazy(lazy);
      if (!lazy && !this.#started && this.isConnected) this.#start();
      return;
    }
    if (name === 'controls' || name === 'panels') {
      const mode = controlsMode(this.getAttribute('controls'));
      const panels = parsePanels(this.getAttribute('panels'), mode);
      if (mode !== this.#mode || panels.join() !== this.#panels.join()) {
        this.#mode = mode;
        this.#panels = panels;
        this.#views.abandon();
        this.#build();
        // The new DOM has empty canvases: run the current settings again to fill them.
        if (this.#settings.model) {
          this.#forward?.load(this.#settings.model);
          this.#schedule?.load(this.#settings.model);
        }
        this.#runner.engineReady();
        this.#runner.run();
      }
      return;
    }
    const key = ATTRS[name];
    const parsed = attributeSetting(key, value, this.#onRefused);
    if (parsed === undefined) return;
    this.#update({ [key]: parsed });
  }

  // ----- public API (also the test hooks) ----------------------------------------------------

  /** The current settings (variance resolved to the checkpoint default once loaded). */
  getState() {
    const variance = this.#settings.variance ?? this.#runner.loaded?.info.defaultVariance ?? 'fixed_small';
    return { ...this.#settings, variance };
  }

  /** Changes settings as the controls do (cancels the run in flight and starts a new one). */
  setState(partial) {
    this.#update(cleanSettings(partial, this.#onRefused));
  }

  /** Final images of the last completed run, (N, C, H, W) in [-1, 1] (first sampler in side-by-side). */
  lastImage() {
    return this.#runner.lastImage;
  }

  /** x_T of the last started run, (N, C, H, W); `lane` 1 is DDIM in side-by-side mode. */
  initialSample(lane = 0) {
    return this.#runner.lastXT[lane] ?? null;
  }

  /** The panels shown, in order (the `panels` attribute, or the controls mode's default). */
  get panels() {
    return [...this.#panels];
  }

  /** The schedule panel's plans ({sampler: schedulePlan(...)}) and the branch view's results. */
  panelState() {
    return {
      schedule: this.#schedule?.plans ?? null,
      branches: this.#branches?.results ?? null,
      invert: this.#invert?.result ?? null,
      interpolate: this.#interpolate?.result ?? null,
      inpaint: this.#inpaint?.result ? { ...this.#inpaint.result, painted: this.#inpaint.mask } : null,
      mask: this.#inpaint?.mask ?? null,
    };
  }

  /** Starts runs from `xT` ((1, C, H, W), image 0) instead of the seed's, until the seed changes. */
  startFrom(xT, label = 'given') {
    this.#runner.startFrom(xT, label);
    this.#syncControls();
  }

  /** Load and run timings in ms: {engine, firstImage, firstStep, msPerStep, total}. */
  get timings() {
    return { ...this.#runner.timings };
  }

  /** Runs the current settings again (starts a lazy playground that has not started yet). */
  run() {
    if (this.#started) this.#runner.run();
    else if (this.isConnected) this.#start();
  }

  /** Stops the run in flight. */
  stop() {
    this.#runner.stop();
  }

  /** The URL of the full page with these settings (the share link). */
  shareUrl() {
    return new URL(`index.html?${toParams(this.getState())}`, BASE_URL).href;
  }

  // ----- settings ----------------------------------------------------------------------------

  #update(partial) {
    const before = this.#settings;
    const next = { ...before, ...partial };
    const T = this.#runner.loaded?.info.T;
    if (next.sampler === 'ddim' || next.side) next.eta = Math.min(1, Math.max(0, next.eta));
    if (T !== undefined && next.steps > T) next.steps = T;
    // A new seed (or model, or batch) means the seed's own x_T again, not a given one.
    if (['seed', 'model', 'batch'].some((k) => before[k] !== next[k])) this.#runner.clearXT();
    if ('model' in partial && this.#refusal) {
      this.#refusal = null;
      this.#showRefusal();
    }
    this.#settings = next;
    this.#syncControls();
    this.#syncUrl();
    const needsRun = RUN_KEYS.some((k) => before[k] !== next[k]);
    if (before.model !== next.model || before.backend !== next.backend) {
      if (this.#started) this.#runner.boot();
    } else if (needsRun) {
      this.#runner.run();
    } else if (before.view !== next.view) {
      this.#timeline?.redraw();
    }
  }

  /** The refused model's notice (or none), in whichever DOM the element has now. */
  #showRefusal() {
    const n = this.#$('#settings-notice');
    if (!n) return;
    n.textContent = this.#refusal ?? '';
    n.hidden = !this.#refusal;
  }

  #syncControls() {
    syncControls(this.shadowRoot, this.getState(), this.#runner.loaded?.info.T);
    this.#forward?.setSeed(this.#settings.seed);
    this.#schedule?.update(this.getState());
    this.#invert?.update(this.getState(), this.#runner.givenXT);
    this.#interpolate?.update(this.getState());
    this.#inpaint?.update(this.getState());
  }

  /** Stops the op panels' work, then frees their sessions. */
  #freeOps() {
    const sessions = this.#opSessions;
    Promise.all(this.#opPanels().map((p) => p.reset())).then(() => sessions?.free());
  }

  #opPanels() {
    return [this.#invert, this.#interpolate, this.#inpaint].filter(Boolean);
  }

  #syncUrl() {
    this.#writeUrl(this.getState());
  }

  /** The model to load (the settings', else the default one) once the page's models are listed. */
  #chooseModel(models) {
    if (!this.#settings.model) {
      this.#settings.model = models.includes(DEFAULT_MODEL) ? DEFAULT_MODEL : models[0] ?? DEFAULT_MODEL;
      this.#syncUrl();
    }
    const model = this.#settings.model;
    fillModels(this.shadowRoot, models, model);
    // The forward process and the schedule need no GPU: they show even where WebGPU is missing.
    this.#forward?.load(model);
    this.#schedule?.load(model);
    return model;
  }

  // ----- DOM ---------------------------------------------------------------------------------

  #$(selector) {
    return this.shadowRoot.querySelector(selector);
  }

  #build() {
    this.#built = true;
    this.shadowRoot.adoptedStyleSheets = [LOADING_SHEET];
    this.shadowRoot.replaceChildren(playgroundTemplate(this.#mode, CSS_URL, this.#panels));
    this.#lanes = [];
    this.#ensureLanes(['…']);
    const $ = (s) => this.#$(s);
    bindControls(this.shadowRoot, {
      update: (partial) => this.#update(partial),
      resync: () => this.#syncControls(),
      run: () => this.run(),
      stop: () => this.stop(),
      downloadGrid: () => this.#downloadGrid(),
      downloadFilmstrip: () => this.#downloadFilmstrip(),
      copy: (text, done) => this.#copy(text, done),
      shareUrl: () => this.shareUrl(),
    });
    this.#timeline = new Timeline({
      slider: $('#timeline'),
      output: $('#timeline-out'),
      film: $('#film'),
      draw: (lane, rgba, w, h, what) => this.#draw(lane, rgba, w, h, what),
      view: () => this.#settings.view,
      setView: (view) => this.#update({ view }),
      onShow: (frame) => this.#anatomy?.showFrame(frame),
    });
    this.#buildPanels($);
    this.#showRefusal();
    const section = $('.forward');
    this.#forward = section
      ? new ForwardProcessView({
          section,
          wait: $('#fwd-wait'),
          source: $('#fwd-source'),
          t: $('#fwd-t'),
          tOut: $('#fwd-t-out'),
          x0: $('#fwd-x0'),
          eps: $('#fwd-eps'),
          xt: $('#fwd-xt'),
          plot: $('#fwd-plot'),
          caption: $('#fwd-caption'),
        })
      : null;
    const link = this.shadowRoot.querySelector('link[rel="stylesheet"]');
    link.addEventListener('error', () => {
      console.error(`diffusion-playground: could not load ${CSS_URL}`);
      this.shadowRoot.adoptedStyleSheets = [UNSTYLED_SHEET];
    });
    this.#syncControls();
    this.#syncUrl();
  }

  /** The inversion, interpolation and inpainting panels the template kept (issue 15). */
  #buildOpPanels($) {
    const runner = this.#runner;
    if (this.#opSessions) this.#freeOps();
    this.#opSessions = new PanelSessions(runner);
    const sessions = this.#opSessions;
    // job(isCurrent, session) on a session of `batch` of the panels' own, one panel at a time.
    const work = (queue, job, batch = 1) =>
      runner.extra(queue, (isCurrent) => {
        const mine = this.#opLock.then(() => (isCurrent() ? job(isCurrent, sessions.get(batch)) : null));
        this.#opLock = mine.catch(() => {});
        return mine;
      });
    const base = {
      work,
      shape: () => runner.loaded?.info.sampleShape ?? null,
      settings: () => this.getState(),
      lastImage: () => runner.lastImage,
      update: (partial) => this.#update(partial),
    };
    this.#invert = $('.invert')
      ? new InvertPanel(
          {
            section: $('.invert'),
            source: $('#inv-source'),
            fileField: $('#inv-file-field'),
            file: $('#inv-file'),
            steps: $('#inv-steps'),
            run: $('#inv-run'),
            use: $('#inv-use'),
            back: $('#inv-back'),
            status: $('#inv-status'),
            x0: $('#inv-x0'),
            xT: $('#inv-xt'),
            rec: $('#inv-rec'),
            error: $('#inv-error'),
          },
          {
            ...base,
            setSource: (invert) => this.#update({ invert }),
            // The run decodes the inverted x_T as the panel's reconstruction did: unclipped.
            useXT: (xT, label) => {
              if (this.#settings.clip !== INVERSION_CLIP) {
                this.#settings = { ...this.#settings, clip: INVERSION_CLIP };
                this.#syncUrl();
              }
              this.startFrom(xT, label);
            },
            backToSeed: () => {
              runner.clearXT();
              this.#syncControls();
              this.run();
            },
            inverted: (entry) => {
              this.#inversions = [...this.#inversions, entry].slice(-2);
              this.#interpolate?.inversionsChanged();
            },
          },
        )
      : null;
    this.#interpolate = $('.interpolate')
      ? new InterpolatePanel(
          { section: $('.interpolate'), ends: $('#lerp-ends'), seed: $('#lerp-seed'), frames: $('#lerp-frames'), run: $('#lerp-run'), status: $('#lerp-status'), strip: $('#lerp-strip') },
          { ...base, wasm: () => runner.loaded?.wasm, inversions: () => this.#inversions },
        )
      : null;
    this.#inpaint = $('.inpaint')
      ? new InpaintPanel(
          {
            section: $('.inpaint'),
            imageField: $('#inp-image-field'),
            image: $('#inp-image'),
            paint: $('#inp-paint'),
            brush: $('#inp-brush'),
            clear: $('#inp-clear'),
            invert: $('#inp-invert'),
            resample: $('#inp-resample'),
            resampleOut: $('#inp-resample-out'),
            run: $('#inp-run'),
            status: $('#inp-status'),
            original: $('#inp-original'),
            result: $('#inp-result'),
          },
          base,
        )
      : null;
  }

  /** The step anatomy, schedule and branch panels the template kept. */
  #buildPanels($) {
    this.#buildOpPanels($);
    const runner = this.#runner;
    this.#anatomy = $('.anatomy')
      ? new AnatomyPanel({
          parts: {
            section: $('.anatomy'),
            lanesBox: $('#an-lanes'),
            prev: $('#an-prev'),
            next: $('#an-next'),
            step: $('#an-step'),
            of: $('#an-of'),
            status: $('#an-status'),
          },
          replay: (lane, i) => {
            if (!this.#replays.has(lane)) this.#replays.set(lane, new RunQueue());
            const shape = runner.loaded?.info.sampleShape;
            return runner.extra(this.#replays.get(lane), async (isCurrent) => {
              const parts = await replayStep(lane, i, isCurrent);
              return parts && partsToRgba(parts, shape);
            });
          },
          seek: (i) => this.#timeline?.seekStep(i),
          T: () => runner.loaded?.info.T,
          onStep: (t) => this.#schedule?.setCurrent(t),
        })
      : null;
    this.#schedule = $('.schedule')
      ? new SchedulePanel({
          section: $('.schedule'),
          wait: $('#sch-wait'),
          caption: $('#sch-caption'),
          abar: $('#sch-abar'),
          snr: $('#sch-snr'),
          sigma: $('#sch-sigma'),
          legend: $('#sch-legend'),
        })
      : null;
    this.#branches = $('.branches')
      ? new BranchesPanel({
          parts: {
            section: $('.branches'),
            laneField: $('#br-lane-field'),
            lane: $('#br-lane'),
            k: $('#br-k'),
            kOut: $('#br-k-out'),
            run: $('#br-run'),
            redraw: $('#br-redraw'),
            curve: $('#br-curve'),
            stop: $('#br-stop'),
            status: $('#br-status'),
            eta0: $('#br-eta0'),
            results: $('#br-results'),
            variants: $('#br-variants'),
            std: $('#br-std'),
            stdCap: $('#br-std-cap'),
            curveFig: $('#br-curve-fig'),
            curvePlot: $('#br-curve-plot'),
            curveCap: $('#br-curve-cap'),
          },
          schedule: (queue, job) => runner.extra(queue, job),
          engine: () => runner.loaded,
        })
      : null;
  }

  /** One canvas per sampler of the run (one, or two side by side); returns the lanes. */
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
    const waiting = this.#started ? 'Loading…' : NOT_STARTED;
    for (const l of this.#lanes) if (l.canvas.classList.contains('empty')) l.placeholder.textContent = waiting;
    return this.#lanes;
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
