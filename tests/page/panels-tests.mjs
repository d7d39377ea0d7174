// The page tests of the panels that read a run in the posts' terms (issue 14), on the CPU
// backend with few steps: the step anatomy (every number shown is the engine's, for DDIM and
// DDPM, live and when scrubbing; its pictures are drawn), the schedule panel (follows the
// controls with no run, shows the engine's plan), paths not taken (DDPM branches differ, DDIM
// eta = 0 branches coincide, the decided-at curve is drawn) and the `panels` attribute (just
// the anatomy, compact at 360 px). Registered by run.mjs; screenshots go to artifacts/.

import path from 'node:path';
import { evenly } from '../../www/run-loop.js';
import { ARTIFACTS, assert, eventCount, open, waitEvent } from './harness.mjs';

const EL = 'diffusion-playground';

/** The wasm module the page loaded (already initialised) and the model's scheduler config text. */
const ENGINE_SIDE = `
  const el = document.querySelector('${EL}');
  // The folder of the playground's module (index.html loads it, embed.html through embed.js).
  const base = new URL('.', document.querySelector('script[src$="diffusion-playground.js"], script[src$="embed.js"]').src);
  const wasm = await import(new URL('pkg/diffusion_playground.js', base).href);
  const model = el.getState().model;
  const r = await fetch(new URL(model + '/scheduler_config.json', base));
  const json = r.ok ? await r.text() : undefined;
`;

/**
 * Every number the anatomy shows, per lane: {sampler, step, nums: [{key, value, text}]}, and
 * the engine's stepAnatomy for that lane's step (the free function on the model's scheduler
 * config: the same Rust function the session calls).
 */
function anatomyShown(page) {
  return page.evaluate(
    new Function(`return (async () => {${ENGINE_SIDE}
      const s = el.getState();
      return [...el.shadowRoot.querySelectorAll('.an-lane')].map((box) => {
        const step = Number(box.dataset.step);
        const sampler = box.dataset.sampler;
        const engine = wasm.stepAnatomy(json, sampler, s.steps, sampler === 'ddim' ? s.eta : 0, s.variance, step);
        const nums = [...box.querySelectorAll('.num')].map((n) => ({ key: n.dataset.key, value: n.dataset.value, text: n.textContent }));
        return { sampler, step, picturesStep: box.dataset.picturesStep, nums, engine };
      });
    })()`),
  );
}

/** The anatomy shows exactly the engine's numbers (data-value) and their formatted text. */
async function checkAnatomyNumbers(page, what) {
  const lanes = await anatomyShown(page);
  assert(lanes.length >= 1, `${what}: no anatomy lane`);
  let checked = 0;
  for (const lane of lanes) {
    assert(Number.isInteger(lane.step) && lane.step >= 0, `${what}: lane step ${lane.step}`);
    assert(lane.nums.length >= 15, `${what}: only ${lane.nums.length} numbers shown`);
    for (const n of lane.nums) {
      if (n.key === 'index1') {
        assert(Number(n.value) === lane.step + 1, `${what}: step number ${n.value} for step ${lane.step}`);
        continue;
      }
      const want = lane.engine[n.key];
      assert(typeof want === 'number', `${what}: the engine has no number ${n.key}`);
      assert(n.value === String(want), `${what} step ${lane.step}: ${n.key} shows ${n.value}, the engine has ${want}`);
      const shown = Number(n.text.replace(/\s+/g, '').replace(/^\+/, '').replace(/^−/, '-'));
      const tol = Math.abs(want) >= 1e-3 ? 5e-5 * Math.abs(want) : 5e-4 * Math.abs(want);
      assert(Math.abs(shown - want) <= tol, `${what}: ${n.key} reads "${n.text}" for ${want}`);
      checked++;
    }
  }
  return { lanes, checked };
}

/** The anatomy's pictures: every shown canvas has content; the zero terms say so instead. */
function anatomyPictures(page) {
  return page.evaluate((sel) => {
    const out = [];
    for (const box of document.querySelector(sel).shadowRoot.querySelectorAll('.an-lane')) {
      for (const c of box.querySelectorAll('canvas')) {
        const shown = !c.classList.contains('empty') && c.getBoundingClientRect().width > 0;
        let content = false;
        if (shown) {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          for (let i = 4; i < d.length; i += 4) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) content = true;
        }
        out.push({ part: c.dataset.part, shown, content, zero: Boolean(c.closest('figure').querySelector('.zero:not([hidden])')) });
      }
    }
    return out;
  }, EL);
}

