/*
 * HL7 v2 shown as ops read it: one segment per line, each field hover-labelled from the HL7 dictionary of the
 * message's version (MSH-12; the ITK-profiled v2.4 by default), e.g. "PID-3 Patient Identifier List".
 */
import { dictionaryFor } from '../mapping/hl7-dictionary.js';
import { html, type Html } from './html.js';

export function hl7Html(text: string): Html {
  const segments = text.split(/\r\n|\r|\n/).filter((s) => s.length > 0);
  const msh = segments.find((s) => s.startsWith('MSH'));
  const sep = msh?.[3] ?? '|';
  const version = msh ? (msh.split(sep)[11] ?? '').split('^')[0] : '';
  const dict = dictionaryFor(version || '2.4') ?? dictionaryFor('2.4');
  const lines = segments.map((segment) => {
    const parts = segment.split(sep);
    const name = parts[0] ?? '';
    const def = dict?.segments[name];
    // MSH-1 is the field separator itself, so MSH's n-th part is MSH-(n+1).
    const offset = name === 'MSH' ? 1 : 0;
    const fields = parts.slice(1).map((value, i) => {
      const n = i + 1 + offset;
      const desc = def?.fields[n]?.desc;
      return html`<span class="sep">${sep}</span><span class="f" title="${name}-${n}${desc ? ` ${desc}` : ''}">${value}</span>`;
    });
    return html`<div class="seg"><span class="sn" title="${def?.desc ?? name}">${name}</span>${fields}</div>`;
  });
  return html`<pre class="hl7">${lines}</pre>`;
}

/** JSON as nested collapsible blocks (the first two levels open). */
export function jsonTree(value: unknown, depth = 0, key?: string): Html {
  const label = key === undefined ? '' : html`<span class="k">${key}</span>: `;
  if (value === null || typeof value !== 'object') {
    return html`<div class="leaf">${label}<span class="v">${JSON.stringify(value)}</span></div>`;
  }
  const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value as Record<string, unknown>);
  // A Bundle entry is labelled by its resource's type, so the tree reads as a list of resources when folded.
  const resource = (value as { resourceType?: string; resource?: { resourceType?: string } });
  const summary = Array.isArray(value) ? `[${entries.length}]` : resource.resourceType ?? (resource.resource?.resourceType ? `entry: ${resource.resource.resourceType}` : `{${entries.length}}`);
  return html`<details${depth < 2 ? html` open` : ''}><summary>${label}<span class="t">${summary}</span></summary>${entries.map(([k, v]) => jsonTree(v, depth + 1, k))}</details>`;
}
