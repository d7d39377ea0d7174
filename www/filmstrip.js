// The filmstrip: for each sampler of a run, a row of x_t and a row of predicted x_0 thumbnails
// at ~10 evenly spaced steps. Each thumbnail is a button that shows its frame in the main view.

import { drawRgba } from './render.js';

export class Filmstrip {
  /** `container` holds the strips; `onPick(frameIndex, view)` runs when a thumbnail is chosen. */
  constructor(container, onPick) {
    this.container = container;
    this.onPick = onPick;
    this.boxes = [];
  }

  /** Empties the strip for a new run of `names` (one per sampler). */
  reset(names) {
    this.container.replaceChildren();
    this.boxes = names.map((name) => {
      const box = document.createElement('div');
      box.className = 'film-lane';
      box.innerHTML = `<h4></h4><div class="film-steps"><span class="row-label"></span></div>
        <div class="film-row" data-view="sample"><span class="row-label">x<sub>t</sub></span></div>
        <div class="film-row" data-view="x0"><span class="row-label">pred. x<sub>0</sub></span></div>`;
      box.querySelector('h4').textContent = name;
      box.querySelector('h4').hidden = names.length < 2;
      this.container.append(box);
      return box;
    });
  }

  /** Adds `frame` ({label, t, sample, x0}, number `index` in its recorder) to sampler `lane`'s strip. */
  add(lane, frame, index, width, height) {
    const box = this.boxes[lane];
    if (!box) return;
    const label = document.createElement('span');
    label.textContent = `t=${frame.t}`;
    box.querySelector('.film-steps').append(label);
    for (const row of box.querySelectorAll('.film-row')) {
      const view = row.dataset.view;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'film-frame';
      button.disabled = true;
      button.dataset.frame = String(index);
      button.setAttribute('aria-label', `Show ${view === 'x0' ? 'predicted x_0' : 'x_t'} at ${frame.label} (t = ${frame.t})`);
      const canvas = document.createElement('canvas');
      canvas.className = 'pixel';
      drawRgba(canvas, frame[view], width, height);
      button.append(canvas);
      button.addEventListener('click', () => this.onPick(index, view));
      row.append(button);
    }
  }

  /** Thumbnails become choosable once the run is over. */
  enable() {
    for (const b of this.container.querySelectorAll('.film-frame')) b.disabled = false;
  }

  /** Highlights the thumbnail of frame `index` in `view` (none when index is null). */
  mark(index, view) {
    for (const b of this.container.querySelectorAll('.film-frame')) {
      const on = index !== null && b.dataset.frame === String(index) && b.parentElement.dataset.view === view;
      b.classList.toggle('current', on);
      b.setAttribute('aria-pressed', String(on));
    }
  }
}
