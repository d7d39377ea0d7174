// The playground's markup (inside its shadow root). Parts marked data-show list the control
// modes ("full", "compact", "none") in which they appear; parts marked data-panel are the views
// the `panels` attribute chooses (panels.js); the others are removed (the image lanes, which the
// runner always draws into, are hidden instead). The <slot> shows the host page's fallback
// content (the element's children) when nothing could load.

const HTML = /* html */ `
<link rel="stylesheet" href="{{css}}">
<div class="root" part="root">
  <div class="notice" role="alert" hidden></div>
  <p class="settings-notice" id="settings-notice" role="status" hidden></p>
  <div class="fallback" hidden><slot></slot></div>

  <form class="controls" data-show="full compact" aria-label="Sampling settings">
    <div class="field" data-show="full" id="model-field" hidden>
      <label for="model">Model</label>
      <select id="model"></select>
    </div>

    <fieldset class="seg" data-show="full compact">
      <legend>Sampler</legend>
      <label><input type="radio" name="sampler" value="ddpm"><span>DDPM</span></label>
      <label><input type="radio" name="sampler" value="ddim"><span>DDIM</span></label>
      <label><input type="radio" name="sampler" value="dpmpp2m"><span>DPM-Solver++</span></label>
    </fieldset>
    <p class="hint sampler-note" id="sampler-note" hidden></p>

    <div class="field">
      <label for="steps">Steps</label>
      <input type="range" id="steps" min="1" max="1000" step="1">
      <input type="number" id="steps-num" min="1" max="1000" step="1" inputmode="numeric" aria-label="Steps (exact number)">
    </div>

    <div class="field" id="eta-field">
      <label for="eta">Eta <span class="hint" id="eta-hint">(DDIM only)</span></label>
      <input type="range" id="eta" min="0" max="1" step="0.01" aria-describedby="eta-hint">
      <output id="eta-out" for="eta"></output>
    </div>

    <fieldset class="seg" id="variance-field" data-show="full">
      <legend>DDPM variance <span class="hint">(DDPM only)</span></legend>
      <label><input type="radio" name="variance" value="fixed_small"><span>posterior β̃<sub>t</sub></span></label>
      <label><input type="radio" name="variance" value="fixed_large"><span>β<sub>t</sub></span></label>
    </fieldset>

    <div class="field" id="clip-field" data-show="full">
      <label for="clip">Clip x̂<sub>0</sub></label>
      <select id="clip" aria-describedby="clip-hint">
        <option value="checkpoint">as the checkpoint says</option>
        <option value="off">off</option>
        <option value="clip">clip to [−1, 1]</option>
        <option value="recompute">clip and recompute ε̂</option>
      </select>
      <span class="hint" id="clip-hint">Clipping clamps the model's estimate x̂<sub>0</sub> to the image range before each update; "recompute" also makes DDIM use the noise ε̂ that the clamped x̂<sub>0</sub> implies (diffusers' use_clipped_model_output; DDPM just clips, DPM-Solver++ never clips).</span>
    </div>

    <div class="field">
      <label for="seed">Seed</label>
      <input type="number" id="seed" min="0" max="4294967295" step="1" inputmode="numeric">
      <button type="button" id="new-seed">New seed</button>
    </div>

    <fieldset class="seg" data-show="full">
      <legend>Batch</legend>
      <label><input type="radio" name="batch" value="1"><span>1</span></label>
      <label><input type="radio" name="batch" value="4"><span>4</span></label>
      <label><input type="radio" name="batch" value="16"><span>16</span></label>
    </fieldset>

    <div class="field check" data-show="full">
      <input type="checkbox" id="side">
      <label for="side">Side by side from the same x<sub>T</sub>:</label>
      <select id="compare" aria-label="The two samplers side by side">
        <option value="ddpm-ddim">DDPM and DDIM</option>
        <option value="dpmpp2m-ddim">DPM-Solver++ and DDIM</option>
        <option value="dpmpp2m-ddpm">DPM-Solver++ and DDPM</option>
      </select>
    </div>

    <fieldset class="seg">
      <legend>Show</legend>
      <label><input type="radio" name="view" value="sample"><span>x<sub>t</sub> (current sample)</span></label>
      <label><input type="radio" name="view" value="x0"><span>predicted x<sub>0</sub></span></label>
    </fieldset>

    <div class="buttons">
      <button type="button" id="run">Run again</button>
      <button type="button" id="stop">Stop</button>
    </div>
  </form>

  <div class="progress-row">
    <progress id="progress" max="1" value="0" aria-label="Progress"></progress>
    <span id="progress-text" class="mono"></span>
  </div>
  <p class="status" id="status" role="status" aria-live="polite"></p>
  <p class="note hint" id="note" hidden></p>

  <div class="lanes" id="lanes" data-panel="images"></div>

  <div class="field timeline" data-show="full compact">
    <label for="timeline">Timeline</label>
    <input type="range" id="timeline" min="0" max="0" value="0" disabled aria-describedby="timeline-out">
    <output id="timeline-out" for="timeline"></output>
  </div>

  <section class="anatomy" data-panel="anatomy" aria-labelledby="an-h">
    <h3 id="an-h">Step anatomy</h3>
    <p class="hint">One step of the run in the posts’ terms, with that step’s own numbers from the engine’s scheduler (the coefficients the kernel ran with), and the update drawn as pictures for the first image.</p>
    <div class="an-nav">
      <button type="button" id="an-prev" aria-label="Previous step">◀</button>
      <label for="an-step">Step</label>
      <input type="number" id="an-step" min="1" max="1" step="1" inputmode="numeric" disabled>
      <span id="an-of"></span>
      <button type="button" id="an-next" aria-label="Next step">▶</button>
      <span class="hint" id="an-status" role="status"></span>
    </div>
    <div id="an-lanes"></div>
    <p class="hint wait" id="an-wait">Shown once a run starts.</p>
  </section>

  <section class="filmstrip" data-panel="filmstrip" aria-labelledby="film-h">
    <h3 id="film-h">Intermediates</h3>
    <p class="hint">x<sub>t</sub> and the predicted x<sub>0</sub> at about 10 evenly spaced steps; pick one to show it above.</p>
    <div id="film"></div>
  </section>

  <section class="schedule" data-panel="schedule" aria-labelledby="sch-h">
    <h3 id="sch-h">The schedule of this plan</h3>
    <p class="hint">ᾱ<sub>t</sub>, log-SNR and the noise σ<sub>t</sub> each step adds, for the sampler, steps and η or variance set above (no run needed); ticks along each axis mark the timesteps the plan visits.</p>
    <p class="mono" id="sch-caption"></p>
    <div class="sch-plots">
      <svg id="sch-abar" class="plot"></svg>
      <svg id="sch-snr" class="plot"></svg>
      <svg id="sch-sigma" class="plot"></svg>
    </div>
    <p class="hint" id="sch-legend"></p>
    <p class="hint wait" id="sch-wait">Shown once the model’s noise schedule has loaded.</p>
  </section>

  <section class="branches" data-panel="branches" aria-labelledby="br-h">
    <h3 id="br-h">Paths not taken</h3>
    <p class="hint">Go back to step k of the finished run, keep the x<sub>t</sub> it started from (first image) and draw fresh noise for the steps left: how much can the final image still change?</p>
    <div class="br-controls">
      <div class="field" id="br-lane-field" hidden>
        <label for="br-lane">Run</label>
        <select id="br-lane"></select>
      </div>
      <div class="field">
        <label for="br-k">Branch at</label>
        <input type="range" id="br-k" min="0" max="0" value="0" disabled>
        <output id="br-k-out" for="br-k"></output>
      </div>
      <fieldset class="seg">
        <legend>Branches</legend>
        <label><input type="radio" name="br-count" value="4" checked><span>4</span></label>
        <label><input type="radio" name="br-count" value="8"><span>8</span></label>
      </fieldset>
      <div class="buttons">
        <button type="button" id="br-run" disabled>Branch</button>
        <button type="button" id="br-redraw" disabled>Other noise</button>
        <button type="button" id="br-curve" disabled>Decided-at curve</button>
        <button type="button" id="br-stop" disabled>Stop</button>
      </div>
    </div>
    <p class="status" id="br-status" role="status" aria-live="polite"></p>
    <p class="note" id="br-eta0" hidden></p>
    <div class="br-results" id="br-results" hidden>
      <div class="br-variants" id="br-variants"></div>
      <figure class="br-std"><canvas id="br-std" class="pixel empty" role="img"></canvas><figcaption id="br-std-cap"></figcaption></figure>
    </div>
    <figure class="br-curve" id="br-curve-fig" hidden>
      <svg id="br-curve-plot" class="plot"></svg>
      <figcaption class="hint" id="br-curve-cap"></figcaption>
    </figure>
  </section>

  <section class="forward" data-panel="forward" aria-labelledby="fwd-h">
    <h3 id="fwd-h">Forward process q(x<sub>t</sub> | x<sub>0</sub>)</h3>
    <p class="hint">Training adds noise to a clean image: x<sub>t</sub> = √ᾱ<sub>t</sub> x<sub>0</sub> + √(1−ᾱ<sub>t</sub>) ε. Sampling runs this backwards.</p>
    <div class="fwd-body">
      <div class="field">
        <label for="fwd-source">Image x<sub>0</sub></label>
        <select id="fwd-source"></select>
      </div>
      <div class="field">
        <label for="fwd-t">t</label>
        <input type="range" id="fwd-t" min="0" max="999" step="1" value="250" aria-describedby="fwd-caption">
        <output id="fwd-t-out" for="fwd-t"></output>
      </div>
      <div class="fwd-images">
        <figure><canvas id="fwd-x0" class="pixel empty" role="img" aria-label="x_0, the clean image"></canvas><figcaption>x<sub>0</sub></figcaption></figure>
        <figure><canvas id="fwd-eps" class="pixel empty" role="img" aria-label="epsilon, the noise"></canvas><figcaption>ε</figcaption></figure>
        <figure><canvas id="fwd-xt" class="pixel empty" role="img" aria-label="x_t, the noised image"></canvas><figcaption>x<sub>t</sub></figcaption></figure>
      </div>
      <p class="mono" id="fwd-caption"></p>
      <svg id="fwd-plot" class="plot"></svg>
    </div>
    <p class="hint wait" id="fwd-wait">Shown once the model's noise schedule has loaded.</p>
  </section>

  <section class="invert ops" data-panel="invert" aria-labelledby="inv-h">
    <h3 id="inv-h">DDIM inversion: from an image back to its noise</h3>
    <p class="hint">DDIM with η = 0 maps x<sub>T</sub> to x<sub>0</sub> deterministically, so it can be run backwards: from an image to the x<sub>T</sub> that makes it. Running that x<sub>T</sub> forwards again shows how well the map inverts. <span id="inv-clip-note">Both directions run with x̂<sub>0</sub> clipping off, whatever the model’s setting, because clipping breaks that map (on emoji32 it raises the mean reconstruction error from 0.08 to 0.34); “Use this x<sub>T</sub>” turns clipping off for the run above too.</span></p>
    <div class="op-controls">
      <div class="field">
        <label for="inv-source">Image</label>
        <select id="inv-source"></select>
      </div>
      <div class="field" id="inv-file-field" hidden>
        <label for="inv-file">File</label>
        <input type="file" id="inv-file" accept="image/png,image/jpeg,image/webp">
      </div>
      <div class="field">
        <label for="inv-steps">Steps</label>
        <input type="number" id="inv-steps" min="1" max="1000" step="1" inputmode="numeric" placeholder="as above" aria-describedby="inv-steps-hint">
        <span class="hint" id="inv-steps-hint">(empty: the run’s steps)</span>
      </div>
      <div class="buttons">
        <button type="button" id="inv-run">Invert</button>
        <button type="button" id="inv-use" disabled>Use this x<sub>T</sub></button>
        <button type="button" id="inv-back" hidden>Back to the seed’s x<sub>T</sub></button>
      </div>
    </div>
    <p class="status op-status" id="inv-status" role="status" aria-live="polite"></p>
    <div class="op-images">
      <figure><canvas id="inv-x0" class="pixel empty" role="img" aria-label="the image x_0"></canvas><figcaption>x<sub>0</sub></figcaption></figure>
      <span class="op">→</span>
      <figure><canvas id="inv-xt" class="pixel empty" role="img" aria-label="its inverted x_T"></canvas><figcaption>inverted x<sub>T</sub></figcaption></figure>
      <span class="op">→</span>
      <figure><canvas id="inv-rec" class="pixel empty" role="img" aria-label="the reconstruction from x_T"></canvas><figcaption>DDIM η = 0 from it</figcaption></figure>
    </div>
    <p class="mono" id="inv-error"></p>
  </section>

  <section class="interpolate ops" data-panel="interpolate" aria-labelledby="lerp-h">
    <h3 id="lerp-h">Interpolation between two x<sub>T</sub></h3>
    <p class="hint">Frames whose x<sub>T</sub> moves along a great circle (spherical interpolation) from this seed’s noise to another’s, each sampled with DDIM η = 0: nearby noise gives nearby images.</p>
    <div class="op-controls">
      <div class="field">
        <label for="lerp-ends">Between</label>
        <select id="lerp-ends">
          <option value="seeds">this seed and another</option>
          <option value="inverted">the last two inverted images</option>
        </select>
      </div>
      <div class="field">
        <label for="lerp-seed">Other seed</label>
        <input type="number" id="lerp-seed" min="0" max="4294967295" step="1" inputmode="numeric">
      </div>
      <div class="field">
        <label for="lerp-frames">Frames</label>
        <input type="number" id="lerp-frames" min="2" max="16" step="1" inputmode="numeric">
      </div>
      <div class="buttons"><button type="button" id="lerp-run">Interpolate</button></div>
    </div>
    <p class="status op-status" id="lerp-status" role="status" aria-live="polite"></p>
    <div class="strip" id="lerp-strip"></div>
  </section>

  <section class="inpaint ops" data-panel="inpaint" aria-labelledby="inp-h">
    <h3 id="inp-h">Inpainting</h3>
    <p class="hint">Paint over part of the finished image; the painted region is sampled again while the rest is held to the image: at every step the known pixels are replaced by a draw from q(x<sub>t</sub> | x<sub>0</sub>) (RePaint). Resampling runs each step several times so the two parts agree.</p>
    <div class="op-controls">
      <div class="field" id="inp-image-field" hidden>
        <label for="inp-image">Image</label>
        <select id="inp-image"></select>
      </div>
      <div class="field">
        <label for="inp-brush">Brush</label>
        <input type="range" id="inp-brush" min="1" max="8" step="0.5" value="2.5">
      </div>
      <div class="field">
        <label for="inp-resample">Resample</label>
        <input type="range" id="inp-resample" min="1" max="10" step="1" value="1">
        <output id="inp-resample-out" for="inp-resample">1</output>
      </div>
      <div class="buttons">
        <button type="button" id="inp-clear">Clear</button>
        <button type="button" id="inp-invert">Invert mask</button>
        <button type="button" id="inp-run">Inpaint</button>
      </div>
    </div>
    <p class="status op-status" id="inp-status" role="status" aria-live="polite">Shown once a run has finished.</p>
    <div class="op-images">
      <figure><canvas id="inp-paint" class="pixel empty paint" role="img" aria-label="the image with the mask: paint here"></canvas><figcaption>paint here</figcaption></figure>
      <figure><canvas id="inp-original" class="pixel empty" role="img" aria-label="the original image"></canvas><figcaption>original</figcaption></figure>
      <span class="op">→</span>
      <figure><canvas id="inp-result" class="pixel empty" role="img" aria-label="the inpainted image"></canvas><figcaption>inpainted</figcaption></figure>
    </div>
  </section>

  <section class="share" data-show="full compact" aria-labelledby="share-h">
    <h3 id="share-h" data-show="full">Share and download</h3>
    <div class="buttons">
      <button type="button" id="copy-link" data-show="full">Copy link</button>
      <button type="button" id="dl-grid">Download image (PNG)</button>
      <button type="button" id="dl-film" data-show="full">Download filmstrip (PNG)</button>
    </div>
    <div data-show="full">
      <label for="snippet">Embed this playground (module script)</label>
      <textarea id="snippet" rows="8" readonly></textarea>
      <button type="button" id="copy-snippet">Copy</button>
      <label for="iframe-snippet">Embed with an iframe (for hosts that strip scripts)</label>
      <textarea id="iframe-snippet" rows="3" readonly></textarea>
      <button type="button" id="copy-iframe">Copy</button>
    </div>
  </section>
  <p class="meta hint" id="meta" data-show="full"></p>
</div>
`;

const LANE_HTML = /* html */ `
<figure class="lane">
  <canvas class="pixel empty" role="img"></canvas>
  <div class="placeholder"></div>
  <figcaption></figcaption>
</figure>
`;

/** The shadow root's content for a controls mode and the `panels` to show (panels.js). */
export function playgroundTemplate(mode, cssUrl, panels) {
  const t = document.createElement('template');
  t.innerHTML = HTML.replace('{{css}}', cssUrl);
  for (const node of t.content.querySelectorAll('[data-show]')) {
    if (!node.dataset.show.split(/\s+/).includes(mode)) node.remove();
  }
  for (const node of t.content.querySelectorAll('[data-panel]')) {
    if (panels.includes(node.dataset.panel)) continue;
    if (node.id === 'lanes') node.hidden = true;
    else node.remove();
  }
  return t.content;
}

/** One lane (a canvas with its caption) for the grid view. */
export function laneTemplate() {
  const t = document.createElement('template');
  t.innerHTML = LANE_HTML;
  return t.content.firstElementChild;
}
