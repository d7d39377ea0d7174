// Playground settings: defaults, validation, and their form in a URL query or in element
// attributes. A shared link (`index.html?sampler=ddim&steps=50&...`) restores them.

import { DEFAULT_BACKEND, parseBackend } from './backend-choice.js';
import { EXAMPLE_NAMES } from './examples.js';

export const SAMPLERS = ['ddpm', 'ddim', 'dpmpp2m'];
/** The pairs side-by-side mode can compare, lane 0 first (the first one is today's default). */
export const COMPARES = ['ddpm-ddim', 'dpmpp2m-ddim', 'dpmpp2m-ddpm'];
export const MAX_FRAMES = 16;
export const MAX_RESAMPLE = 10;
/** The most DDIM steps an inversion may take (the panel's field and `invsteps`). */
export const MAX_INV_STEPS = 1000;
export const VARIANCES = ['fixed_small', 'fixed_large'];
/** The clamp of the predicted x_0 (Session.start's `clip`): the checkpoint's, none, clamp, or clamp and recompute eps. */
export const CLIPS = ['checkpoint', 'off', 'clip', 'recompute'];
export const BATCHES = [1, 4, 16];
export const VIEWS = ['sample', 'x0'];
export const MAX_SEED = 0xffffffff;
export const DEFAULT_MODEL = 'models/emoji32';

/** Settings a playground starts from; `variance: null` means "the checkpoint's default". */
export const DEFAULTS = Object.freeze({
  model: null,
  sampler: 'ddim',
  steps: 50,
  eta: 0,
  variance: null,
  clip: 'checkpoint',
  seed: 7,
  batch: 1,
  side: false,
  view: 'x0',
  backend: DEFAULT_BACKEND,
  compare: COMPARES[0],
  // The panels of issue 15 (each null until the reader uses it): the inversion's source (an
  // example's name or "sample", the run's own image 0) and step count (null: the run's steps),
  // the interpolation's other end (a seed, or "inv:A,B": between the inversions of examples A
  // and B) and frame count, the inpainting mask (mask.js's compact text) and its resample count.
  invert: null,
  invsteps: null,
  lerp: null,
  frames: 7,
  mask: null,
  resample: 1,
});

/** The samplers a run with these settings uses, one per lane. */
export function runSamplers(s) {
  return s.side ? (COMPARES.includes(s.compare) ? s.compare : COMPARES[0]).split('-') : [s.sampler];
}

/** The keys a share link carries, in the order they are written. */
export const URL_KEYS = ['model', 'sampler', 'steps', 'eta', 'variance', 'clip', 'seed', 'batch', 'side', 'compare', 'view', 'backend', 'invert', 'invsteps', 'lerp', 'frames', 'mask', 'resample'];

/** Keys whose change needs a new sampling run (the view only changes what is drawn; a new
 * model or backend needs a new engine first). */
export const RUN_KEYS = ['model', 'sampler', 'steps', 'eta', 'variance', 'clip', 'seed', 'batch', 'side', 'compare'];

/**
 * The clipping a lane of `sampler` runs with: DPM-Solver++ never clamps x_0 (the checkpoint's
 * setting, which it ignores), and DDPM's update has no noise estimate to recompute, so
 * "recompute" clamps only.
 */
export function laneClip(sampler, clip) {
  if (sampler === 'dpmpp2m') return 'checkpoint';
  if (sampler === 'ddpm' && clip === 'recompute') return 'clip';
  return clip ?? 'checkpoint';
}