async function checkPictures(page, what) {
  const pics = await anatomyPictures(page);
  const bad = pics.filter((p) => (p.shown && !p.content) || (!p.shown && !p.zero));
  assert(pics.length >= 7 && !bad.length, `${what}: pictures ${JSON.stringify(bad.length ? bad : pics)}`);
  return pics;
}

function panelState(page) {
  return page.evaluate((sel) => JSON.parse(JSON.stringify(document.querySelector(sel).panelState())), EL);
}

/** The branch variants' pixels (one array per canvas) and the std map's mean. */
function branchPixels(page) {
  return page.evaluate((sel) => {
    const root = document.querySelector(sel).shadowRoot;
    return {
      variants: [...root.querySelectorAll('#br-variants canvas[data-branch]')].map((c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)),
      meanStd: Number(root.querySelector('#br-std').dataset.meanStd),
      eta0: !root.querySelector('#br-eta0').hidden,
    };
  }, EL);
}

async function waitIdleBranches(page, pred, timeout = 120000) {
  await page.waitForFunction(
    ([sel, src]) => {
      const el = document.querySelector(sel);
      const sec = el.shadowRoot.querySelector('.branches');
      return sec.dataset.busy === 'false' && new Function('r', `return (${src})(r)`)(el.panelState().branches);
    },
    [EL, pred.toString()],
    { timeout, polling: 100 },
  );
}

