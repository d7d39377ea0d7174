// The playground's settings as the reader sets them: the element's attributes (and, with
// sync-url, the page's query) at the start; the form's controls both ways (bindControls: a
// control changes the settings; syncControls: the settings show in the controls); and the
// address bar and embed snippets (urlWriter). Settings themselves (defaults, parsing, their
// URL form) are in url-state.js.

import { DEFAULTS, embedSnippets, parseParams, parseValue, randomSeed, runSamplers, toParams } from './url-state.js';

export const MODES = ['full', 'compact', 'none'];

/** Attribute name -> settings key. */
export const ATTRS = {
  model: 'model',
  sampler: 'sampler',
  steps: 'steps',
  eta: 'eta',
  variance: 'variance',
  clip: 'clip',
  seed: 'seed',
  batch: 'batch',
  'side-by-side': 'side',
  view: 'view',
  backend: 'backend',
  compare: 'compare',
  invert: 'invert',
  invsteps: 'invsteps',
  lerp: 'lerp',
  frames: 'frames',
  mask: 'mask',
  resample: 'resample',
};

/** The controls mode a `controls` attribute names ('full' when absent or unknown). */
export function controlsMode(value) {
  return MODES.includes(value) ? value : 'full';
}

/**
 * A setting from its attribute's text: `null` (the attribute was removed) is the default, a
 * boolean attribute is true unless "false"; `undefined` when the text is not a valid value
 * (and `onRefused(key, text)` hears of it).
 */
export function attributeSetting(key, text, onRefused) {
  if (text === null) return DEFAULTS[key];
  const v = key === 'side' ? text !== 'false' : parseValue(key, text);
  if (v === undefined) onRefused?.(key, text);
  return v;
}

/**
 * The settings and controls mode `el` starts with: the defaults, its attributes, then the URL;
 * `onRefused(key, text)` hears of each invalid value.
 */
export function initialSettings(el, onRefused) {
  const settings = { ...DEFAULTS };
  for (const [attr, key] of Object.entries(ATTRS)) {
    if (!el.hasAttribute(attr)) continue;
    const v = attributeSetting(key, el.getAttribute(attr), onRefused);
    if (v !== undefined) settings[key] = v;
  }
  if (el.hasAttribute('sync-url')) Object.assign(settings, parseParams(location.search, onRefused));
  return { settings, mode: controlsMode(el.getAttribute('controls')) };
}

/**
 * The valid settings of `partial` (as setState() takes them: booleans, numbers or text);
 * `onRefused(key, value)` hears of each value dropped.
 */
export function cleanSettings(partial, onRefused) {
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) {
    throw new TypeError(`setState takes an object of settings, e.g. {steps: 20, sampler: "ddim"}; got ${partial === null ? 'null' : Array.isArray(partial) ? 'an array' : typeof partial}`);
  }
  const clean = {};
  for (const [k, v] of Object.entries(partial)) {
    let p;
    if (typeof v === 'boolean' && k === 'side') p = v;
    else if (typeof v === 'string' || typeof v === 'number') p = parseValue(k, String(v));
    else console.warn(`diffusion-playground: ignoring ${k}: a ${v === null ? 'null' : typeof v} is not a value of it (use a string or number)`);
    if (p !== undefined) clean[k] = p;
    else onRefused?.(k, v);
  }
  return clean;
}

/**
 * Wires the form in `root` (whichever controls its mode has) to `actions`: {update(partial),
 * resync() (an invalid number was typed: show the settings again), run, stop, downloadGrid,
 * downloadFilmstrip, copy(text, doneMessage), shareUrl()}.
 */
export function bindControls(root, actions) {
  const $ = (s) => root.querySelector(s);
  const on = (sel, type, fn) => {
    const el = typeof sel === 'string' ? $(sel) : sel;
    if (el) el.addEventListener(type, fn);
  };
  const radios = (name, value) => {
    for (const r of root.querySelectorAll(`input[name="${name}"]`)) {
      on(r, 'change', () => actions.update({ [name]: value(r.value) }));
    }
  };
  radios('sampler', String);
  radios('variance', String);
  radios('batch', Number);
  radios('view', String);
  const typed = (key) => (e) => {
    const v = parseValue(key, e.target.value);
    if (v !== undefined) actions.update({ [key]: v });
    else actions.resync();
  };
  on('#steps', 'input', (e) => actions.update({ steps: Number(e.target.value) }));
  on('#steps-num', 'change', typed('steps'));
  on('#eta', 'input', (e) => actions.update({ eta: Number(e.target.value) }));
  on('#seed', 'change', typed('seed'));
  on('#new-seed', 'click', () => actions.update({ seed: randomSeed() }));
  on('#side', 'change', (e) => actions.update({ side: e.target.checked }));
  on('#clip', 'change', (e) => actions.update({ clip: e.target.value }));
  on('#compare', 'change', (e) => actions.update({ compare: e.target.value, side: true }));
  on('#model', 'change', (e) => actions.update({ model: e.target.value }));
  on('#run', 'click', () => actions.run());
  on('#stop', 'click', () => actions.stop());
  on('#dl-grid', 'click', () => actions.downloadGrid());
  on('#dl-film', 'click', () => actions.downloadFilmstrip());
  on('#copy-link', 'click', () => actions.copy(actions.shareUrl(), 'Link copied.'));
  on('#copy-snippet', 'click', () => actions.copy($('#snippet').value, 'Embed code copied.'));
  on('#copy-iframe', 'click', () => actions.copy($('#iframe-snippet').value, 'iframe code copied.'));
  for (const ta of root.querySelectorAll('textarea')) on(ta, 'focus', () => ta.select());
  // The <form> has only buttons of type "button"; Enter in a number field must not reload.
  on('form', 'submit', (e) => e.preventDefault());
}

