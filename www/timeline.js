// The timeline of a run: the recorded frames of every lane (frames.js), the "Timeline" slider
// that scrubs through them once the run is over (all lanes together, by fraction of the run),
// and the filmstrip (filmstrip.js) whose thumbnails jump to a frame. During a run the slider
// is disabled and the filmstrip fills as the steps arrive.

import { Filmstrip } from './filmstrip.js';

export class Timeline {
  /**
   * `slider`/`output`: the range input and its <output> (both may be null in compact/none
   * modes); `film`: the filmstrip container (may be null).
   * `draw(lane, rgba, width, height, what)` shows a frame in a lane's canvas;
   * `view()` is the view shown ('sample' = x_t, 'x0' = predicted x_0);
   * `setView(view)` switches it (a filmstrip thumbnail of the other row was picked);
   * `onShow(frame)` hears the first lane's frame each time the slider shows one.
   */
  constructor({ slider, output, film, draw, view, setView, onShow = () => {} }) {
    this.slider = slider;
    this.output = output;
    this.draw = draw;
    this.view = view;
    this.onShow = onShow;
    this.lanes = [];
    this.done = false;
    this.filmstrip = film
      ? new Filmstrip(film, (index, pickedView) => {
          if (this.slider) this.slider.value = String(index);
          if (this.view() !== pickedView) setView(pickedView);
          this.show();
        })
      : null;
    slider?.addEventListener('input', () => this.show());
  }

  /** A new run of `lanes` ({name, recorder}; kept as `this.lanes`, the current/last run) starts: nothing to scrub until it is done. */
  start(lanes) {
    this.lanes = lanes;
    this.done = false;
    if (this.slider) {
      this.slider.disabled = true;
      this.slider.max = '0';
      this.slider.value = '0';
    }
    if (this.output) this.output.value = 'after the run';
    this.filmstrip?.reset(lanes.map((l) => l.name));
  }

  /** The run was abandoned (model change, device lost): the recorded frames no longer apply. */
  abandon() {
    this.done = false;
  }

  /** `lane` recorded a frame after step `i`; a filmstrip step gets its thumbnails. */
  recorded(lane, i) {
    const { frames, film, width, height } = lane.recorder;
    if (film.includes(i) && frames.at(-1)?.i === i) {
      this.filmstrip?.add(this.lanes.indexOf(lane), frames.at(-1), frames.length - 1, width, height);
    }
  }

  /** The run is over: the slider scrubs, starting at the last frame. */
  finish() {
    this.done = true;
    const recorder = this.lanes[0]?.recorder;
    const count = recorder?.frames.length ?? 0;
    if (this.slider) {
      this.slider.max = String(Math.max(0, count - 1));
      this.slider.value = this.slider.max;
      this.slider.disabled = count < 2;
      this.slider.setAttribute('aria-valuetext', recorder?.frames.at(-1)?.label ?? '');
    }
    if (this.output) this.output.value = recorder?.frames.at(-1)?.label ?? '';
    this.filmstrip?.enable();
    this.#mark();
  }

  /** The view changed: after a run, redraw the chosen frame in the new view. */
  redraw() {
    if (this.done) this.show();
  }

  /** Draws every lane's frame at the slider's position (the last one without a slider). */
  show() {
    const max = Number(this.slider?.max ?? 0);
    const fraction = this.slider && max > 0 ? Number(this.slider.value) / max : 1;
    const view = this.view();
    let label = '';
    let first = null;
    for (const lane of this.lanes) {
      const f = lane.recorder.atFraction(fraction);
      if (!f) continue;
      first ??= f;
      const what = f.i < 0 ? 'x_T (the starting noise)' : `${view === 'x0' ? 'predicted x_0' : 'x_t'} after ${f.label} (t = ${f.t})`;
      this.draw(lane, f[view], lane.recorder.width, lane.recorder.height, what);
      label = f.t === null ? f.label : `${f.label}, t = ${f.t}`;
    }
    if (this.output) this.output.value = label;
    this.slider?.setAttribute('aria-valuetext', label);
    this.#mark();
    if (first) this.onShow(first);
  }

  /** After a run: shows the frame recorded after step `i`, if there is one (true if so). */
  seekStep(i) {
    const frames = this.lanes[0]?.recorder.frames ?? [];
    const k = frames.findIndex((f) => f.i === i);
    if (!this.done || k < 0 || !this.slider) return false;
    this.slider.value = String(k);
    this.show();
    return true;
  }

  #mark() {
    this.filmstrip?.mark(this.done && this.slider ? Number(this.slider.value) : null, this.view());
  }
}
