/*
 * Writes the HL7 v2 message from the evaluated segments: MSH first, with MSH-7 (`now`), MSH-9 (output message type),
 * MSH-10 (the caller's control id, so a resend is the same message) and MSH-12 written by the engine; every other
 * value comes from the rules. Text continued from a long field (`overflow: nte`) becomes NTE segments right after its
 * segment.
 *
 * The text is what hl7v2 1.9.0's HL7Message would serialise after the same `setValue` calls (it did, until this
 * writer stopped building the library's message tree for every message): each value goes through the decoder of its
 * position when it is set (so a value the data type refuses fails here, with the library's error), and through the
 * encoder and the library's own `hl7Escape` when it is written; trailing empty fields, repetitions, components and
 * sub-components are dropped; a sub-component written into a primitive component is checked but not written, as the
 * library does. MSH-9 is read from text as the library reads it (non-strict), once per version and text.
 * test/unit/mapping/writer-reference.test.ts compares this writer with the library on generated messages.
 */
import { HL7Message, hl7Escape, type HL7Dictionary } from 'hl7v2';
import { toHL7DateTime } from 'hl7v2-dictionary';
import { dateToHl7Ts } from './datetime.js';
import type { BuiltSegment } from './evaluate.js';
import { DICTIONARIES, nearestVersion, versionOf } from './hl7-dictionary.js';
import type { Hl7Output } from './types.js';

/** NTE-2 Source of Comment (HL7 Table 0105): `P` = orderer (placer), i.e. the referrer wrote the text. */
const NTE_SOURCE_PLACER = 'P';

/**
 * Orders the evaluated segments for writing: the MSH rules (if any) merged into the engine's MSH, and NTE
 * continuation segments after the segment they continue.
 */
export function segmentsToWrite(output: Hl7Output, built: readonly BuiltSegment[], now: Date, controlId: string): BuiltSegment[] {
  const rulesMsh = built.find((s) => s.type === 'MSH');
  const msh: BuiltSegment = { type: 'MSH', fields: [...(rulesMsh?.fields ?? [])], continuation: [] };
  const set = (n: number, comps: string[]): void => {
    msh.fields[n] = [[], [[], ...comps.map((c) => ['', c])]];
  };
  msh.fields[1] = [[], [[], ['', '|']]];
  msh.fields[2] = [[], [[], ['', '^~\\&']]];
  set(7, [dateToHl7Ts(now)]);
  set(9, output.messageType.split('^'));
  set(10, [controlId]);
  set(12, [output.version]);
  const out: BuiltSegment[] = [msh];
  for (const seg of built) {
    if (seg.type === 'MSH') {continue;}
    out.push(seg);
    // NTE-1 Set ID stays empty on continuation NTEs: they continue the text of the segment before them.
    for (const c of seg.continuation) {
      out.push({
        type: 'NTE',
        fields: [undefined, undefined, [[], [[], ['', NTE_SOURCE_PLACER]]], [[], [[], ['', c.text]]]],
        continuation: [],
      });
    }
  }
  return out;
}

type Codec = (v: unknown) => unknown;
interface Def {
  readonly type: string;
  readonly decode?: Codec;
  readonly encode?: Codec;
}
interface TypeDef {
  readonly fields?: Record<string, Def>;
  readonly decode?: Codec;
  readonly encode?: Codec;
}
const ST: Def = { type: 'ST' };

function typeOrThrow(dict: HL7Dictionary, def: Def): TypeDef {
  const t = dict.types[def.type] as TypeDef | undefined;
  if (!t) {throw new Error(`Unknown data type: ${def.type}`);}
  return t;
}

/** A value as the library keeps it: decoded by its position's decoder; `encode` is applied when it is written. */
class Slot {
  value: unknown;
  constructor(
    readonly def: Def,
    readonly type: TypeDef,
  ) {}

  set(v: unknown): void {
    const decode = this.def.decode ?? this.type.decode;
    this.value = decode && v !== null && v !== undefined ? decode(v) : v;
  }

  text(): string {
    let v = this.value;
    if (v === null) {return '""';}
    if (v === undefined) {return '';}
    const encode = this.def.encode ?? this.type.encode;
    if (encode) {
      try {
        v = encode(v);
      } catch {
        v = v === null || v === undefined ? v : String(v);
      }
    } else if (v instanceof Date) {v = toHL7DateTime(v);}
    return hl7Escape(v as string);
  }
}

/** One component: a primitive one holds its value in `data`; a composite one in sub-components (index s - 1). */
class Component {
  readonly data: Slot | undefined;
  readonly subs: Array<Slot | undefined> = [];
  constructor(
    readonly def: Def,
    readonly type: TypeDef,
  ) {
    this.data = type.fields ? undefined : new Slot(def, type);
  }

  text(): string {
    if (this.data) {return this.data.text();}
    let out = '';
    for (let s = 0; s < this.subs.length; s++) {
      if (s > 0) {out += '&';}
      const sub = this.subs[s];
      if (sub) {out += sub.text();}
    }
    return trimEnd(out, '&');
  }
}

