// Which views a playground shows: the element's `panels` attribute, a list of names separated by
// spaces or commas, e.g. panels="anatomy" for a post about the Bayes view. Without it, the
// controls mode decides: full shows every panel, compact and none the images only.

export const PANELS = ['images', 'anatomy', 'filmstrip', 'schedule', 'branches', 'forward', 'invert', 'interpolate', 'inpaint'];

const BY_MODE = { full: PANELS, compact: ['images'], none: ['images'] };

/**
 * The panels to show for attribute text `text` (null: absent) in controls mode `mode`, in the
 * page's order. Unknown names are ignored with a console warning that lists the known ones; a
 * list with no known name falls back to the mode's default.
 */
export function parsePanels(text, mode) {
  const fallback = BY_MODE[mode] ?? PANELS;
  if (text === null || text === undefined) return [...fallback];
  const names = String(text).toLowerCase().split(/[\s,]+/).filter(Boolean);
  const unknown = names.filter((n) => !PANELS.includes(n));
  if (unknown.length) {
    console.warn(`diffusion-playground: ignoring panels ${unknown.map((n) => JSON.stringify(n)).join(', ')} (known: ${PANELS.join(', ')})`);
  }
  const known = PANELS.filter((p) => names.includes(p));
  return known.length ? known : [...fallback];
}
