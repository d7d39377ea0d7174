// embed.html?sampler=ddim&steps=50&...&controls=compact[&loading=eager]: one playground filling
// the frame, for hosts that allow iframes but strip scripts. Settings come from the query string,
// and so do `controls` and `panels` (e.g. &panels=anatomy). Like the element, it starts once the
// frame comes near the viewport unless loading=eager.

import './diffusion-playground.js';
import { URL_KEYS } from './url-state.js';

const params = new URLSearchParams(location.search);
const el = document.createElement('diffusion-playground');
for (const key of URL_KEYS) {
  if (!params.has(key)) continue;
  if (key === 'side') {
    if (params.get('side') !== '0') el.setAttribute('side-by-side', '');
  } else {
    el.setAttribute(key, params.get(key));
  }
}
el.setAttribute('controls', params.get('controls') || 'compact');
if (params.has('loading')) el.setAttribute('loading', params.get('loading'));
if (params.has('panels')) el.setAttribute('panels', params.get('panels'));
el.setAttribute('fill', '');
document.body.append(el);
