/*
 * A minimal reader of HL7 v2 ER7 text, independent of the hl7v2 package, used to check that what we rendered reads
 * back as exactly the values the rules produced (the library must not re-encode a value), and by every other ER7
 * reader of ours (PAS events, ACK text). It decodes every escape sequence our writer writes (HL7 v2.4 §2.7):
 * the delimiters \F\ \S\ \T\ \R\ \E\ and hexadecimal data \Xhh..\ (bytes of the message character set, UTF-8 —
 * how line breaks and tabs travel in FT/TX fields, see hl7-control-characters.ts); and, for text a PAS writes, the
 * FT line break \.br\ (as CR LF) and the highlighting switches \H\ \N\ (dropped). Anything else is left as it is.
 */

const DELIMITERS: Record<string, string> = { F: '|', S: '^', T: '&', R: '~', E: '\\' };

/** Undoes HL7 escape sequences (see the module comment). */
export function unescapeHl7(s: string): string {
  return s.replace(/\\([FSTREHN]|X(?:[0-9A-Fa-f]{2})+|\.br)\\/g, (_, seq: string) => {
    if (seq.length === 1) {return DELIMITERS[seq] ?? '';}
    if (seq === '.br') {return '\r\n';}
    return Buffer.from(seq.slice(1), 'hex').toString('utf8');
  });
}

/** A parsed segment: `fields[n]` is field n split into repetitions → components → sub-components (all 1-based). */
export interface ParsedSegment {
  readonly type: string;
  readonly fields: string[][][][];
}

/** `unescapeHl7`, without the regular expression for the usual text that has no escape character. */
const unescapeValue = (s: string): string => (s.includes('\\') ? unescapeHl7(s) : s);

/** Field text → repetitions → components → sub-components (index 0 of each level unused, as in ParsedSegment). */
export function splitField(ft: string): string[][][] {
  const field: string[][][] = [[]];
  for (const repText of ft.split('~')) {
    const rep: string[][] = [[]];
    for (const compText of repText.split('^')) {
      const comp = [''];
      for (const sub of compText.split('&')) {comp.push(unescapeValue(sub));}
      rep.push(comp);
    }
    field.push(rep);
  }
  return field;
}

/** Splits ER7 text (segments separated by CR) with the default delimiters `|^~\\&`. */
export function readHl7(text: string): ParsedSegment[] {
  const out: ParsedSegment[] = [];
  for (const line of text.split('\r')) {
    if (line.length === 0) {continue;}
    const raw = line.split('|');
    const type = raw[0];
    const fields: string[][][][] = [];
    if (type === 'MSH') {
      // MSH-1 is the field separator itself, so MSH field n is raw[n-1]; other segments' field n is raw[n].
      fields[1] = [[], [[], ['', '|']]];
      if (raw.length > 1) {fields[2] = [[], [[], ['', raw[1]]]];}
      for (let n = 3; n <= raw.length; n++) {fields[n] = splitField(raw[n - 1]);}
    } else {
      for (let n = 1; n < raw.length; n++) {fields[n] = splitField(raw[n]);}
    }
    out.push({ type, fields });
  }
  return out;
}

/** Value at field.rep.component.sub (1-based), '' when absent. */
export function valueAt(seg: ParsedSegment, field: number, rep: number, comp: number, sub: number): string {
  return seg.fields[field]?.[rep]?.[comp]?.[sub] ?? '';
}