const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Registers the tests. `h`: run.mjs's page helpers {visibleCanvases, noErrors}. */
export function registerPanelTests({ pageTest, notes, h }) {
  pageTest('step anatomy shows the engine\'s numbers and the update\'s pictures, live and when scrubbing (DDIM, DDPM) [cpu]', async ({ context, base }) => {
    // Which step the anatomy shows at each dp-step (the run is live: the step just taken).
    await context.addInitScript((sel) => {
      window.__anLive = [];
      document.addEventListener('dp-step', (e) => {
        const box = document.querySelector(sel)?.shadowRoot.querySelector('.an-lane');
        window.__anLive.push([e.detail.i, box ? Number(box.dataset.step) : null, document.querySelector(sel).dataset.status]);
      }, true);
    }, EL);
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddim&steps=20&eta=0.5&seed=3&batch=1`);
    await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
    const live = await page.evaluate(() => window.__anLive);
    // Live: it follows the run, painting the newest step at most every 100 ms (anatomy-panel.js),
    // so at a step's event it shows that step or an earlier one, never going back; a 20-step
    // run of ~20 ms steps gets a few paints (two at the least on a fast machine).
    const shownSteps = live.map(([, shown]) => shown).filter((x) => x !== null && !Number.isNaN(x));
    const follows = live.every(([i, shown, status], k) => status === 'running' && (shown === null || Number.isNaN(shown) || shown <= i) && (k === 0 || !(shown < (live[k - 1][1] ?? -1))));
    assert(live.length === 20 && follows && new Set(shownSteps).size >= 2, `live anatomy: ${JSON.stringify(live)}`);
    // After the run: the last step, its numbers and pictures.
    let r = await checkAnatomyNumbers(page, 'DDIM 20 last step');
    assert(r.lanes[0].step === 19 && r.lanes[0].picturesStep === '19', `after the run the anatomy shows step ${r.lanes[0].step}`);
    await checkPictures(page, 'DDIM 20 last step');
    // Scrub: the timeline's first frame (x_T) shows step 1; a middle frame its own step.
    const timeline = page.locator(`${EL} #timeline`);
    await timeline.focus();
    await page.keyboard.press('Home');
    r = await checkAnatomyNumbers(page, 'DDIM 20 at x_T');
    assert(r.lanes[0].step === 0, `at x_T the anatomy shows step ${r.lanes[0].step}`);
    for (let k = 0; k < 8; k++) await page.keyboard.press('ArrowRight');
    r = await checkAnatomyNumbers(page, 'DDIM 20 scrubbed');
    assert(r.lanes[0].step === 7, `8 frames on, the anatomy shows step ${r.lanes[0].step}`);
    const pics = await checkPictures(page, 'DDIM 20 step 8');
    assert(pics.filter((p) => p.shown).length === 7, `a middle DDIM step with eta 0.5 draws all 7 pictures: ${JSON.stringify(pics)}`);
    // The anatomy's own step buttons move the timeline too.
    await page.locator(`${EL} #an-next`).click();
    r = await checkAnatomyNumbers(page, 'DDIM 20 next');
    assert(r.lanes[0].step === 8 && /step 9\/20/.test(await page.locator(`${EL} #timeline-out`).innerText()), `next: step ${r.lanes[0].step}`);
    await page.locator(`${EL} .anatomy`).screenshot({ path: path.join(ARTIFACTS, 'anatomy-ddim20.png') });

    // DDPM with the posterior variance, 150 steps: the recorder keeps 100, so some steps' pictures
    // are recomputed by replaying the run from the x_t kept before them. Step i is such a step
    // and step i + 1 a kept one: the replayed x_{t-1} of step i must be the x_t step i + 1 ran
    // on in the run itself.
    const n = await eventCount(page);
    await page.evaluate((sel) => document.querySelector(sel).setState({ sampler: 'ddpm', steps: 150, variance: 'fixed_small' }), EL);
    await waitEvent(page, (e) => e.type === 'dp-done', { from: n, timeout: 180000 });
    r = await checkAnatomyNumbers(page, 'DDPM 150 last step');
    assert(r.lanes[0].sampler === 'ddpm' && r.lanes[0].step === 149, `DDPM: ${r.lanes[0].sampler} step ${r.lanes[0].step}`);
    await checkPictures(page, 'DDPM 150 last step');
    const kept = new Set(evenly(150, 100));
    const i = [...Array(150).keys()].find((j) => j > 20 && !kept.has(j) && kept.has(j + 1));
    const picture = (part) => page.evaluate(([sel, part]) => {
      const c = document.querySelector(sel).shadowRoot.querySelector(`.an-lane canvas[data-part="${part}"]`);
      return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
    }, [EL, part]);
    const goTo = async (step) => {
      await page.locator(`${EL} #an-step`).fill(String(step + 1));
      await page.locator(`${EL} #an-step`).press('Enter');
      await page.waitForFunction(([sel, s]) => document.querySelector(sel).shadowRoot.querySelector('.an-lane').dataset.picturesStep === String(s), [EL, step], { timeout: 60000 });
    };
    await goTo(i + 1);
    const xtOfNext = await picture('xt');
    await goTo(i);
    r = await checkAnatomyNumbers(page, `DDPM 150 step ${i + 1} (replayed)`);
    await checkPictures(page, `DDPM 150 step ${i + 1} (replayed)`);
    assert(same(await picture('prev'), xtOfNext), `the replayed x_(t-1) of step ${i + 1} is not the x_t step ${i + 2} ran on`);
    notes.push(`step anatomy: ${r.checked} numbers of DDPM 150 step ${i + 1} (replayed) equal the engine's`);
    await page.locator(`${EL} .anatomy`).screenshot({ path: path.join(ARTIFACTS, 'anatomy-ddpm150.png') });
    h.noErrors(page);
  });

  pageTest('the schedule panel follows the controls without a run and shows the engine\'s plan [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddim&steps=5&eta=0.3&seed=1&batch=1`);
    await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
    const check = (change) =>
      page.evaluate(
        new Function('change', `return (async () => {${ENGINE_SIDE}
          const before = window.__dp.length;
          el.setState(change);
          // Read at once, in the same task as the change: no run step can have happened.
          const sec = el.shadowRoot.querySelector('.schedule');
          const s = el.getState();
          const sampler = s.sampler;
          const plan = wasm.schedulePlan(json, sampler, s.steps, sampler === 'ddim' ? s.eta : 0, s.variance);
          const dots = (id, cls) => [...sec.querySelectorAll(id + ' .' + cls + ' circle')].map((c) => [Number(c.dataset.x), c.dataset.value]);
          return {
            stepsShown: sec.dataset.steps,
            steps: s.steps,
            eventsBetween: window.__dp.length - before,
            status: el.dataset.status,
            rug: [...sec.querySelectorAll('#sch-sigma .rug line')].length,
            sigma: dots('#sch-sigma', 'run'),
            abar: dots('#sch-abar', 'visited'),
            snr: dots('#sch-snr', 'visited'),
            want: {
              t: Array.from(plan.timesteps),
              sigma: Array.from(plan.sigma).map(String),
              abar: Array.from(plan.timesteps).map((t) => String(plan.alphasCumprod[t])),
              snr: Array.from(plan.timesteps).map((t) => String(plan.logSnr[t])),
            },
          };
        })()`),
        change,
      );
    for (const change of [{ eta: 0.8, steps: 8 }, { sampler: 'ddpm', variance: 'fixed_large', steps: 12 }, { variance: 'fixed_small' }]) {
      const r = await check(change);
      const what = JSON.stringify(change);
      assert(r.eventsBetween === 0 && r.stepsShown === String(r.steps) && r.rug === r.steps, `${what}: shows ${r.stepsShown} steps (${r.rug} ticks) for ${r.steps}`);
      for (const key of ['sigma', 'abar', 'snr']) {
        const got = r[key];
        assert(got.length === r.want.t.length, `${what}: ${got.length} ${key} points for ${r.want.t.length} steps`);
        got.forEach(([t, v], i) => assert(t === r.want.t[i] && v === r.want[key][i], `${what}: ${key} at t = ${t} shows ${v}, the engine has ${r.want[key][i]} at t = ${r.want.t[i]}`));
      }
    }
    await page.locator(`${EL} .schedule`).screenshot({ path: path.join(ARTIFACTS, 'schedule-ddpm12.png') });
    h.noErrors(page);
  });

  pageTest('paths not taken: DDPM branches differ, DDIM eta = 0 branches coincide, the decided-at curve is drawn [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddpm&steps=8&seed=5&batch=4`);
    await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
    const br = (sel) => page.locator(`${EL} ${sel}`);
    assert(await br('#br-eta0').isHidden(), 'the eta = 0 note shows under DDPM');
    await br('#br-run').click();
    await waitIdleBranches(page, (r) => r.branch !== null);
    let px = await branchPixels(page);
    let st = await panelState(page);
    assert(px.variants.length === 4 && st.branches.branch.count === 4, `${px.variants.length} variants`);
    for (let a = 0; a < 4; a++) for (let b = a + 1; b < 4; b++) assert(!same(px.variants[a], px.variants[b]), `DDPM branches ${a} and ${b} are identical`);
    assert(px.meanStd > 1e-3 && px.meanStd === st.branches.branch.meanStd, `DDPM spread ${px.meanStd}`);
    assert(await br('#br-variants canvas[data-run]').count() === 1, 'the run\'s own image is not shown next to its branches');
    const canvases = await h.visibleCanvases(page);
    const blank = canvases.filter((c) => !c.content);
    assert(!blank.length, `blank canvases: ${JSON.stringify(blank)}`);
    // The decided-at curve: one point per kept step (8 here), spread falling to 0 at the last
    // step (t = 0 adds no noise).
    await br('#br-curve').click();
    await waitIdleBranches(page, (r) => r.curve.length === 8, 240000);
    st = await panelState(page);
    const curve = st.branches.curve;
    const dots = await page.evaluate((sel) => [...document.querySelector(sel).shadowRoot.querySelectorAll('#br-curve-plot .run circle')].map((c) => Number(c.dataset.value)), EL);
    assert(dots.length === 8 && dots.every((v, i) => v === curve[i].meanStd), `curve dots ${JSON.stringify(dots)} vs ${JSON.stringify(curve)}`);
    assert(curve[0].meanStd > curve.at(-1).meanStd && curve.at(-1).meanStd === 0, `curve ${JSON.stringify(curve)}`);
    notes.push(`decided-at curve, DDPM 8 steps, 4 branches: ${curve.map((p) => `k=${p.k + 1}: ${p.meanStd.toFixed(3)}`).join(', ')}`);
    await br('.branches').screenshot({ path: path.join(ARTIFACTS, 'branches-ddpm8.png') });

    // DDIM with eta = 0: the page says why, and 8 branches coincide exactly.
    const n = await eventCount(page);
    await page.evaluate((sel) => document.querySelector(sel).setState({ sampler: 'ddim', eta: 0, steps: 6 }), EL);
    await waitEvent(page, (e) => e.type === 'dp-done', { from: n, timeout: 120000 });
    await br('label:has(input[name="br-count"][value="8"])').click();
    await br('#br-run').click();
    await waitIdleBranches(page, (r) => r.branch !== null && r.branch.count === 8);
    px = await branchPixels(page);
    assert(px.eta0 && /η = 0.*no noise.*same path/.test(await br('#br-eta0').innerText()), 'no eta = 0 explanation');
    assert(px.variants.length === 8 && px.variants.every((v) => same(v, px.variants[0])), 'DDIM eta = 0 branches differ');
    assert(px.meanStd === 0, `DDIM eta = 0 spread ${px.meanStd}`);
    await br('.branches').screenshot({ path: path.join(ARTIFACTS, 'branches-ddim-eta0.png') });
    h.noErrors(page);
  });

  pageTest('panels="anatomy" embeds just the anatomy; controls="compact" stays small at 360 px [cpu]', async ({ context, base }) => {
    const postUrl = `${base}blog/bayes.html`;
    await context.route(postUrl, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>The Bayes view</title>
          <script type="module" src="../diffusion-playground.js"></script></head>
          <body style="margin:0;padding:8px"><p>Replace x<sub>0</sub> by the network's estimate:</p>
          <diffusion-playground sampler="ddpm" steps="6" seed="2" batch="1" controls="compact" panels="anatomy" backend="cpu"></diffusion-playground></body></html>`,
      }),
    );
    const page = await open(context, postUrl);
    await waitEvent(page, (e) => e.type === 'dp-done', { timeout: 120000 });
    const parts = await page.evaluate((sel) => {
      const el = document.querySelector(sel);
      const q = (s) => Boolean(el.shadowRoot.querySelector(s));
      return { panels: el.panels, anatomy: q('.anatomy'), others: ['.schedule', '.branches', '.forward', '.filmstrip', '#variance-field'].filter(q), lanesHidden: el.shadowRoot.querySelector('#lanes').hidden };
    }, EL);
    assert(parts.anatomy && !parts.others.length && parts.lanesHidden && JSON.stringify(parts.panels) === '["anatomy"]', JSON.stringify(parts));
    const r = await checkAnatomyNumbers(page, 'embedded DDPM 6');
    assert(r.lanes[0].sampler === 'ddpm' && r.lanes[0].step === 5, `embedded: ${r.lanes[0].sampler} step ${r.lanes[0].step}`);
    await checkPictures(page, 'embedded DDPM 6');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `the post scrolls sideways by ${overflow} px at 360 px`);
    const height = await page.locator(EL).evaluate((el) => el.getBoundingClientRect().height);
    await page.screenshot({ path: path.join(ARTIFACTS, 'embed-anatomy-360.png'), fullPage: true });
    notes.push(`panels="anatomy" controls="compact" at 360 px: ${Math.round(height)} px tall`);
    // Changing the attribute rebuilds the element with the new panels.
    const m = await eventCount(page);
    await page.evaluate((sel) => document.querySelector(sel).setAttribute('panels', 'images schedule'), EL);
    await waitEvent(page, (e) => e.type === 'dp-done', { from: m, timeout: 120000 });
    const after = await page.evaluate((sel) => {
      const root = document.querySelector(sel).shadowRoot;
      return { anatomy: Boolean(root.querySelector('.anatomy')), schedule: root.querySelector('.schedule')?.dataset.steps, lanes: !root.querySelector('#lanes').hidden };
    }, EL);
    assert(!after.anatomy && after.schedule === '6' && after.lanes, JSON.stringify(after));
    const canvases = await h.visibleCanvases(page);
    assert(canvases.length >= 1 && canvases.every((c) => c.content), `canvases: ${JSON.stringify(canvases)}`);
    h.noErrors(page);
    // The iframe page takes panels from its query.
    const frame = await open(context, `${base}embed.html?backend=cpu&sampler=ddim&steps=3&seed=4&panels=anatomy`);
    await waitEvent(frame, (e) => e.type === 'dp-done', { timeout: 120000 });
    const inFrame = await frame.evaluate((sel) => document.querySelector(sel).panels, EL);
    assert(JSON.stringify(inFrame) === '["anatomy"]', `embed.html panels: ${JSON.stringify(inFrame)}`);
    await checkAnatomyNumbers(frame, 'embed.html DDIM 3');
    h.noErrors(frame);
  }, { viewport: { width: 360, height: 780 }, deviceScaleFactor: 2 });
}