/** One field: repetitions of components (index c - 1), created on first use like the library's. */
class Field {
  readonly reps: Array<Array<Component | undefined>> = [];
  constructor(
    readonly dict: HL7Dictionary,
    readonly def: Def,
    readonly type: TypeDef,
  ) {}

  /** `field.repetition(r - 1).setValue(v, c, s)` of the library (s undefined: the component itself). */
  set(r: number, c: number, s: number | undefined, v: string): void {
    while (this.reps.length < r) {this.reps.push([]);}
    const rep = this.reps[r - 1];
    let comp = rep[c - 1];
    if (!comp) {
      const cdef = this.type.fields?.[String(c)] ?? (c === 1 ? this.def : ST);
      comp = new Component(cdef, typeOrThrow(this.dict, cdef));
      rep[c - 1] = comp;
    }
    if (s === undefined && comp.data) {
      comp.data.set(v);
      return;
    }
    const sp = s ?? 1;
    if (!this.type.fields) {throw new Error('Primitive fields have no sub-component');}
    let sub = comp.subs[sp - 1];
    if (!sub) {
      const sdef = comp.type.fields?.[String(sp)] ?? (sp === 1 ? comp.def : ST);
      sub = new Slot(sdef, typeOrThrow(this.dict, sdef));
      comp.subs[sp - 1] = sub;
    }
    sub.set(v);
  }

  text(): string {
    let out = '';
    for (let r = 0; r < this.reps.length; r++) {
      if (r > 0) {out += '~';}
      const rep = this.reps[r];
      let repText = '';
      for (let c = 0; c < rep.length; c++) {
        if (c > 0) {repText += '^';}
        const comp = rep[c];
        if (comp) {repText += comp.text();}
      }
      out += trimEnd(repText, '^');
    }
    return trimEnd(out, '~');
  }
}

function trimEnd(s: string, separator: string): string {
  let end = s.length;
  while (end > 0 && s[end - 1] === separator) {end--;}
  return end === s.length ? s : s.slice(0, end);
}

/** MSH-9 as the library writes it after reading `text` into it (non-strict), per version and text. */
const msh9Texts = new Map<string, { text: string } | { error: unknown }>();

function msh9Text(version: string, text: string): string {
  const key = `${version}\u0000${text}`;
  let known = msh9Texts.get(key);
  if (!known) {
    try {
      const field = new HL7Message(versionOf(version), DICTIONARIES).header.field(9);
      field.fromHL7String(text);
      known = { text: field.toHL7String() };
    } catch (error) {
      known = { error };
    }
    if (msh9Texts.size < 1000) {msh9Texts.set(key, known);}
  }
  if ('error' in known) {throw known.error;}
  return known.text;
}

/** Renders the ordered segments to ER7 text (segments separated by CR, with a trailing CR), as hl7v2 would. */
export function writeHl7(output: Hl7Output, segments: readonly BuiltSegment[]): string {
  const version = output.version;
  const dict = DICTIONARIES[nearestVersion(version)];
  if (!dict) {throw new Error(`no HL7 dictionary for version ${version}`);}
  const lines: string[] = [];
  for (const seg of segments) {
    const msh = seg.type === 'MSH';
    const fieldDefs = (dict.segments[seg.type]?.fields ?? {}) as Record<string, Def | undefined>;
    // Index n - 1; a string is a field written as text (MSH-9).
    const fields: Array<Field | string | undefined> = [];
    const field = (n: number): Field => {
      if (n < 1) {throw new Error('Invalid field position');}
      let f = fields[n - 1];
      if (!(f instanceof Field)) {
        const def = fieldDefs[String(n)] ?? ST;
        f = new Field(dict, def, typeOrThrow(dict, def));
        fields[n - 1] = f;
      }
      return f;
    };
    // Plain loops: the written arrays have holes, which forEach probes one index at a time.
    for (let n = 0; n < seg.fields.length; n++) {
      const values = seg.fields[n];
      if (!values || (msh && n <= 2)) {continue;}
      if (msh && n === 9) {
        fields[8] = msh9Text(version, values[1].slice(1).map((c) => c[1] ?? '').join('^'));
        continue;
      }
      for (let r = 1; r < values.length; r++) {
        const rep = values[r];
        if (!rep) {continue;}
        for (let c = 1; c < rep.length; c++) {
          const comp = rep[c];
          if (!comp) {continue;}
          for (let s = 1; s < comp.length; s++) {
            const v = comp[s];
            if (v === undefined) {continue;}
            // Only a sub-component index above 1 is passed to the library (it refuses one on primitive components).
            field(n).set(r, c, s === 1 ? undefined : s, v);
          }
        }
      }
    }
    // MSH-1 and MSH-2 are the delimiters; the fields after them are written from MSH-3 on.
    let line = msh ? 'MSH|^~\\&|' : `${seg.type}|`;
    for (let i = msh ? 2 : 0; i < fields.length; i++) {
      if (i > (msh ? 2 : 0)) {line += '|';}
      const f = fields[i];
      if (f !== undefined) {line += typeof f === 'string' ? f : f.text();}
    }
    line = trimEnd(line, '|');
    if (line) {lines.push(line);}
  }
  return lines.join('\r') + '\r';
}
