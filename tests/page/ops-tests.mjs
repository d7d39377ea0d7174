// The page tests of issue 15's operations, on the CPU backend with few steps (one on WebGPU):
// DPM-Solver++ as a sampler and side by side (its count of network evaluations shown), DDIM
// inversion (x_T, the reconstruction and its error; "use this x_T" runs from it), the
// interpolation strip (its ends equal plain runs of the two seeds), inpainting (the unmasked
// pixels stay, the hole is filled; painting with touch and the mouse, brush, clear, invert mask,
// resampling, an image of a batch), the inversion's controls (its steps, no clipping and a small
// reconstruction error on the default model, back to the seed, the run's own image), the
// interpolation's controls (between seeds and between inverted examples), the URL round trip of
// the new state and the same state as attributes of embed.html's element. Registered by
// run.mjs; screenshots go to artifacts/.

import path from 'node:path';
import { ARTIFACTS, WEB_DIR, assert, eventCount, open, waitEvent } from './harness.mjs';

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

/** Waits until the address bar's query satisfies `test(URLSearchParams)` (urlWriter debounces). */
async function urlHas(page, what, test, timeout = 5000) {
  const src = test.toString();
  await page
    .waitForFunction((src) => new Function(`return (${src})`)()(new URLSearchParams(location.search)), src, { timeout, polling: 50 })
    .catch(() => {});
  assert(test(new URL(page.url()).searchParams), `the URL lacks ${what}: ${page.url()}`);
}

/** Sets a field's value as the reader would and fires `input` and `change`. */
function setField(page, sel, value) {
  return page.evaluate(
    ([el, sel, value]) => {
      const f = document.querySelector(el).shadowRoot.querySelector(sel);
      f.value = String(value);
      f.dispatchEvent(new Event('input', { bubbles: true }));
      f.dispatchEvent(new Event('change', { bubbles: true }));
    },
    [EL, sel, value],
  );
}

