/*
 * How text with control characters travels in HL7 v2 ER7 (HL7 v2.4 §2.7 "Use of escape sequences in text fields").
 * A FHIR string may hold line feeds, carriage returns and tabs (FHIR R4 §2.24.0.1 string: "[ \r\n\t\S]+"); a raw CR
 * in ER7 ends the segment, so none of them may be written as they are. The rule, by the data type of the position:
 *
 *  - FT and TX (formatted and plain text, e.g. NTE-3): every line break (CR LF, CR, LF, NEL, LS, PS) becomes CR LF
 *    and travels as the hexadecimal escape `\X0D0A\` (§2.7.3 "Hexadecimal": allowed in TX, FT and CF fields); a tab or
 *    any other C0 character travels as `\Xhh\` too. A PAS reads the text back line by line, exactly.
 *  - every other type (ST, ID, IS, the components of XPN, XAD, CE, …): §2.7 allows only the delimiter escapes there,
 *    so each line break, tab or other control character becomes one space. A name or address line keeps its words.
 *  - C1 characters (U+0080–U+009F) are not text in UTF-8 (MSH-18 UNICODE) and hl7v2 would write them as single
 *    bytes `\X85\` that are not UTF-8: each becomes one space in every type (NEL is a line break, above).
 *
 * Writing is hl7v2's (hl7-writer.ts, its `hl7Escape`: delimiters as \F\ \S\ \T\ \R\ \E\, C0 runs as \Xhh..\); this
 * module gives every value the form it travels in before it is written, so the round-trip check (hl7-validate.ts)
 * compares the text read back with the value as carried.
 */
import type { HL7Dictionary } from 'hl7v2';
import type { BuiltSegment, FieldValue } from './evaluate.js';
import { DICTIONARIES, nearestVersion } from './hl7-dictionary.js';
import type { Hl7Output } from './types.js';

/** Data types that carry line breaks (as `\X0D0A\`); every other type carries them as a space. */
const TEXT_TYPES: ReadonlySet<string> = new Set(['FT', 'TX']);

const ANY_CONTROL = /[\u0000-\u001f\u0080-\u009f\u2028\u2029]/;
const LINE_BREAK = /\r\n|[\r\n\u0085\u2028\u2029]/g;
const C0_OR_C1 = /[\u0000-\u001f\u0080-\u009f]/g;
const C1 = /[\u0080-\u009f]/g;

/** The value as it travels in a position of data type `type` (see the module comment). */
export function carriedValue(value: string, type: string): string {
  if (!ANY_CONTROL.test(value)) {return value;}
  if (TEXT_TYPES.has(type)) {return value.replace(LINE_BREAK, '\r\n').replace(C1, ' ');}
  return value.replace(LINE_BREAK, ' ').replace(C0_OR_C1, ' ');
}

interface Def {
  readonly type: string;
}
interface TypeDef {
  readonly fields?: Record<string, Def>;
}

const ST: Def = { type: 'ST' };

/**
 * The data type of field n, component c, sub-component s of a segment, chosen as hl7-writer.ts chooses the codec:
 * a position past a definition is ST, component 1 of a primitive field is the field itself.
 */
function leafType(dict: HL7Dictionary, segment: string, n: number, c: number, s: number): string {
  const fdef = (dict.segments[segment]?.fields as Record<string, Def | undefined> | undefined)?.[String(n)] ?? ST;
  const ftype = dict.types[fdef.type] as TypeDef | undefined;
  const cdef = ftype?.fields?.[String(c)] ?? (c === 1 ? fdef : ST);
  const ctype = dict.types[cdef.type] as TypeDef | undefined;
  if (!ctype?.fields) {return cdef.type;}
  return (ctype.fields[String(s)] ?? (s === 1 ? cdef : ST)).type;
}

/** The segments with every value in the form it travels (unchanged values and segments are the same objects). */
export function carryControlCharacters(output: Hl7Output, segments: readonly BuiltSegment[]): BuiltSegment[] {
  const dict = DICTIONARIES[nearestVersion(output.version)];
  if (!dict) {return [...segments];}
  return segments.map((seg) => {
    let fields: Array<FieldValue | undefined> | undefined;
    // Plain loops: the written arrays have holes.
    for (let n = 0; n < seg.fields.length; n++) {
      const field = seg.fields[n];
      if (!field || (seg.type === 'MSH' && n <= 2)) {continue;}
      for (let r = 1; r < field.length; r++) {
        const rep = field[r];
        for (let c = 1; rep && c < rep.length; c++) {
          const comp = rep[c];
          for (let s = 1; comp && s < comp.length; s++) {
            const v = comp[s];
            if (v === undefined || !ANY_CONTROL.test(v)) {continue;}
            const carried = carriedValue(v, leafType(dict, seg.type, n, c, s));
            if (carried === v) {continue;}
            fields ??= seg.fields.map((f) => f && f.map((rp) => rp && rp.map((cp) => cp && [...cp])));
            fields[n]![r]![c]![s] = carried;
          }
        }
      }
    }
    return fields ? { ...seg, fields } : seg;
  });
}
