/*
 * The console's only templating: a tagged template that HTML-escapes every interpolated value unless it is a Html
 * fragment made by this same tag (or `raw`, for the few trusted constants). Arrays are joined. Nothing else renders
 * HTML, so a value from a message (a name in a Bundle, an ACK text) cannot become markup.
 */

/** A fragment of HTML that is already safe (escaped or trusted). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) {
    return '';
  }
  if (value instanceof Html) {
    return value.text;
  }
  if (Array.isArray(value)) {
    return (value as readonly Value[]).map(render).join('');
  }
  return escapeHtml(String(value));
}

/** html`<td>${name}</td>`: every ${} is escaped unless it is Html. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Html(out);
}

/** Trusted markup (constants in this folder only, never data). */
export const raw = (text: string): Html => new Html(text);