/**
 * Shows `state` (the settings with the variance resolved) in the controls of `root`, and
 * disables the ones the chosen sampler(s) do not use; `T` (once known) bounds the steps.
 */
export function syncControls(root, state, T) {
  const s = state;
  const check = (name, value) => {
    for (const r of root.querySelectorAll(`input[name="${name}"]`)) r.checked = r.value === String(value);
  };
  check('sampler', s.sampler);
  check('variance', s.variance);
  check('batch', s.batch);
  check('view', s.view);
  const set = (sel, prop, v) => {
    const el = root.querySelector(sel);
    if (el && el[prop] !== v) el[prop] = v;
  };
  set('#steps', 'value', String(s.steps));
  set('#steps-num', 'value', String(s.steps));
  set('#eta', 'value', String(s.eta));
  set('#eta-out', 'value', s.eta.toFixed(2));
  set('#seed', 'value', String(s.seed));
  set('#side', 'checked', s.side);
  set('#compare', 'value', s.compare);
  set('#clip', 'value', s.clip ?? 'checkpoint');
  const used = runSamplers(s);
  const ddimUsed = used.includes('ddim');
  const ddpmUsed = used.includes('ddpm');
  const note = root.querySelector('#sampler-note');
  if (note) {
    const dpm = used.includes('dpmpp2m');
    note.hidden = !dpm;
    note.textContent = dpm
      ? `DPM-Solver++(2M) adds no noise: it solves the probability-flow ODE with a second-order multistep update, so η${ddimUsed ? ' (for DDIM)' : ''} and the DDPM variance${ddpmUsed ? ' (for DDPM)' : ''} ${ddimUsed || ddpmUsed ? 'apply only to the other sampler' : 'do not apply'}.`
      : '';
  }
  set('#eta', 'disabled', !ddimUsed);
  root.querySelector('#eta-field')?.classList.toggle('disabled', !ddimUsed);
  const disable = (field, off) => {
    if (!field) return;
    field.disabled = off;
    field.classList.toggle('disabled', off);
  };
  disable(root.querySelector('#variance-field'), !ddpmUsed);
  // DPM-Solver++ never clamps x_0: the choice applies to DDPM and DDIM lanes only.
  set('#clip', 'disabled', !ddimUsed && !ddpmUsed);
  root.querySelector('#clip-field')?.classList.toggle('disabled', !ddimUsed && !ddpmUsed);
  disable(root.querySelector('input[name="sampler"]')?.closest('fieldset'), s.side);
  if (T !== undefined) {
    set('#steps', 'max', String(T));
    set('#steps-num', 'max', String(T));
  }
}

/** Fills the model menu of `root` with `models` (and `current`); shown only when there is a choice. */
export function fillModels(root, models, current) {
  const select = root.querySelector('#model');
  if (!select) return;
  const all = [...new Set([...models, current])];
  select.replaceChildren(...all.map((m) => new Option(m.replace(/^models\//, ''), m)));
  select.value = current;
  root.querySelector('#model-field').hidden = all.length < 2;
}

/**
 * A function `write(state)` that puts the settings in the address bar (when `el` has sync-url)
 * and in the embed snippets of its shadow root (module from `moduleUrl`, pages from `baseUrl`).
 */
export function urlWriter(el, moduleUrl, baseUrl) {
  let timer = 0;
  return (state) => {
    const params = toParams(state).toString();
    if (el.hasAttribute('sync-url')) {
      // Debounced: dragging a slider must not flood the history API (browsers throttle it).
      clearTimeout(timer);
      timer = setTimeout(() => {
        const url = `${location.pathname}?${params}${location.hash}`;
        if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(history.state, '', url);
      }, 120);
    }
    const snippet = el.shadowRoot.querySelector('#snippet');
    if (snippet) {
      const { element, iframe } = embedSnippets(state, moduleUrl, baseUrl);
      snippet.value = element;
      el.shadowRoot.querySelector('#iframe-snippet').value = iframe;
    }
  };
}
