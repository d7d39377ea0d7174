// Loading and running for one <diffusion-playground>: picks the model, gets the page's shared
// engine for it on the settings' backend (engine.js) with download progress, starts and cancels
// sampling runs on its sessions (never two at once: run-loop.js), and triages what comes back:
// the status line, the progress bar, the dp-* events, the model info line (which backend runs
// and why), the one-line note when the CPU stands in for WebGPU, the move to the CPU when the
// GPU device is lost mid-run, the notices for no WebGPU (backend=webgpu), a model or settings
// that cannot run (with the host page's fallback content when nothing could be loaded), and
// pausing a run between steps while the element's ViewGate (view-gate.js) is closed.

import { partsBytes, partsToRgba } from './anatomy-panel.js';
import { cspAdvice } from './csp.js';
import { BASE_URL, createSession, fallBackToCpu, holdEngine, isStale, isTrap, listModels, onEngineCrash, recoverFromTrap, triage } from './engine.js';
import { FrameRecorder } from './frames.js';
import { NAMES, backendNote, evaluations, formatMB, formatMs, laneCaption, modelSummary } from './messages.js';
import { drawNoisePreview, hideNotice, showNotice } from './notices.js';
import { gridShape, tensorToRgba } from './render.js';
import { PaintThrottle } from './paint-throttle.js';
import { RunQueue, runLanes } from './run-loop.js';
import { laneClip, runSamplers } from './url-state.js';

export class Runner {
  #host;
  #ui;
  #queue = new RunQueue();
  #bootGeneration = 0;
  #loaded = null; // {engine, wasm, info, model, url}
  #paint = new PaintThrottle(); // a run's per-step drawing, at most one paint per frame
  #hold = null; // holdEngine()'s hold on the engine this playground uses (or is loading)
  #sessions = new Map(); // batch -> Session[]
  #sessionsBackend = null; // where the sessions in #sessions run: 'webgpu' | 'cpu'
  #noGpu = null;
  #fallbacks = 0; // moves to the CPU since the last boot (a guard against loops)
  #crashedHere = false; // this playground's own call trapped (it shows the crash notice)
  #extras = new Set(); // RunQueues of work on a finished run (replays, branches): see extra()
  #runsPending = 0; // runs requested and not yet over: extra work waits for none
  /** Final images of the last completed run (first lane), (N, C, H, W). */
  lastImage = null;
  /** x_T of the last started run, one per lane. */
  lastXT = [];
  /** Load and run timings in ms: {engine, firstImage, firstStep, msPerStep, total}. */
  timings = {};
  /** Network evaluations of the last completed run, one per lane. */
  lastEvaluations = [];
  /**
   * The x_T runs start from instead of the seed's: {xT: (1, C, H, W) floats for image 0 (the
   * others keep the seed's noise), label: where it came from}, or null. Set by startFrom().
   */
  givenXT = null;

  /**
   * `host`: the element (its shadow root, data-status, events, getState()). `ui`: what of the
   * element the runner draws into: {chooseModel(models) -> model (also shows the choice),
   * engineReady(loaded) (settings and controls follow the model), lanes(names?) -> the image
   * lanes (one per name, or as they are), draw(lane, rgba, width, height, what), timeline()
   * (what follows a run: start(lanes), recorded(lane, i), finish(), abandon()),
   * finished(images, batch) (a run's final images), keep() -> {state, parts} (what the panels
   * need kept of each recorded step: x_t as floats, the anatomy's pictures), gate (a ViewGate:
   * runs wait while it is closed)}.
   */
  constructor(host, ui) {
    this.#host = host;
    this.#ui = ui;
    onEngineCrash((crash) => this.#onCrash(crash));
  }

  /** The loaded engine {engine, wasm, info, model, url}, or null. */
  get loaded() {
    return this.#loaded;
  }

  #$(selector) {
    return this.#host.shadowRoot.querySelector(selector);
  }

