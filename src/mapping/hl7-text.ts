/*
 * A minimal reader of HL7 v2 ER7 text, independent of the hl7v2 package, used to check that what we rendered reads
 * back as exactly the values the rules produced (the library must not re-encode a value, and escaping of
 * `| ^ ~ \ &` must round-trip: HL7 v2.4 §2.7 escape sequences \F\ \S\ \T\ \R\ \E\).
 */

/** Undoes HL7 escape sequences for the standard delimiters (`\F\ \S\ \T\ \R\ \E\`). */
export function unescapeHl7(s: string): string {
  return s.replace(/\\([FSTRE])\\/g, (_, c: string) => ({ F: '|', S: '^', T: '&', R: '~', E: '\\' })[c] ?? '');
}

/** A parsed segment: `fields[n]` is field n split into repetitions → components → sub-components (all 1-based). */
export interface ParsedSegment {
  readonly type: string;
  readonly fields: string[][][][];
}

/** Splits ER7 text (segments separated by CR) with the default delimiters `|^~\&`. */
export function readHl7(text: string): ParsedSegment[] {
  return text
    .split('\r')
    .filter((s) => s.length > 0)
    .map((line) => {
      const raw = line.split('|');
      const type = raw[0];
      // MSH-1 is the field separator itself, so MSH field n is raw[n-1]; other segments' field n is raw[n].
      const fieldTexts = type === 'MSH' ? ['', '|', ...raw.slice(1)] : raw;
      const fields: string[][][][] = [];
      fieldTexts.forEach((ft, n) => {
        if (n === 0) {return;}
        if (type === 'MSH' && (n === 1 || n === 2)) {
          fields[n] = [[], [[], ['', ft]]];
          return;
        }
        fields[n] = [[], ...ft.split('~').map((rep) => [[], ...rep.split('^').map((comp) => ['', ...comp.split('&').map(unescapeHl7)])])];
      });
      return { type, fields };
    });
}

/** Value at field.rep.component.sub (1-based), '' when absent. */
export function valueAt(seg: ParsedSegment, field: number, rep: number, comp: number, sub: number): string {
  return seg.fields[field]?.[rep]?.[comp]?.[sub] ?? '';
}
