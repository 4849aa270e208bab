/*
 * The data-type check of `HL7Message.parse(text, { strict: true })` (hl7v2 1.9.0) without building the library's
 * message tree: the same definition lookups (segment → field → data type → component → sub-component, with the same
 * defaults: an undefined field or component is ST, component 1 of a primitive type is the field itself), the same
 * decoders run on the same unescaped text (hl7v2's own `hl7UnEscape`; a sub-component value is decoded twice, as the
 * library's setter decodes what its parser decoded), and the same first error, worded as the library words it.
 *
 * Fields whose every reachable position has a known type and no decoder cannot fail and are skipped; which fields
 * those are is worked out once per dictionary, segment type and field. In the HL7 v2.4 dictionary only DT, TM, DTM,
 * TS-1 (hl7-dictionary.ts) and NM, SI have decoders, so most of a message is skipped.
 * test/unit/mapping/hl7-types.test.ts compares this with the library's strict parse on valid and broken messages.
 */
import { hl7UnEscape, type HL7Dictionary } from 'hl7v2';
import { nearestVersion } from './hl7-dictionary.js';

type Codec = (v: unknown) => unknown;
interface Def {
  readonly type: string;
  readonly decode?: Codec;
}
interface TypeDef {
  readonly fields?: Record<string, Def>;
  readonly decode?: Codec;
}

const ST: Def = { type: 'ST' };

/** Thrown inside the walk; becomes the one problem, like the library's first parse error. */
class TypeProblem extends Error {}

const unknownType = (type: string): TypeProblem => new TypeProblem(`Unknown data type: ${type}`);

/** Per dictionary and segment type: whether field n can fail at all (index n; true when it cannot). */
const quietFields = new WeakMap<HL7Dictionary, Map<string, boolean[]>>();

function typeOf(dict: HL7Dictionary, def: Def): TypeDef | undefined {
  return dict.types[def.type] as TypeDef | undefined;
}

function fieldDef(dict: HL7Dictionary, segment: string, n: number): Def {
  return ((dict.segments[segment]?.fields ?? {}) as Record<string, Def | undefined>)[String(n)] ?? ST;
}

/** The definitions a child position may have: the type's own, the parent itself at 1 when the type has none, and ST. */
function childDefs(type: TypeDef, parent: Def): Def[] {
  const own = Object.values(type.fields ?? {});
  return [...own, ...(type.fields?.['1'] ? [] : [parent]), ST];
}

function quietOf(dict: HL7Dictionary, segment: string): boolean[] {
  let bySegment = quietFields.get(dict);
  if (!bySegment) {quietFields.set(dict, (bySegment = new Map()));}
  let quiet = bySegment.get(segment);
  if (!quiet) {bySegment.set(segment, (quiet = []));}
  return quiet;
}

/** True when no value in field n of `segment` can fail (known types everywhere, no decoder anywhere). */
function isQuiet(dict: HL7Dictionary, segment: string, n: number, known: boolean[]): boolean {
  let quiet = known[n];
  if (quiet === undefined) {known[n] = quiet = computeQuiet(dict, fieldDef(dict, segment, n));}
  return quiet;
}

function computeQuiet(dict: HL7Dictionary, fdef: Def): boolean {
  const ftype = typeOf(dict, fdef);
  if (!ftype) {return false;}
  for (const cdef of childDefs(ftype, fdef)) {
    const ctype = typeOf(dict, cdef);
    if (!ctype) {return false;}
    if (!ctype.fields) {
      if (cdef.decode ?? ctype.decode) {return false;}
      continue;
    }
    for (const sdef of childDefs(ctype, cdef)) {
      const stype = typeOf(dict, sdef);
      if (!stype || (sdef.decode ?? stype.decode)) {return false;}
    }
  }
  return true;
}

function decodeOrThrow(decode: Codec, value: unknown, location: string): unknown {
  try {
    return decode(value);
  } catch (err) {
    throw new TypeProblem(`The field (${location}) contained data of the wrong data type. ${err instanceof Error ? err.message : String(err)}.`);
  }
}