  setStatus(status, text) {
    const host = this.#host;
    host.dataset.status = status;
    const el = this.#$('#status');
    if (el && text !== undefined) el.textContent = text;
    host.setAttribute('aria-busy', String(status === 'loading' || status === 'running'));
    const stop = this.#$('#stop');
    if (stop) stop.disabled = status !== 'running' && status !== 'paused';
  }

  #progress(value, text) {
    const bar = this.#$('#progress');
    if (value === null) bar.removeAttribute('value');
    else bar.value = value;
    this.#$('#progress-text').textContent = text;
  }

  #emit(type, detail) {
    this.#host.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  // ----- loading -----------------------------------------------------------------------------

  /** (Re)loads the model the settings name, then runs them. A newer boot supersedes this one. */
  async boot() {
    const generation = ++this.#bootGeneration;
    const current = () => generation === this.#bootGeneration && this.#host.isConnected;
    const t0 = performance.now();
    this.#loaded = null;
    this.#ui.timeline()?.abandon();
    await Promise.all([this.#queue.cancel(), this.#cancelExtras()]);
    this.#freeSessions();
    if (!current()) return;
    hideNotice(this.#host.shadowRoot);
    this.#$('.fallback').hidden = true;
    this.setStatus('loading', 'Loading the model…');
    this.#progress(null, '');
    const models = await listModels();
    if (!current()) return;
    const model = this.#ui.chooseModel(models);
    this.#noGpu = null;
    this.#fallbacks = 0;
    this.#$('.root').classList.remove('no-gpu');
    let loaded;
    const previous = this.#hold;
    this.#hold = null;
    try {
      this.#hold = holdEngine(model, this.#host.getState().backend, (p) => current() && this.#onLoadProgress(p));
      // Held before the old one is let go: the same model and backend keep their engine.
      previous?.release();
      loaded = await this.#hold.promise;
    } catch (e) {
      previous?.release();
      if (!current()) return;
      if (isTrap(e)) {
        this.#trapped(e);
        return;
      }
      const { notice, message } = triage(e);
      if (notice === 'no-webgpu') this.#showNoWebGpu(message);
      else if (notice === 'device-lost') this.#showDeviceLost(message);
      else {
        const advice = await cspAdvice(BASE_URL);
        if (!current()) return;
        this.#showError(`Could not load the model ${model}: ${advice ?? String(e?.message || e)}`);
        // What the host page put inside the element for readers who cannot run it.
        this.#$('.fallback').hidden = false;
      }
      return;
    }
    if (!current()) return;
    this.timings = { engine: performance.now() - t0 };
    this.engineReady(loaded);
    this.run();
  }

  #onLoadProgress({ phase, loaded, total, fromCache, backend }) {
    if (phase === 'wasm') {
      this.#progress(null, 'Starting the engine…');
    } else if (phase === 'download') {
      if (total) this.#progress(loaded / total, `Downloading weights: ${formatMB(loaded)} / ${formatMB(total)}`);
      else this.#progress(null, `Downloading weights: ${formatMB(loaded)}`);
    } else if (phase === 'upload') {
      const next = { cpu: 'preparing them for the CPU', webgpu: 'uploading them to the GPU', auto: 'timing WebGPU and the CPU' }[backend];
      this.#progress(1, fromCache ? `Weights from the browser cache (${formatMB(total)}); ${next}…` : `Weights downloaded; ${next}…`);
    }
  }

  /** Takes `loaded` (default: the engine already loaded, for a rebuilt DOM) and says it is ready. */
  engineReady(loaded = this.#loaded) {
    if (!loaded) return;
    this.#loaded = loaded;
    this.#ui.engineReady(loaded);
    const meta = this.#$('#meta');
    if (meta) meta.textContent = modelSummary(loaded);
    const note = this.#$('#note');
    const text = backendNote(loaded.info);
    note.hidden = !text;
    note.textContent = text ?? '';
    this.#host.dataset.backend = loaded.info.backend;
    this.#emit('dp-ready', { model: loaded.model, ...loaded.info });
  }

  #showNoWebGpu(reason) {
    this.#noGpu = reason;
    this.#$('.root').classList.add('no-gpu');
    showNotice(this.#host.shadowRoot, 'no-webgpu', reason);
    this.setStatus('error', `WebGPU is not available: ${reason}`);
    this.#progress(0, '');
    this.#emit('dp-error', { message: `WebGPU is not available: ${reason}`, webgpu: false });
    this.#drawNoisePreview();
  }

  /** Without WebGPU, x_T (computed on the CPU) still shows what sampling would start from. */
  #drawNoisePreview() {
    const s = this.#host.getState();
    drawNoisePreview(this.#ui.lanes(runSamplers(s).map((n) => NAMES[n])), s);
  }

  #showError(message) {
    showNotice(this.#host.shadowRoot, 'error', message);
    this.setStatus('error', message);
    this.#progress(0, '');
    for (const lane of this.#ui.lanes()) {
      if (lane.canvas.classList.contains('empty')) lane.placeholder.textContent = 'No image (see the message above).';
    }
    this.#emit('dp-error', { message });
  }

  /**
   * The GPU device stopped (driver reset, GPU process crash, too much memory) under `loaded`:
   * move its engine (shared with the page's other playgrounds, which move at their next run)
   * to the CPU, say so in the note and run the settings again there.
   */
  #fallBack(message, loaded) {
    if (this.#fallbacks >= 2 || loaded !== this.#loaded) {
      this.#showDeviceLost(message);
      return;
    }
    this.#fallbacks++;
    this.#freeSessions();
    this.setStatus('loading', 'The GPU stopped working: loading the model on the CPU…');
    fallBackToCpu(loaded, message).then(
      () => {
        if (loaded !== this.#loaded) return;
        this.engineReady(loaded);
        this.run();
      },
      (e) => {
        if (loaded === this.#loaded) this.#showDeviceLost(`${message}; the CPU could not take over either (${e?.message || e})`);
      },
    );
  }

  /**
   * The engine's wasm trapped (a bug): engine.js has restarted it and every playground on the
   * page lost its engine and sessions. The playground whose call trapped says so in one sentence
   * with a button that loads it again; the others load again at once.
   */
  #showCrash(message) {
    showNotice(this.#host.shadowRoot, 'crash', message)
      .querySelector('.retry')
      .addEventListener('click', () => this.boot());
    this.setStatus('error', message);
    this.#progress(0, '');
    this.#emit('dp-error', { message, crashed: true });
  }

  /** A call of this playground's trapped: recover (every playground) and say so here. */
  #trapped(e) {
    this.#crashedHere = true;
    const message = recoverFromTrap(e); // calls #onCrash, which shows the notice here
    if (this.#crashedHere) this.#showCrash(message); // the same trap was already recovered from
    this.#crashedHere = false;
  }

  #onCrash({ message }) {
    // Everything from the old instance is gone: abandon (never await) what may wait on it.
    const stuck = this.#queue;
    this.#queue = new RunQueue();
    stuck.cancel();
    for (const q of this.#extras) q.cancel();
    this.#extras.clear();
    this.#runsPending = 0;
    this.#sessions.clear();
    this.#loaded = null;
    this.#hold = null;
    this.#ui.timeline()?.abandon();
    if (this.#crashedHere) {
      this.#crashedHere = false;
      this.#showCrash(message);
    } else if (this.#host.isConnected && this.#host.dataset.status !== 'idle') {
      this.boot();
    }
  }

  /**
   * No engine could be made because the device was lost while loading: say so and offer a
   * fresh start; the last image stays on screen.
   */
  #showDeviceLost(message) {
    if (this.#host.dataset.status === 'error' && this.#$('.notice .retry')) return; // already shown
    this.#loaded = null;
    this.#freeSessions();
    showNotice(this.#host.shadowRoot, 'device-lost', message)
      .querySelector('.retry')
      .addEventListener('click', () => this.boot());
    this.setStatus('error', `The GPU device was lost: ${message}`);
    this.#progress(0, '');
    this.#emit('dp-error', { message, deviceLost: true });
  }

  // ----- sampling ----------------------------------------------------------------------------

  /** Stops the run in flight; once it has stopped, frees the sessions if the element was removed. */
  disconnect() {
    Promise.all([this.#queue.cancel(), this.#cancelExtras()]).then(() => {
      if (this.#host.isConnected) return;
      this.#freeSessions();
      // The last playground on a model lets its engine go (freed); a reconnect loads it again.
      this.#loaded = null;
      this.#hold?.release();
      this.#hold = null;
    });
  }

  /**
   * Work on the finished run (a replayed step, branches): `job(isCurrent)` runs on `queue` (a
   * newer request on the same queue supersedes it) while no run is requested or running; the
   * next run cancels it and starts once it has stopped. Resolves to the job's result, or null.
   */
  extra(queue, job) {
    if (!this.#loaded || this.#runsPending > 0) return Promise.resolve(null);
    this.#extras.add(queue);
    return queue.request((isCurrent) => job(() => isCurrent() && this.#runsPending === 0));
  }

  #cancelExtras() {
    return Promise.all([...this.#extras].map((q) => q.cancel()));
  }

  /** Stops the run in flight. */
  stop() {
    this.#queue.cancel();
    if (['running', 'paused'].includes(this.#host.dataset.status)) this.setStatus('idle', 'Stopped.');
  }

  #freeSessions(keepBatch = null) {
    for (const [batch, sessions] of this.#sessions) {
      if (batch === keepBatch) continue;
      for (const s of sessions) {
        try {
          s.free();
        } catch (e) {
          if (!isStale(e)) throw e; // a session of a wasm instance reset after a trap: already gone
        }
      }
      this.#sessions.delete(batch);
    }
  }

  #sessionsFor(batch, count) {
    const backend = this.#loaded.engine.backend();
    // Sessions stay on the backend they were made on: after a move to the CPU, make new ones.
    this.#freeSessions(backend === this.#sessionsBackend ? batch : null);
    this.#sessionsBackend = backend;
    const list = this.#sessions.get(batch) ?? [];
    while (list.length < count) list.push(createSession(this.#loaded, batch));
    // One lane after two (side by side off): the second lane's buffers go now, not at the next boot.
    while (list.length > count) list.pop().free();
    this.#sessions.set(batch, list);
    return list;
  }

  /** Runs the current settings (cancelling the run in flight), or shows x_T without WebGPU. */
  run() {
    if (this.#noGpu) {
      this.#drawNoisePreview();
      return;
    }
    if (!this.#loaded || !this.#host.isConnected) return; // boot() runs once the engine is ready
    const settings = this.#host.getState();
    const samplers = runSamplers(settings);
    let plans;
    try {
      plans = samplers.map((s) => this.#loaded.engine.timesteps(s, settings.steps, settings.eta, settings.variance, laneClip(s, settings.clip)));
    } catch (e) {
      this.#queue.cancel();
      if (isTrap(e)) this.#trapped(e);
      else this.#showError(triage(e).message);
      return;
    }
    const loaded = this.#loaded;
    hideNotice(this.#host.shadowRoot);
    this.#$('#lanes').classList.add('stale');
    const running = `Sampling with ${samplers.map((s) => NAMES[s]).join(' and ')}, ${settings.steps} steps…`;
    this.setStatus('running', running);
    this.#runsPending++;
    const extrasStopped = this.#cancelExtras();
    const queue = this.#queue; // replaced after a trap: a run stuck in the old one never ends
    queue
      .request(async (isCurrent, cancelled) => {
        try {
          await extrasStopped;
          if (!isCurrent()) return undefined;
          return await this.#run(settings, samplers, plans, isCurrent, this.#pauser(running, isCurrent, cancelled));
        } catch (e) {
          if (isCurrent()) throw e; // a superseded run's failure is not the reader's concern
        }
      })
      .catch((e) => this.#triage(e, loaded))
      .finally(() => queue === this.#queue && this.#runsPending--);
  }

  /**
   * What a failed run means, by the error's name: a lost device (then the CPU takes over; also
   * when another playground already moved the shared engine and this one's GPU sessions fail),
   * no usable GPU, or an error.
   */
  #triage(e, loaded) {
    if (isStale(e)) return; // a run of a wasm instance already replaced after a trap
    if (isTrap(e)) {
      this.#trapped(e);
      return;
    }
    if (loaded !== this.#loaded) return; // a new engine took over meanwhile
    let { notice, message } = triage(e, loaded.engine.deviceLost());
    if (notice !== 'device-lost' && this.#sessionsBackend === 'webgpu' && loaded.info.deviceLost) {
      notice = 'device-lost';
      message = loaded.info.deviceLost;
    }
    if (notice === 'device-lost') this.#fallBack(message, loaded);
    else if (notice === 'no-webgpu') this.#showNoWebGpu(message);
    else this.#showError(message);
  }

  /**
   * The wait before each step of a run: while the gate is closed (scrolled away, tab hidden)
   * the run pauses, says so (data-status "paused", a dp-pause event) and goes on from the same
   * step once it opens (dp-resume), unless it was cancelled meanwhile.
   */
  #pauser(running, isCurrent, cancelled) {
    const gate = this.#ui.gate;
    return async () => {
      if (gate.open) return;
      const reason = gate.reason;
      const said = reason === 'hidden' ? 'Paused while this tab is hidden.' : 'Paused while scrolled out of view; it goes on when you scroll back.';
      this.setStatus('paused', said);
      this.#emit('dp-pause', { reason });
      await gate.wait(cancelled);
      if (!isCurrent()) return;
      this.setStatus('running', running);
      this.#emit('dp-resume', { reason });
    };
  }

  /** Runs from `xT` ((1, C, H, W): image 0's x_T; `label` says where it came from) until clearXT(). */
  startFrom(xT, label) {
    this.givenXT = { xT: Float32Array.from(xT), label };
    this.run();
  }

  /** Back to the seed's x_T (the next run). */
  clearXT() {
    this.givenXT = null;
  }

  /** The whole batch's x_T for a run from givenXT: the seed's noise with image 0 replaced; or null. */
  #initFor(settings) {
    if (!this.givenXT) return null;
    const [c, h, w] = this.#loaded.info.sampleShape;
    const len = c * h * w;
    if (this.givenXT.xT.length !== len) return null;
    const all = Float32Array.from(this.#loaded.wasm.initialNoise(settings.seed, settings.batch, len));
    all.set(this.givenXT.xT, 0);
    return all;
  }

  async #run(settings, samplers, plans, isCurrent, waitShown) {
    const { info } = this.#loaded;
    const [c, h, w] = info.sampleShape;
    const { cols, rows } = gridShape(settings.batch);
    const [gw, gh] = [cols * w, rows * h];
    const sessions = this.#sessionsFor(settings.batch, samplers.length);
    const ui = this.#ui.lanes(samplers.map((s) => NAMES[s]));
    const keep = this.#ui.keep();
    const stateLen = settings.batch * c * h * w;
    const lanes = samplers.map((sampler, k) => ({
      name: NAMES[sampler],
      sampler,
      session: sessions[k],
      steps: settings.steps,
      eta: sampler === 'ddim' ? settings.eta : 0,
      variance: settings.variance,
      clip: laneClip(sampler, settings.clip),
      seed: settings.seed,
      recorder: new FrameRecorder(plans[k], gw, gh, {
        stateLen: keep.state ? stateLen : 0,
        partsBytes: keep.parts && sampler !== 'dpmpp2m' ? partsBytes(info.sampleShape) : 0,
      }),
      keepState: keep.state,
      // readStepParts refuses DPM-Solver++ (its update needs the previous step's x_0).
      keepParts: keep.parts && sampler !== 'dpmpp2m',
      init: this.#initFor(settings),
      from: this.givenXT?.label ?? null,
      ui: ui[k],
    }));
    this.#ui.timeline().start(lanes);
    for (const lane of lanes) {
      lane.ui.caption.textContent = laneCaption(lane);
    }
    const draw = (lane, rgba, what) => this.#ui.draw(lane, rgba, gw, gh, what);
    const view = () => this.#host.getState().view;
    const total = lanes.reduce((n, l) => n + l.recorder.n, 0);
    const t0 = performance.now();
    let firstImage = null;
    const ok = await runLanes(lanes, {
      isCurrent,
      view,
      waitShown,
      onStart: (lane, xT) => {
        this.#paint.cancel(); // nothing of a run before this one may land on its canvases
        if (lane === lanes[0]) this.lastXT = [];
        this.lastXT.push(xT);
        const g = tensorToRgba(xT, settings.batch, c, h, w);
        lane.recorder.addInitial(g.rgba, lane.keepState ? xT : null);
        draw(lane, g.rgba, 'x_T (the starting noise)');
        this.#$('#lanes').classList.remove('stale');
        if (firstImage === null) firstImage = performance.now() - t0;
        this.#progress(0, `step 0/${settings.steps}`);
      },
      onStep: (lane, i, frame) => {
        if (frame.sample && frame.x0) {
          const parts = frame.parts ? partsToRgba(frame.parts, info.sampleShape) : null;
          lane.recorder.add(i, frame.sample, frame.x0, { state: frame.state ?? null, parts });
          this.#ui.timeline().recorded(lane, i);
        }
        const done = lanes.reduce((n, l) => n + l.done, 0);
        const msPerStep = lane.msSum / lane.done;
        const steps = lanes.map((l) => `${lanes.length > 1 ? `${l.name} ` : ''}step ${l.done}/${l.recorder.n}`).join(' · ');
        // Drawn at the next frame due (paint-throttle.js): a newer step may replace it first.
        this.#paint.request(lane, () => {
          if (!isCurrent()) return;
          const shown = frame[view()] ? view() : frame.view;
          const what = shown === 'x0' ? 'predicted x_0' : 'x_t';
          draw(lane, frame[shown], `${what} after step ${i + 1} of ${lane.recorder.n} (t = ${lane.timesteps[i]})`);
        });
        this.#paint.request('progress', () => isCurrent() && this.#progress(done / total, `${steps} · ${formatMs(msPerStep)}/step`));
        if (i === 0 && lane === lanes[0]) this.timings.firstStep = performance.now() - t0;
        this.#emit('dp-step', { i, n: lane.recorder.n, msPerStep, sampler: lane.sampler });
      },
    });
    if (!ok) return;
    this.#paint.flush(); // the last step shows before the run is called done
    const finals = [];
    for (const lane of lanes) {
      finals.push(await lane.session.readTensor('sample'));
      if (!isCurrent()) return;
    }
    const msTotal = performance.now() - t0;
    const stepMs = lanes.reduce((a, l) => a + l.msSum, 0) / total;
    this.timings = { ...this.timings, firstImage, msPerStep: stepMs, total: msTotal };
    this.lastImage = finals[0];
    this.lastEvaluations = lanes.map((l) => l.session.networkEvaluations());
    lanes.forEach((l, k) => {
      l.evaluations = this.lastEvaluations[k];
      l.ui.caption.textContent = laneCaption(l);
    });
    this.#ui.finished(finals[0], settings.batch);
    this.#ui.timeline().finish();
    this.setStatus(
      'done',
      `Done: ${lanes.map((l) => `${l.name} ${l.recorder.n} steps (${evaluations(l.evaluations)})`).join(', ')} in ${formatMs(msTotal)} (${formatMs(stepMs)} per step).`,
    );
    this.#emit('dp-done', { msTotal, msPerStep: stepMs, settings, evaluations: this.lastEvaluations });
  }
}
