// The step anatomy's formulas as text with holes for numbers (no DOM here, so Node tests it):
// a step's anatomy object from the engine (`Session.stepAnatomy`, src/web/anatomy.rs) becomes
// rows of pieces — static markup, or `{key}` for one of the object's numbers, which the panel
// shows formatted with the exact value kept in `data-value`. Nothing here computes a number.

/** A number for reading: 5 significant digits, exponent form below 1e-3 (0 stays "0"). */
export function formatNumber(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  const s = a >= 1e-3 && a < 1e5 ? String(Number(a.toPrecision(5))) : a.toExponential(3).replace(/\.?0+e/, 'e');
  return v < 0 ? `−${s}` : s;
}

/** A number after an operator: "+ 0.5" or "− 4.5678" (formatNumber of its size). */
export function formatSigned(v) {
  return v < 0 ? `− ${formatNumber(-v)}` : `+ ${formatNumber(v)}`;
}

/** Parses what formatNumber or formatSigned wrote (for tests): "− 1.5e-4" -> -0.00015. */
export function parseNumber(text) {
  return Number(String(text).replace(/\s+/g, '').replace(/^\+/, '').replace(/^−/, '-'));
}

const n = (key) => ({ key });
/** A number shown with its sign as the operator before it ("x + −2" reads "x − 2"). */
const signed = (key) => ({ key, signed: true });
const X0 = 'x̂<sub>0</sub>';
const XT = 'x<sub>t</sub>';
const XPREV = 'x<sub>t−1</sub>';
const AB = 'ᾱ<sub>t</sub>';
const ABP = 'ᾱ<sub>prev</sub>';
const SIG = 'σ<sub>t</sub>';

/** The rows about x̂_0 (every sampler). */
function x0Rows(a) {
  const rows = [];
  if (a.predictionType === 'epsilon') {
    rows.push([`${X0} = (${XT} − √(1−${AB})·ε̂) / √${AB} = (${XT} − `, n('sqrtOneMinusAlphaBar'), '·ε̂) / ', n('sqrtAlphaBar')]);
  } else {
    const m = a.predictionType === 'v_prediction' ? 'v̂' : 'x̂<sub>0</sub><sup>net</sup>';
    rows.push([`${X0} from the network's ${a.predictionType === 'v_prediction' ? 'v' : 'x<sub>0</sub>'} prediction ${m}; ε̂ = `, n('epsFromSample'), `·${XT} `, signed('epsFromModel'), `·${m}`]);
  }
  rows.push([`${AB} = `, n('alphaBar'), `, log SNR = ln(${AB}/(1−${AB})) = `, n('logSnr')]);
  const model = a.predictionType === 'epsilon' ? 'ε̂' : a.predictionType === 'v_prediction' ? 'v̂' : 'x̂<sub>0</sub><sup>net</sup>';
  const row = ['the kernel: ', `${X0} = `, n('x0FromSample'), `·${XT} `, signed('x0FromModel'), `·${model}`];
  if (a.clip) row.push(', then clipped to ±', n('clipRange'));
  rows.push(row);
  return rows;
}

function ddpmRows(a) {
  const posterior = a.variance === 'fixed_small';
  const sigmaRow = [`this run: ${SIG} = ${posterior ? '√β̃<sub>t</sub>' : '√β<sub>t</sub>'} = `, n('sigma')];
  if (a.t === 0) sigmaRow.push(' (0 at t = 0: the last step adds no noise)');
  else sigmaRow.push(posterior ? '; with β<sub>t</sub> it would be ' : '; with β̃<sub>t</sub> it would be ', n(posterior ? 'betaSigma' : 'posteriorSigma'));
  return [
    [`${ABP} = `, n('alphaBarPrev'), `, β<sub>t</sub> = 1 − ${AB}/${ABP} = `, n('beta')],
    [`μ̃ = a·${X0} + b·${XT}, a = √${ABP}·β<sub>t</sub>/(1−${AB}) = `, n('prevFromX0'), `, b = √(1−β<sub>t</sub>)·(1−${ABP})/(1−${AB}) = `, n('prevFromSample')],
    [`β̃<sub>t</sub> = (1−${ABP})/(1−${AB})·β<sub>t</sub> = `, n('posteriorVariance')],
    sigmaRow,
    [`${XPREV} = μ̃ + ${SIG} z = `, n('prevFromX0'), `·${X0} + `, n('prevFromSample'), `·${XT} + `, n('sigma'), '·z'],
  ];
}

