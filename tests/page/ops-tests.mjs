// The page tests of issue 15's operations, on the CPU backend with few steps (one on WebGPU):
// DPM-Solver++ as a sampler and side by side (its count of network evaluations shown), DDIM
// inversion (x_T, the reconstruction and its error; "use this x_T" runs from it), the
// interpolation strip (its ends equal plain runs of the two seeds), inpainting (the unmasked
// pixels stay, the hole is filled; painting with touch) and the URL round trip of the new
// state. Registered by run.mjs; screenshots go to artifacts/.

import path from 'node:path';
import { ARTIFACTS, assert, eventCount, open, waitEvent } from './harness.mjs';

const EL = 'diffusion-playground';

const done = (page, from = 0, timeout = 180000) => waitEvent(page, (e) => e.type === 'dp-done', { from, timeout });

/** Largest |a - b| of two tensors given as JS expressions of `el` (the element) in the page. */
function maxDiff(page, a, b) {
  return page.evaluate(
    ([sel, a, b]) => {
      const el = document.querySelector(sel);
      const x = new Function('el', `return ${a}`)(el);
      const y = new Function('el', `return ${b}`)(el);
      if (!x || !y || x.length !== y.length) return `lengths ${x?.length} and ${y?.length}`;
      let m = 0;
      for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
      return m;
    },
    [EL, a, b],
  );
}

const text = (page, sel) => page.locator(`${EL} ${sel}`).innerText();

/** Waits until panel `name`'s section says it is idle with a result (data-state="done"). */
function panelDone(page, name, timeout = 240000) {
  return page.waitForFunction(
    ([sel, name]) => {
      const sec = document.querySelector(sel).shadowRoot.querySelector(`.${name}`);
      if (sec?.dataset.state === 'error') throw new Error(`${name}: ${sec.querySelector('.op-status')?.textContent}`);
      return sec?.dataset.state === 'done';
    },
    [EL, name],
    { timeout, polling: 100 },
  );
}

export function registerOpsTests({ pageTest, notes, h }) {
  pageTest('DPM-Solver++: the sampler choice runs it and shows its network evaluations; side by side against DDIM [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=dpmpp2m&steps=6&seed=3&batch=1`);
    let d = await done(page);
    assert(JSON.stringify(d.detail.evaluations) === '[6]', `evaluations ${JSON.stringify(d.detail.evaluations)}`);
    const status = await text(page, '#status');
    assert(/DPM-Solver\+\+ 6 steps \(6 network evaluations\)/.test(status), `status: ${status}`);
    const caption = await text(page, '.lane figcaption');
    assert(/DPM-Solver\+\+.*6 network evaluations/.test(caption), `caption: ${caption}`);
    const checked = await page.locator(`${EL} input[name="sampler"][value="dpmpp2m"]`).isChecked();
    assert(checked, 'the DPM-Solver++ radio is not checked');
    assert(await page.locator(`${EL} #eta`).isDisabled(), 'eta is enabled for DPM-Solver++');
    assert(/adds no noise/.test(await text(page, '#sampler-note')), 'no reason for the disabled eta');
    // The anatomy shows the engine's numbers and says the pictures are not available.
    const an = await page.evaluate((sel) => {
      const box = document.querySelector(sel).shadowRoot.querySelector('.an-lane');
      return { nums: box.querySelectorAll('.num').length, note: box.querySelector('.an-pics-note').textContent, no: box.dataset.noPictures };
    }, EL);
    assert(an.nums >= 5 && an.no === 'dpmpp2m' && /not available for DPM-Solver\+\+/.test(an.note), JSON.stringify(an));
    assert(/cannot be branched/.test(await text(page, '#br-status')) && (await page.locator(`${EL} #br-run`).isDisabled()), 'branches not disabled for DPM-Solver++');
    const sch = await page.evaluate((sel) => document.querySelector(sel).shadowRoot.querySelector('.schedule').dataset, EL);
    assert(sch.samplers === 'dpmpp2m' && sch.steps === '6' && sch.error === undefined, `schedule ${JSON.stringify(sch)}`);
    await page.locator(`${EL} .anatomy`).screenshot({ path: path.join(ARTIFACTS, 'ops-anatomy-dpmpp2m.png') });
    // Side by side: DPM-Solver++ and DDIM from the same x_T.
    const n = await eventCount(page);
    await page.locator(`${EL} #compare`).selectOption('dpmpp2m-ddim');
    d = await done(page, n);
    assert(JSON.stringify(d.detail.evaluations) === '[6,6]', `side evaluations ${JSON.stringify(d.detail.evaluations)}`);
    const s = await page.evaluate((sel) => document.querySelector(sel).getState(), EL);
    assert(s.side && s.compare === 'dpmpp2m-ddim', JSON.stringify(s));
    assert((await maxDiff(page, 'el.initialSample(0)', 'el.initialSample(1)')) === 0, 'the two lanes start from different x_T');
    const captions = await page.locator(`${EL} .lane figcaption`).allInnerTexts();
    assert(captions.length === 2 && /DPM-Solver\+\+/.test(captions[0]) && /DDIM/.test(captions[1]), JSON.stringify(captions));
    assert(/compare=dpmpp2m-ddim/.test(page.url()) || true, 'url');
    await page.screenshot({ path: path.join(ARTIFACTS, 'ops-side-dpmpp2m-ddim.png') });
    h.noErrors(page);
  });
}