/** Checks one field's text the way hl7v2's HL7Field/HL7Repetition/Hl7Component/Hl7SubComponent.fromHL7String do. */
function checkField(dict: HL7Dictionary, segment: string, n: number, text: string): void {
  const fdef = fieldDef(dict, segment, n);
  const ftype = typeOf(dict, fdef);
  if (!ftype) {throw unknownType(fdef.type);}
  text.split('~').forEach((repText, r) => {
    repText.split('^').forEach((compText, ci) => {
      const c = ci + 1;
      const cdef = ftype.fields?.[String(c)] ?? (c === 1 ? fdef : ST);
      const ctype = typeOf(dict, cdef);
      if (!ctype) {throw unknownType(cdef.type);}
      if (!ctype.fields) {
        // Primitive component: the whole text (sub-component separators included) is one value.
        const decode = cdef.decode ?? ctype.decode;
        if (compText === '' || !decode) {return;}
        const unescaped = hl7UnEscape(compText) as unknown;
        if (Buffer.isBuffer(unescaped) || unescaped === null || unescaped === undefined) {return;}
        decodeOrThrow(decode, unescaped, `${segment}.${n}.${c}[${r}]`);
        return;
      }
      // Composite component: an empty one still creates sub-component 1 (its type must exist).
      const subs = compText === '' ? [''] : compText.split('&');
      subs.forEach((subText, si) => {
        const s = si + 1;
        const sdef = ctype.fields?.[String(s)] ?? (s === 1 ? cdef : ST);
        const stype = typeOf(dict, sdef);
        if (!stype) {throw unknownType(sdef.type);}
        const decode = sdef.decode ?? stype.decode;
        if (!subText || !decode) {return;}
        const where = `${segment}.${n}.${c}.${s}[${r}]`;
        const unescaped = hl7UnEscape(subText) as unknown;
        if (unescaped === null || unescaped === undefined) {return;}
        // The parser decodes, then assigns through the setter, which decodes again (a Buffer only once).
        const once = Buffer.isBuffer(unescaped) ? unescaped : decodeOrThrow(decode, unescaped, where);
        if (once !== null && once !== undefined) {decodeOrThrow(decode, once, where);}
      });
    });
  });
}

/**
 * The data-type problem of ER7 `text` (segments separated by CR, default delimiters, as our writer makes it), or
 * undefined: what `HL7Message.parse(text, { strict: true, dictionaries })` would throw, first error only, with the
 * dictionary of the version in MSH-12.
 */
export function dataTypeProblem(text: string, dictionaries: Record<string, HL7Dictionary>): string | undefined {
  if (!text.startsWith('MSH')) {return 'Message must start with (MSH) segment';}
  const lines = (text.includes('\n') ? text.replaceAll('\r\n', '\r') : text).split('\r');
  return dataTypeProblemOfSegments(
    lines.filter((line) => line.length > 0).map((line) => line.split('|')),
    dictionaries,
  );
}

/**
 * `dataTypeProblem` for text already split into its non-empty segments and those into fields at `|` (the first is
 * MSH; no LF in the text), so that the validator splits the text once for all its checks.
 */
export function dataTypeProblemOfSegments(segments: readonly string[][], dictionaries: Record<string, HL7Dictionary>): string | undefined {
  const version = segments[0]?.[11];
  const dict = dictionaries[nearestVersion(version)];
  if (!dict) {return `no HL7 dictionary for version ${version}`;}
  try {
    for (const raw of segments) {
      const segment = raw[0];
      // As hl7v2 reads MSH: field 1 is the separator itself, field n (n ≥ 2) is raw[n - 1].
      const msh = segment === 'MSH';
      const count = raw.length - (msh ? 0 : 1);
      const quiet = quietOf(dict, segment);
      for (let n = 1; n <= count; n++) {
        if (isQuiet(dict, segment, n, quiet)) {continue;}
        checkField(dict, segment, n, msh ? (n === 1 ? '|' : raw[n - 1]) : raw[n]);
      }
    }
  } catch (err) {
    if (err instanceof TypeProblem) {return err.message;}
    throw err;
  }
  return undefined;
}