const PARSERS = {
  model: (v) => {
    // A path relative to the playground's folder, e.g. "models/emoji32"; no "..", no scheme.
    const s = String(v).trim().replace(/\/+$/, '');
    return /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(s) && !s.split('/').includes('..') ? s : undefined;
  },
  sampler: (v) => (SAMPLERS.includes(String(v).toLowerCase()) ? String(v).toLowerCase() : undefined),
  steps: (v) => {
    const n = Number(v);
    return Number.isInteger(n) && n >= 1 && n <= 100000 ? n : undefined;
  },
  eta: (v) => {
    const n = Number(v);
    return String(v).trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 1 ? n : undefined;
  },
  variance: (v) => {
    const s = String(v).toLowerCase();
    if (s === 'posterior') return 'fixed_small';
    if (s === 'beta') return 'fixed_large';
    return VARIANCES.includes(s) ? s : undefined;
  },
  seed: (v) => {
    const n = Number(v);
    return String(v).trim() !== '' && Number.isInteger(n) && n >= 0 && n <= MAX_SEED ? n : undefined;
  },
  batch: (v) => (BATCHES.includes(Number(v)) ? Number(v) : undefined),
  side: (v) => {
    const s = String(v).toLowerCase();
    if (['', '1', 'true', 'yes', 'on'].includes(s)) return true;
    if (['0', 'false', 'no', 'off'].includes(s)) return false;
    return undefined;
  },
  view: (v) => (VIEWS.includes(String(v)) ? String(v) : undefined),
  backend: parseBackend,
  clip: (v) => (CLIPS.includes(String(v).toLowerCase()) ? String(v).toLowerCase() : undefined),
  compare: (v) => (COMPARES.includes(String(v).toLowerCase()) ? String(v).toLowerCase() : undefined),
  // An example's name (examples.js) or "sample"; checked against the list by the panel.
  invert: (v) => (/^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(String(v)) ? String(v) : undefined),
  invsteps: (v) => {
    const n = Number(v);
    return String(v).trim() !== '' && Number.isInteger(n) && n >= 1 && n <= MAX_INV_STEPS ? n : undefined;
  },
  // Another seed, or "inv:A,B" with A and B two names of examples.js (the strip between their inversions).
  lerp: (v) => {
    const m = /^inv:([A-Za-z]+),([A-Za-z]+)$/.exec(String(v).trim());
    if (m) return EXAMPLE_NAMES.includes(m[1]) && EXAMPLE_NAMES.includes(m[2]) ? `inv:${m[1]},${m[2]}` : undefined;
    return PARSERS.seed(v);
  },
  frames: (v) => {
    const n = Number(v);
    return Number.isInteger(n) && n >= 2 && n <= MAX_FRAMES ? n : undefined;
  },
  // mask.js's text: "b" + base64url bits or "r" + runs; its length is checked against the model.
  mask: (v) => (/^[br][A-Za-z0-9_.-]{1,400}$/.test(String(v)) ? String(v) : undefined),
  resample: (v) => {
    const n = Number(v);
    return Number.isInteger(n) && n >= 1 && n <= MAX_RESAMPLE ? n : undefined;
  },
};

/**
 * What a `lerp` setting names: {seed} (the other seed), {examples: [A, B]} (the inversions of two
 * examples), or null (no strip).
 */
export function lerpEnds(lerp) {
  if (lerp === null || lerp === undefined) return null;
  if (typeof lerp === 'number') return { seed: lerp };
  const m = /^inv:([A-Za-z]+),([A-Za-z]+)$/.exec(String(lerp));
  return m ? { examples: [m[1], m[2]] } : null;
}

/** One setting from its text form, or `undefined` (with a console warning) if invalid. */
export function parseValue(key, text) {
  const parse = PARSERS[key];
  if (!parse) return undefined;
  const value = parse(text);
  if (value === undefined) {
    console.warn(`diffusion-playground: ignoring ${key}=${JSON.stringify(text)} (not a valid value)`);
  }
  return value;
}

/**
 * What the reader sees when a `model` value is refused (URL, attribute or setState): what was
 * refused and what to write instead. The page never loads a model from another origin or from
 * outside its own folder.
 */
export function modelRefusal(text) {
  const shown = JSON.stringify(String(text).slice(0, 80));
  const s = String(text).trim();
  let why = 'it is not a folder path';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(s)) why = 'a URL with a scheme could load a model from another site';
  else if (s.startsWith('//')) why = 'a path that starts with "//" names another host';
  else if (s.startsWith('/')) why = 'an absolute path leaves the playground\'s folder';
  else if (/%/.test(s)) why = 'it holds percent-escapes (such as %2e%2e for "..")';
  else if (s.split('/').includes('..')) why = '".." leaves the playground\'s folder';
  else if (s === '') why = 'it is empty';
  return `The model ${shown} was refused: ${why}. Write a folder path relative to the playground, such as "${DEFAULT_MODEL}" (letters, digits, "_", "-", "." and "/"; no "..", no leading "/", no "https:" or "//host"). The playground keeps its current model.`;
}