/** Runs `click()` and waits for panel `name` (invert | interpolate | inpaint) to show a new result. */
async function panelRunDone(page, name, click, timeout = 240000) {
  // Each result holds new tensors (a new object for invert and interpolate; inpaint's is copied on each call).
  await page.evaluate(([sel, name]) => {
    const r = document.querySelector(sel).panelState()[name];
    window.__prevResult = r && (r.out ?? r.images ?? r.xT);
  }, [EL, name]);
  await click();
  await page.waitForFunction(
    ([sel, name]) => {
      const el = document.querySelector(sel);
      const sec = el.shadowRoot.querySelector(`.${name}`);
      if (sec?.dataset.state === 'error') throw new Error(`${name}: ${sec.querySelector('.op-status')?.textContent}`);
      const r = el.panelState()[name];
      return sec?.dataset.state === 'done' && r && (r.out ?? r.images ?? r.xT) !== window.__prevResult;
    },
    [EL, name],
    { timeout, polling: 100 },
  );
}

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
    // The address bar follows the settings after a short debounce (controls.js urlWriter).
    await page.waitForFunction(() => /[?&]side=1/.test(location.search) && /[?&]compare=dpmpp2m-ddim/.test(location.search), null, { timeout: 5000 }).catch(() => {});
    assert(/[?&]compare=dpmpp2m-ddim/.test(page.url()) && /[?&]side=1/.test(page.url()), `the URL does not carry the comparison: ${page.url()}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'ops-side-dpmpp2m-ddim.png') });
    h.noErrors(page);
  });

  pageTest('DPM-Solver++ runs on WebGPU and shows its network evaluations [webgpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=webgpu&sampler=dpmpp2m&steps=4&seed=3&batch=1&panels=images`);
    const d = await done(page);
    assert(JSON.stringify(d.detail.evaluations) === '[4]', `evaluations ${JSON.stringify(d.detail.evaluations)}`);
    assert(/DPM-Solver\+\+ 4 steps \(4 network evaluations\)/.test(await text(page, '#status')), 'status');
    const canvases = await h.visibleCanvases(page);
    assert(canvases.length && canvases.every((c) => c.content), `canvases ${JSON.stringify(canvases)}`);
    const backend = await page.evaluate((sel) => document.querySelector(sel).dataset.backend, EL);
    assert(backend === 'webgpu', `ran on ${backend}`);
    h.noErrors(page);
  });

  pageTest('inversion: an example inverts to x_T with a reconstruction error, "use this x_T" runs from it; uploads [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddim&eta=0&steps=5&seed=3&batch=1&invert=Heart`);
    await done(page);
    await panelDone(page, 'invert');
    const r = await page.evaluate((sel) => {
      const el = document.querySelector(sel);
      const e = el.shadowRoot.querySelector('#inv-error');
      return { mean: Number(e.dataset.meanAbs), max: Number(e.dataset.maxAbs), text: e.textContent, source: el.panelState().invert.source };
    }, EL);
    assert(r.source === 'Heart' && Number.isFinite(r.mean) && r.mean > 0 && r.max >= r.mean && /mean \|x̂₀ − x₀\| = \d/.test(r.text), JSON.stringify(r));
    notes.push(`inversion of the Heart example, 5 DDIM steps: mean |error| ${r.mean.toFixed(4)}, max ${r.max.toFixed(4)}`);
    const shown = (await h.visibleCanvases(page)).filter((c) => c.id.startsWith('inv-'));
    assert(shown.length === 3 && shown.every((c) => c.content), `inversion canvases ${JSON.stringify(shown)}`);
    await page.locator(`${EL} .invert`).screenshot({ path: path.join(ARTIFACTS, 'ops-invert-heart.png') });
    // Use this x_T: the main run starts from it, and with DDIM eta = 0 at the same steps it
    // ends at the panel's reconstruction.
    const n = await eventCount(page);
    await page.locator(`${EL} #inv-use`).click();
    await done(page, n);
    assert((await maxDiff(page, 'el.initialSample(0)', 'el.panelState().invert.xT')) === 0, 'the run did not start from the inverted x_T');
    const rec = await maxDiff(page, 'el.lastImage()', 'el.panelState().invert.rec');
    assert(rec <= 1e-4, `the run from the inverted x_T differs from the reconstruction by ${rec}`);
    assert(/x_T inverted from the Heart example/.test(await text(page, '.lane figcaption')), 'the caption does not say where x_T came from');
    assert(await page.locator(`${EL} #inv-back`).isVisible(), 'no way back to the seed');
    // A file that is not an image: a clear message.
    await page.locator(`${EL} #inv-source`).selectOption('upload');
    await page.locator(`${EL} #inv-file`).setInputFiles({ name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not a png at all') });
    await page.waitForFunction((sel) => /could not be read as an image/.test(document.querySelector(sel).shadowRoot.querySelector('#inv-status').textContent), EL);
    // A real PNG (the page's still image, 512 px): downscaled to the model's size and inverted.
    const { readFileSync } = await import('node:fs');
    const png = readFileSync(path.join(WEB_DIR, 'fallback.png'));
    await page.locator(`${EL} #inv-file`).setInputFiles({ name: 'still.png', mimeType: 'image/png', buffer: png });
    await page.waitForFunction((sel) => /read and scaled/.test(document.querySelector(sel).shadowRoot.querySelector('#inv-status').textContent), EL);
    await page.locator(`${EL} #inv-run`).click();
    await page.waitForFunction((sel) => document.querySelector(sel).panelState().invert?.source === 'upload', EL, { timeout: 120000 });
    await panelDone(page, 'invert');
    h.noErrors(page);
  });

  pageTest('interpolation: N non-blank frames whose ends equal plain runs of the two seeds [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddim&eta=0&steps=4&seed=3&batch=1&lerp=9&frames=5`);
    await done(page);
    await panelDone(page, 'interpolate');
    const frames = await page.evaluate((sel) => document.querySelector(sel).shadowRoot.querySelectorAll('#lerp-strip canvas').length, EL);
    assert(frames === 5, `${frames} frames`);
    const blank = (await h.visibleCanvases(page)).filter((c) => !c.content);
    assert(!blank.length, `blank canvases ${JSON.stringify(blank)}`);
    const first = await maxDiff(page, 'el.lastImage()', 'el.panelState().interpolate.images.slice(0, el.panelState().interpolate.len)');
    assert(first <= 1e-4, `frame 0 differs from the plain run of seed 3 by ${first}`);
    await page.evaluate((sel) => {
      const r = document.querySelector(sel).panelState().interpolate;
      window.__lastFrame = r.images.slice(4 * r.len, 5 * r.len);
    }, EL);
    await page.locator(`${EL} .interpolate`).screenshot({ path: path.join(ARTIFACTS, 'ops-interpolate.png') });
    const n = await eventCount(page);
    await page.evaluate((sel) => document.querySelector(sel).setState({ seed: 9 }), EL);
    await done(page, n);
    const last = await maxDiff(page, 'el.lastImage()', 'window.__lastFrame');
    assert(last <= 1e-4, `frame 4 differs from the plain run of seed 9 by ${last}`);
    notes.push(`interpolation ends vs plain runs: ${first}, ${last}`);
    h.noErrors(page);
  });

  pageTest('inpainting: painting with touch, the unmasked pixels stay, the hole is filled; mask in the URL [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddpm&steps=5&seed=3&batch=1&panels=images+inpaint`);
    await done(page);
    const paint = page.locator(`${EL} #inp-paint`);
    await paint.waitFor({ state: 'visible' });
    // An empty mask is refused with a message.
    await page.locator(`${EL} #inp-run`).click();
    assert(/mask is empty/.test(await text(page, '#inp-status')), await text(page, '#inp-status'));
    const box = await paint.boundingBox();
    for (const [fx, fy] of [[0.4, 0.4], [0.5, 0.45], [0.6, 0.5]]) await page.touchscreen.tap(box.x + fx * box.width, box.y + fy * box.height);
    // A drag as touch pointer events.
    await paint.evaluate((c) => {
      const r = c.getBoundingClientRect();
      const ev = (type, f) => c.dispatchEvent(new PointerEvent(type, { bubbles: true, pointerId: 7, pointerType: 'touch', isPrimary: true, clientX: r.left + f * r.width, clientY: r.top + 0.7 * r.height }));
      ev('pointerdown', 0.2);
      for (let f = 0.25; f <= 0.8; f += 0.05) ev('pointermove', f);
      ev('pointerup', 0.8);
    });
    const painted = Number(await page.locator(`${EL} .inpaint`).getAttribute('data-painted'));
    assert(painted > 20, `${painted} pixels painted by touch`);
    await page.locator(`${EL} #inp-run`).click();
    await panelDone(page, 'inpaint');
    const r = await page.evaluate((sel) => {
      const { x0, out, mask } = document.querySelector(sel).panelState().inpaint;
      const plane = mask.length;
      let keep = 0;
      let hole = 0;
      let holeN = 0;
      for (let i = 0; i < x0.length; i++) {
        const d = Math.abs(x0[i] - out[i]);
        if (mask[i % plane]) {
          hole += d;
          holeN++;
        } else keep = Math.max(keep, d);
      }
      return { keep, hole: hole / holeN, holeN };
    }, EL);
    assert(r.keep <= 1e-5, `unmasked pixels changed by up to ${r.keep}`);
    assert(r.hole > 0.02, `the hole did not change (mean ${r.hole})`);
    notes.push(`inpainting DDPM 5 steps: unmasked max |change| ${r.keep}, hole mean |change| ${r.hole.toFixed(3)} over ${r.holeN} values`);
    const blank = (await h.visibleCanvases(page)).filter((c) => !c.content);
    assert(!blank.length, `blank canvases ${JSON.stringify(blank)}`);
    await page.locator(`${EL} .inpaint`).screenshot({ path: path.join(ARTIFACTS, 'ops-inpaint.png') });
    // DPM-Solver++ cannot inpaint: the button says why.
    await page.evaluate((sel) => document.querySelector(sel).setState({ sampler: 'dpmpp2m' }), EL);
    assert((await page.locator(`${EL} #inp-run`).isDisabled()) && /needs DDPM or DDIM/.test(await text(page, '#inp-status')), 'inpainting not disabled for DPM-Solver++');
    await page.evaluate((sel) => document.querySelector(sel).setState({ sampler: 'ddpm' }), EL);
    // The mask is in the URL: a new page fills the same hole with the same result.
    await page.waitForFunction(() => /[?&]mask=/.test(location.search) && /[?&]sampler=ddpm/.test(location.search));
    const url = page.url();
    const again = await open(context, url);
    await done(again);
    await panelDone(again, 'inpaint');
    const same = await again.evaluate(([sel, before]) => {
      const out = document.querySelector(sel).panelState().inpaint.out;
      let m = 0;
      for (let i = 0; i < out.length; i++) m = Math.max(m, Math.abs(out[i] - before[i]));
      return m;
    }, [EL, await page.evaluate((sel) => Array.from(document.querySelector(sel).panelState().inpaint.out), EL)]);
    assert(same <= 1e-5, `the inpainting from the URL's mask differs by ${same}`);
    h.noErrors(page);
    h.noErrors(again);
  }, { hasTouch: true, viewport: { width: 1100, height: 900 } });

  pageTest('the new state round-trips through the URL and the element\'s attributes [cpu]', async ({ context, base }) => {
    const q = 'backend=cpu&sampler=ddim&steps=3&seed=4&batch=1&side=1&compare=dpmpp2m-ddpm&invert=Smiley&lerp=11&frames=3&mask=rdw.o.dw&resample=3';
    const page = await open(context, `${base}index.html?${q}`);
    const s = await page.evaluate((sel) => document.querySelector(sel).getState(), EL);
    assert(s.compare === 'dpmpp2m-ddpm' && s.side && s.invert === 'Smiley' && s.lerp === 11 && s.frames === 3 && s.mask === 'rdw.o.dw' && s.resample === 3, JSON.stringify(s));
    await done(page);
    await page.waitForFunction(() => /compare=dpmpp2m-ddpm/.test(location.search) && /invert=Smiley/.test(location.search) && /lerp=11&frames=3/.test(location.search));
    const snippet = await page.locator(`${EL} #snippet`).inputValue();
    for (const a of ['compare="dpmpp2m-ddpm"', 'invert="Smiley"', 'lerp="11" frames="3"', 'mask="rdw.o.dw"', 'resample="3"']) assert(snippet.includes(a), `the embed snippet lacks ${a}`);
    // Both panels act on it once the run is done.
    await panelDone(page, 'invert');
    await panelDone(page, 'interpolate');
    await page.screenshot({ path: path.join(ARTIFACTS, 'ops-full-1100.png'), fullPage: true });
    h.noErrors(page);
  }, { viewport: { width: 1100, height: 900 } });

  pageTest('clip x̂0 (issue 17): off, clip and recompute each change the image, show in the caption and the URL; DPM-Solver++ disables it [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddim&steps=5&seed=3&batch=1`);
    await done(page);
    const image = () => page.evaluate((sel) => Array.from(document.querySelector(sel).lastImage()), EL);
    const images = { checkpoint: await image() };
    for (const clip of ['off', 'recompute']) {
      const from = await eventCount(page);
      await page.locator(`${EL} #clip`).selectOption(clip);
      const d = await done(page, from);
      assert(d.detail.settings.clip === clip, `dp-done settings: ${JSON.stringify(d.detail.settings)}`);
      images[clip] = await image();
      assert(new URL(page.url()).searchParams.get('clip') === clip, `URL ${page.url()}`);
    }
    const caption = await page.locator(`${EL} #lanes figcaption`).first().innerText();
    assert(/ε̂ recomputed/.test(caption), `caption: ${caption}`);
    const diff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    const [offVsClip, recVsClip] = [diff(images.off, images.checkpoint), diff(images.recompute, images.checkpoint)];
    assert(offVsClip > 1e-3 && recVsClip > 1e-3, `clipping changed nothing: off ${offVsClip}, recompute ${recVsClip}`);
    await page.locator(`${EL} input[name="sampler"][value="dpmpp2m"]`).check({ force: true });
    const disabled = await page.evaluate((sel) => document.querySelector(sel).shadowRoot.querySelector('#clip').disabled, EL);
    assert(disabled, 'the clip choice stays enabled for DPM-Solver++');
    notes.push(`[clip] DDIM 5, seed 3: max |off - checkpoint| ${offVsClip.toFixed(3)}, max |recompute - checkpoint| ${recVsClip.toFixed(3)}`);
  });

  pageTest('inversion controls: #inv-steps in the URL, clipping off with a small reconstruction error on the default model, use and back, invert=sample [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddim&eta=0&steps=4&seed=3&batch=1`);
    await done(page);
    assert(/clipping off/.test(await text(page, '#inv-clip-note')), 'the panel does not say that inversion runs unclipped');
    // 50 steps, typed: a setting (URL, getState) that the next inversion uses.
    await setField(page, '#inv-steps', 50);
    await urlHas(page, 'invsteps=50', (q) => q.get('invsteps') === '50');
    assert((await page.evaluate((sel) => document.querySelector(sel).getState().invsteps, EL)) === 50, 'getState().invsteps');
    // Sunset at 50 steps, measured here: mean error 0.055 unclipped, 0.41 with the checkpoint's clipping.
    await page.locator(`${EL} #inv-source`).selectOption('Sunset');
    await panelRunDone(page, 'invert', () => page.locator(`${EL} #inv-run`).click());
    const r = await page.evaluate((sel) => {
      const el = document.querySelector(sel);
      const e = el.shadowRoot.querySelector('#inv-error');
      const res = el.panelState().invert;
      return { steps: res.steps, mean: res.meanAbs, max: res.maxAbs, text: e.textContent, shown: Number(e.dataset.meanAbs) };
    }, EL);
    // With the checkpoint's clip_sample (the old behaviour) the map breaks: the model card
    // measures a mean error of 0.34 at 50 steps on held-out emoji, 0.078 without clipping.
    assert(r.steps === 50 && r.shown === r.mean && /not clipped/.test(r.text), JSON.stringify(r));
    assert(r.mean < 0.15, `the reconstruction error on the default model is ${r.mean.toFixed(4)} (max ${r.max.toFixed(4)}), not below 0.15`);
    notes.push(`inversion of the Sunset example, 50 DDIM steps, unclipped, emoji32: mean |error| ${r.mean.toFixed(4)}, max ${r.max.toFixed(4)}`);
    // Use this x_T: the run starts from it with clipping off (as the reconstruction); back: the seed's x_T again.
    let n = await eventCount(page);
    await page.locator(`${EL} #inv-use`).click();
    let d = await done(page, n);
    assert(d.detail.settings.clip === 'off', `the run from the inverted x_T clips: ${JSON.stringify(d.detail.settings)}`);
    assert((await maxDiff(page, 'el.initialSample(0)', 'el.panelState().invert.xT')) === 0, 'the run did not start from the inverted x_T');
    await urlHas(page, 'clip=off', (q) => q.get('clip') === 'off');
    n = await eventCount(page);
    await page.locator(`${EL} #inv-back`).click();
    await done(page, n);
    const back = await maxDiff(page, 'el.initialSample(0)', 'el.panelState().invert.xT');
    assert(typeof back === 'number' && back > 0.1, `after "back" the run still starts from the inverted x_T (${back})`);
    assert(!(await page.locator(`${EL} #inv-back`).isVisible()), '"back" is still shown');
    assert(!/inverted from/.test(await text(page, '.lane figcaption')), 'the caption still says x_T was inverted');
    // The run's own image 0 as the source: in the URL, and the panel's x0 is that image.
    await page.locator(`${EL} #inv-source`).selectOption('sample');
    await panelRunDone(page, 'invert', () => page.locator(`${EL} #inv-run`).click());
    const same = await maxDiff(page, 'el.panelState().invert.x0', 'el.lastImage()');
    const own = await page.evaluate((sel) => document.querySelector(sel).panelState().invert, EL);
    assert(same === 0 && own.source === 'sample', `invert=sample inverted something else (${same})`);
    notes.push(`inversion of the run's own image (clip off, 4 steps), 50 DDIM steps: mean |error| ${own.meanAbs.toFixed(4)}`);
    await urlHas(page, 'invert=sample', (q) => q.get('invert') === 'sample' && q.get('invsteps') === '50');
    h.noErrors(page);
  });

  pageTest('interpolation through the controls: other seed and frames, then between two inverted examples (lerp=inv:…, its ends the reconstructions) [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddim&eta=0&steps=3&seed=3&batch=1&invsteps=4`);
    await done(page);
    // A bad frame count is refused with a message.
    await setField(page, '#lerp-frames', 1);
    await page.locator(`${EL} #lerp-run`).click();
    assert(/Frames must be a whole number from 2 to 16/.test(await text(page, '#lerp-status')), await text(page, '#lerp-status'));
    await setField(page, '#lerp-seed', 21);
    await setField(page, '#lerp-frames', 3);
    await panelRunDone(page, 'interpolate', () => page.locator(`${EL} #lerp-run`).click());
    let r = await page.evaluate((sel) => {
      const el = document.querySelector(sel);
      const res = el.panelState().interpolate;
      return { seeds: res.seeds, n: el.shadowRoot.querySelectorAll('#lerp-strip canvas').length, s: el.getState() };
    }, EL);
    assert(JSON.stringify(r.seeds) === '[3,21]' && r.n === 3 && r.s.lerp === 21 && r.s.frames === 3, JSON.stringify(r));
    await urlHas(page, 'lerp=21&frames=3', (q) => q.get('lerp') === '21' && q.get('frames') === '3');
    // Two inverted examples (4 steps), then the strip between them.
    const recs = {};
    for (const name of ['Heart', 'Smiley']) {
      await page.locator(`${EL} #inv-source`).selectOption(name);
      await panelRunDone(page, 'invert', () => page.locator(`${EL} #inv-run`).click());
      recs[name] = await page.evaluate((sel) => Array.from(document.querySelector(sel).panelState().invert.rec), EL);
    }
    const option = await page.evaluate((sel) => document.querySelector(sel).shadowRoot.querySelector('#lerp-ends option[value="inverted"]').disabled, EL);
    assert(!option, 'the inverted ends stay disabled after two inversions');
    await page.locator(`${EL} #lerp-ends`).selectOption('inverted');
    assert(await page.locator(`${EL} #lerp-seed`).isDisabled(), 'the other seed is enabled between inverted images');
    await panelRunDone(page, 'interpolate', () => page.locator(`${EL} #lerp-run`).click());
    await urlHas(page, 'lerp=inv:Heart,Smiley', (q) => q.get('lerp') === 'inv:Heart,Smiley' && q.get('frames') === '3' && q.get('invsteps') === '4');
    const ends = await page.evaluate(([sel, recs]) => {
      const res = document.querySelector(sel).panelState().interpolate;
      const d = (k, rec) => rec.reduce((m, v, i) => Math.max(m, Math.abs(v - res.images[k * res.len + i])), 0);
      return { first: d(0, recs.Heart), last: d(2, recs.Smiley), steps: res.steps, clip: res.clip, examples: res.examples };
    }, [EL, recs]);
    assert(ends.first <= 1e-4 && ends.last <= 1e-4, `the strip's ends differ from the reconstructions: ${JSON.stringify(ends)}`);
    assert(ends.steps === 4 && ends.clip === 'off' && JSON.stringify(ends.examples) === '["Heart","Smiley"]', JSON.stringify(ends));
    notes.push(`interpolation between inverted Heart and Smiley (4 steps): ends vs reconstructions ${ends.first}, ${ends.last}`);
    const strip = await page.evaluate((sel) => Array.from(document.querySelector(sel).panelState().interpolate.images), EL);
    // The link alone: a new page inverts both examples itself and draws the same strip.
    const again = await open(context, page.url());
    await done(again);
    await panelDone(again, 'interpolate');
    const a = await again.evaluate(([sel, strip]) => {
      const el = document.querySelector(sel);
      const res = el.panelState().interpolate;
      let m = 0;
      for (let i = 0; i < strip.length; i++) m = Math.max(m, Math.abs(res.images[i] - strip[i]));
      return { m, ends: el.shadowRoot.querySelector('#lerp-ends').value, n: res.images.length };
    }, [EL, strip]);
    assert(a.ends === 'inverted' && a.n === strip.length && a.m <= 1e-4, `the strip from the link: ${JSON.stringify(a)}`);
    h.noErrors(page);
    h.noErrors(again);
  }, { viewport: { width: 1100, height: 900 } });

  pageTest('inpainting controls: mouse painting, brush, clear, invert mask, resample 2, image 2 of a batch of 4, DDIM [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddim&eta=0&steps=4&seed=3&batch=4`);
    await done(page);
    const paint = page.locator(`${EL} #inp-paint`);
    await paint.scrollIntoViewIfNeeded();
    assert(await page.locator(`${EL} #inp-image`).isVisible(), 'no image choice at batch 4');
    const options = await page.evaluate((sel) => document.querySelector(sel).shadowRoot.querySelector('#inp-image').options.length, EL);
    assert(options === 4, `${options} images to choose from`);
    await page.locator(`${EL} #inp-image`).selectOption('2');
    const painted = () => page.evaluate((sel) => Number(document.querySelector(sel).shadowRoot.querySelector('.inpaint').dataset.painted), EL);
    const stroke = async () => {
      const box = await paint.boundingBox();
      await page.mouse.move(box.x + 0.3 * box.width, box.y + 0.5 * box.height);
      await page.mouse.down();
      for (let f = 0.3; f <= 0.7; f += 0.05) await page.mouse.move(box.x + f * box.width, box.y + 0.5 * box.height);
      await page.mouse.up();
    };
    await setField(page, '#inp-brush', 1);
    await stroke();
    const thin = await painted();
    assert(thin > 5, `${thin} pixels painted with the mouse`);
    await page.locator(`${EL} #inp-clear`).click();
    assert((await painted()) === 0, 'Clear left pixels painted');
    await urlHas(page, 'no mask after Clear', (q) => !q.has('mask'));
    await setField(page, '#inp-brush', 4);
    await stroke();
    const thick = await painted();
    assert(thick > 2 * thin, `a brush of 4 painted ${thick} pixels, one of 1 ${thin}`);
    await page.locator(`${EL} #inp-invert`).click();
    assert((await painted()) === 32 * 32 - thick, `Invert mask: ${await painted()} of ${32 * 32} for ${thick} painted`);
    await page.locator(`${EL} #inp-invert`).click();
    assert((await painted()) === thick, 'inverting twice did not give the mask back');
    await urlHas(page, 'the mask', (q) => /^[br]/.test(q.get('mask') ?? ''));
    await setField(page, '#inp-resample', 2);
    await urlHas(page, 'resample=2', (q) => q.get('resample') === '2');
    assert((await text(page, '#inp-resample-out')) === '2', 'the resample count is not shown');
    await panelRunDone(page, 'inpaint', () => page.locator(`${EL} #inp-run`).click());
    const r = await page.evaluate((sel) => {
      const el = document.querySelector(sel);
      const { x0, out, mask, image, sampler, evaluations } = el.panelState().inpaint;
      const last = el.lastImage();
      const len = x0.length;
      let fromImage2 = 0;
      for (let i = 0; i < len; i++) fromImage2 = Math.max(fromImage2, Math.abs(x0[i] - last[2 * len + i]));
      const plane = mask.length;
      let keep = 0;
      let hole = 0;
      let holeN = 0;
      for (let i = 0; i < len; i++) {
        const d = Math.abs(x0[i] - out[i]);
        if (mask[i % plane]) {
          hole += d;
          holeN++;
        } else keep = Math.max(keep, d);
      }
      return { image, sampler, evaluations, fromImage2, keep, hole: hole / holeN, status: el.shadowRoot.querySelector('#inp-status').textContent };
    }, EL);
    assert(r.image === 2 && r.fromImage2 === 0, `not image 2 of the batch: ${JSON.stringify(r)}`);
    assert(r.sampler === 'ddim' && /DDIM/.test(r.status) && /resample 2/.test(r.status), JSON.stringify(r));
    assert(r.evaluations > 4, `resample 2 ran ${r.evaluations} network evaluations for 4 steps (no resampling)`);
    assert(r.keep <= 1e-5 && r.hole > 0.02, `unmasked change ${r.keep}, hole mean change ${r.hole}`);
    notes.push(`inpainting DDIM 4 steps, resample 2, image 2 of 4, mouse: ${r.evaluations} network evaluations, unmasked max |change| ${r.keep}, hole ${r.hole.toFixed(3)}`);
    h.noErrors(page);
  }, { viewport: { width: 1100, height: 900 } });

  pageTest('embed.html: the op attributes (compare, invert, invsteps, lerp=inv, frames, mask, resample) give the matching panel state [cpu]', async ({ context, base }) => {
    const q = 'backend=cpu&steps=3&seed=4&batch=1&side=1&compare=dpmpp2m-ddpm&invert=Smiley&invsteps=3&lerp=inv:Heart,Sunset&frames=3&mask=rdw.o.dw&resample=2&loading=eager&controls=full&panels=images+invert+interpolate+inpaint';
    const page = await open(context, `${base}embed.html?${q}`);
    const attrs = await page.evaluate((sel) => Object.fromEntries([...document.querySelector(sel).attributes].map((a) => [a.name, a.value])), EL);
    for (const [k, v] of Object.entries({ compare: 'dpmpp2m-ddpm', invert: 'Smiley', invsteps: '3', lerp: 'inv:Heart,Sunset', frames: '3', mask: 'rdw.o.dw', resample: '2', 'side-by-side': '' })) {
      assert(attrs[k] === v, `attribute ${k}=${JSON.stringify(attrs[k])}, wanted ${JSON.stringify(v)}`);
    }
    await done(page);
    await Promise.all(['invert', 'interpolate', 'inpaint'].map((n) => panelDone(page, n)));
    const st = await page.evaluate((sel) => {
      const el = document.querySelector(sel);
      const $ = (s) => el.shadowRoot.querySelector(s);
      const p = el.panelState();
      return {
        compare: $('#compare')?.value,
        lanes: [...el.shadowRoot.querySelectorAll('.lane figcaption')].map((f) => f.textContent),
        source: $('#inv-source').value,
        invSteps: $('#inv-steps').value,
        inverted: [p.invert.source, p.invert.steps],
        ends: $('#lerp-ends').value,
        lerp: [p.interpolate.examples, p.interpolate.steps, $('#lerp-strip').querySelectorAll('canvas').length],
        painted: Number($('.inpaint').dataset.painted ?? p.inpaint.mask.reduce((a, m) => a + m, 0)),
        maskOnes: p.inpaint.mask.reduce((a, m) => a + m, 0),
        resample: [$('#inp-resample').value, $('#inp-resample-out').value],
        inpSampler: p.inpaint.sampler,
        inpEvaluations: p.inpaint.evaluations,
      };
    }, EL);
    assert(st.compare === 'dpmpp2m-ddpm' && st.lanes.length === 2 && /DPM-Solver\+\+/.test(st.lanes[0]) && /DDPM/.test(st.lanes[1]), `comparison: ${JSON.stringify(st)}`);
    assert(st.source === 'Smiley' && st.invSteps === '3' && JSON.stringify(st.inverted) === '["Smiley",3]', `inversion: ${JSON.stringify(st)}`);
    assert(st.ends === 'inverted' && JSON.stringify(st.lerp) === '[["Heart","Sunset"],3,3]', `interpolation: ${JSON.stringify(st)}`);
    assert(st.maskOnes === 24 && st.resample.join() === '2,2' && st.inpSampler === 'ddpm' && st.inpEvaluations > 3, `inpainting: ${JSON.stringify(st)}`);
    h.noErrors(page);
  }, { viewport: { width: 1100, height: 900 } });

  pageTest('the op panels fit a 360 px phone [cpu]', async ({ context, base }) => {
    const page = await open(context, `${base}index.html?backend=cpu&sampler=ddim&steps=3&seed=4&batch=1&invert=Heart&lerp=5&frames=7`);
    await done(page);
    await panelDone(page, 'invert');
    await panelDone(page, 'interpolate');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `the page scrolls sideways by ${overflow} px at 360 px`);
    for (const name of ['invert', 'interpolate', 'inpaint']) await page.locator(`${EL} .${name}`).screenshot({ path: path.join(ARTIFACTS, `ops-${name}-360.png`) });
    h.noErrors(page);
  }, { viewport: { width: 360, height: 780 }, deviceScaleFactor: 2, hasTouch: true });
}