function ddimRows(a, { T }) {
  const rows = [
    [`${ABP} = `, n('alphaBarPrev')],
    [`${SIG} = η·√((1−${ABP})/(1−${AB}))·√(1−${AB}/${ABP}) = `, n('eta'), ' × ', n('sigmaRatio'), ' × ', n('sigmaGap'), ' = ', n('sigma')],
    [`${XPREV} = √${ABP}·${X0} + √(1−${ABP}−${SIG}²)·ε̂ + ${SIG} z = `, n('prevFromX0'), `·${X0} + `, n('prevFromEps'), '·ε̂ + ', n('sigma'), '·z'],
  ];
  const skipped = T !== undefined && a.steps < T;
  rows.push([
    `at η = 1: ${SIG} = `,
    n('sigmaEta1'),
    `, and DDPM's posterior √β̃<sub>t</sub> for the same t → t<sub>prev</sub> is `,
    n('posteriorSigma'),
    skipped
      ? ` — ${SIG}² = β̃<sub>t</sub>: η = 1 is DDPM (here steps are skipped, so β<sub>t</sub> = 1 − ${AB}/${ABP} spans the gap; with none skipped it is the model's own β<sub>t</sub>)`
      : ` — ${SIG}² = β̃<sub>t</sub>: with no steps skipped, η = 1 is DDPM's β̃<sub>t</sub>`,
  ]);
  if (a.eta === 0) rows.push([`η = 0: ${SIG} = 0, so ${XPREV} is a deterministic function of ${XT}.`]);
  return rows;
}

/** DPM-Solver++(2M): the multistep update in words (its coefficients mix two steps' x̂_0). */
function dpmRows() {
  return [
    [`${ABP} = `, n('alphaBarPrev'), `, log SNR λ<sub>t</sub> = `, n('logSnr')],
    [`${XPREV} = (σ<sub>prev</sub>/σ<sub>t</sub>)·${XT} − α<sub>prev</sub>(e<sup>−h</sup> − 1)·D, h = λ<sub>prev</sub> − λ<sub>t</sub> (α = √ᾱ, σ = √(1−ᾱ))`],
    [`D = (1 + 1/(2r))·${X0} − 1/(2r)·${X0}<sup>previous step</sup>, r = h<sub>previous</sub>/h (first and last step: D = ${X0})`],
    [`${SIG} = `, n('sigma'), ': DPM-Solver++ adds no noise, so η and the DDPM variance do not apply.'],
  ];
}

/**
 * What the panel shows for anatomy `a` (T: the model's training timesteps): {title, x0Rows,
 * updateHead, updateRows, terms: [{part, pieces}] (the three pictures that sum to x_{t-1})}.
 */
export function anatomyText(a, { T } = {}) {
  const ddpm = a.sampler === 'ddpm';
  const dpm = a.sampler === 'dpmpp2m';
  const prev = a.prevT < 0 ? ['the end (', n('prevT'), ')'] : ['t<sub>prev</sub> = ', n('prevT')];
  return {
    title: ['step ', n('index1'), ' of ', n('steps'), ': t = ', n('t'), ' → ', ...prev],
    x0Rows: x0Rows(a),
    updateHead: dpm
      ? `DPM-Solver++(2M): a second-order multistep solver of the probability-flow ODE in the log-SNR time λ, using this step's ${X0} and the previous step's`
      : ddpm
      ? `DDPM, the Bayes view: q(${XPREV} | ${XT}, x<sub>0</sub>) = N(μ̃, β̃<sub>t</sub>I), with x<sub>0</sub> replaced by ${X0}`
      : `DDIM, the higher view: only q(${XT} | x<sub>0</sub>) is kept fixed, so ${SIG} is free (η) and steps can be skipped`,
    updateRows: dpm ? dpmRows() : ddpm ? ddpmRows(a) : ddimRows(a, { T }),
    terms: ddpm
      ? [
          { part: 'x0Term', pieces: [n('prevFromX0'), `·${X0}`] },
          { part: 'midTerm', pieces: [n('prevFromSample'), `·${XT}`] },
          { part: 'noiseTerm', pieces: [n('sigma'), '·z'] },
        ]
      : [
          { part: 'x0Term', pieces: [n('prevFromX0'), `·${X0}`] },
          { part: 'midTerm', pieces: [n('prevFromEps'), '·ε̂'] },
          { part: 'noiseTerm', pieces: [n('sigma'), '·z'] },
        ],
  };
}

/** Markup for `pieces`: text pieces as they are, numbers as empty `.num` spans to be filled. */
export function piecesHtml(pieces) {
  return pieces
    .map((p) => (typeof p === 'string' ? p : `<span class="num" data-key="${p.key}"${p.signed ? ' data-signed=""' : ''}></span>`))
    .join('');
}

/** The value a `{key}` piece shows: the anatomy's own, plus `index1` (the 1-based step number). */
export function valueOf(a, key) {
  return key === 'index1' ? a.index + 1 : a[key];
}