/**
 * The settings named in a query string or URLSearchParams (only the valid ones);
 * `onRefused(key, text)` hears of each invalid one.
 */
export function parseParams(params, onRefused) {
  const p = params instanceof URLSearchParams ? params : new URLSearchParams(params);
  const out = {};
  for (const key of URL_KEYS) {
    if (p.has(key)) {
      const v = parseValue(key, p.get(key));
      if (v !== undefined) out[key] = v;
      else onRefused?.(key, p.get(key));
    }
  }
  return out;
}

/**
 * The settings as URLSearchParams (every key, so a link states all of them; but `backend` only
 * when it is not auto: which one is faster depends on the reader's machine, not the link's).
 */
export function toParams(settings) {
  const p = new URLSearchParams();
  for (const key of URL_KEYS) {
    const v = settings[key];
    if (v === null || v === undefined) continue;
    if (key === 'side') {
      if (v) p.set('side', '1');
    } else if (key === 'compare') {
      if (settings.side && v !== COMPARES[0]) p.set(key, v);
    } else if (key === 'clip') {
      if (v !== 'checkpoint') p.set(key, v);
    } else if (key === 'frames') {
      if (settings.lerp !== null && settings.lerp !== undefined) p.set(key, String(v));
    } else if (key === 'resample') {
      if (settings.mask && v !== 1) p.set(key, String(v));
    } else if (key === 'backend') {
      if (v !== DEFAULT_BACKEND) p.set('backend', v);
    } else {
      p.set(key, String(v));
    }
  }
  return p;
}

/** Random u32 seed. */
export function randomSeed() {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0];
}

/** The still image `build-web` writes next to the page (a finished run of the default model). */
export const FALLBACK_IMAGE = 'fallback.png';

/**
 * The two ways to embed a playground with these settings: the custom element (loaded from
 * `moduleUrl`) and an iframe of `embed.html` next to `baseUrl`, both in compact mode. The
 * element carries fallback content: a still image of a finished run and a link to the full page
 * with these settings, which readers see where the script cannot load or run.
 */
export function embedSnippets(settings, moduleUrl, baseUrl) {
  const s = settings;
  const attrs = [
    `sampler="${s.sampler}"`,
    `steps="${s.steps}"`,
    `eta="${s.eta}"`,
    `seed="${s.seed}"`,
    `batch="${s.batch}"`,
    s.variance ? `variance="${s.variance}"` : '',
    s.clip && s.clip !== 'checkpoint' ? `clip="${s.clip}"` : '',
    s.model ? `model="${s.model}"` : '',
    s.side ? 'side-by-side' : '',
    s.side && s.compare && s.compare !== COMPARES[0] ? `compare="${s.compare}"` : '',
    s.invert ? `invert="${s.invert}"` : '',
    s.invsteps ? `invsteps="${s.invsteps}"` : '',
    s.lerp !== null && s.lerp !== undefined ? `lerp="${s.lerp}" frames="${s.frames}"` : '',
    s.mask ? `mask="${s.mask}"` : '',
    s.mask && s.resample > 1 ? `resample="${s.resample}"` : '',
    s.backend && s.backend !== DEFAULT_BACKEND ? `backend="${s.backend}"` : '',
    `controls="compact"`,
  ].filter(Boolean);
  const amp = (url) => url.replace(/&/g, '&amp;');
  const pageUrl = amp(new URL(`index.html?${toParams(s)}`, baseUrl).href);
  const imageUrl = new URL(FALLBACK_IMAGE, baseUrl).href;
  const embedUrl = new URL(`embed.html?${toParams(s)}&controls=compact`, baseUrl).href;
  return {
    element:
      `<script type="module" src="${moduleUrl}"></script>\n` +
      `<diffusion-playground ${attrs.join(' ')}>\n` +
      `  <a href="${pageUrl}"><img src="${imageUrl}" width="256" height="256"\n` +
      `     alt="A picture that the diffusion playground's model sampled from pure noise"></a>\n` +
      `  <p>A still image from the diffusion playground, which could not start here.\n` +
      `     <a href="${pageUrl}">Open the playground</a> to watch it sample, step by step.</p>\n` +
      `</diffusion-playground>`,
    iframe:
      `<iframe src="${amp(embedUrl)}" title="Diffusion sampling playground" ` +
      `width="420" height="640" loading="lazy"></iframe>`,
  };
}
