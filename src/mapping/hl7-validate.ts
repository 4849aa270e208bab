/*
 * Checks a rendered HL7 v2 message before it leaves, against the dictionary of its version (with the ITK profile for
 * v2.4, see hl7-dictionary.ts). hl7v2's strict parse enforces data types only (anchors §5.8), so the rest is here:
 *  1. data types: what `HL7Message.parse(text, { strict: true })` finds, without building the library's message tree
 *     (hl7-types.ts; the same lookups, decoders and first error);
 *  2. message structure: segment order, required segments and groups, repeat limits (Z segments may appear anywhere,
 *     as HL7 v2.4 §2.8 allows for locally agreed segments such as the ITK ZU segments);
 *  3. required fields (Usage R) present;
 *  4. field lengths (per repetition) within the dictionary's maximum;
 *  5. every value reads back exactly as the rules produced it (an independent reader, hl7-text.ts).
 */
import type { HL7Dictionary } from 'hl7v2';
import type { BuiltSegment, FieldValue } from './evaluate.js';
import { DICTIONARIES } from './hl7-dictionary.js';
import { splitField, unescapeHl7 } from '../protocol/hl7/er7.js';
import { dataTypeProblem, dataTypeProblemOfSegments } from './hl7-types.js';
import type { Hl7Output } from './types.js';

interface GroupDef {
  readonly idx: number;
  readonly min?: number;
  readonly max?: number;
  readonly segments?: Record<string, GroupDef>;
}

type Child = { name: string; def: GroupDef };

/** Dictionary definitions never change after loading, so the sorted children and start sets are kept. */
const childrenOf = new WeakMap<Record<string, GroupDef>, Child[]>();
const firstsOf = new WeakMap<GroupDef, Set<string>>();
const NO_CHILDREN: Child[] = [];

function children(segments: Record<string, GroupDef> | undefined): Child[] {
  if (!segments) {return NO_CHILDREN;}
  let out = childrenOf.get(segments);
  if (!out) {
    out = Object.entries(segments)
      .map(([name, def]) => ({ name, def }))
      .sort((a, b) => a.def.idx - b.def.idx);
    childrenOf.set(segments, out);
  }
  return out;
}

/** Segment names that can start a child (a segment, or the first required-or-optional segment of a group). */
function firsts(child: Child): Set<string> {
  if (!child.def.segments) {return new Set([child.name]);}
  let out = firstsOf.get(child.def);
  if (out) {return out;}
  out = new Set<string>();
  for (const c of children(child.def.segments)) {
    for (const f of firsts(c)) {out.add(f);}
    if ((c.def.min ?? 0) > 0) {break;}
  }
  firstsOf.set(child.def, out);
  return out;
}

/**
 * Greedy match of `types` from `pos` against the children of a group (HL7 parsers read left to right without
 * backtracking, and so does the receiving PAS). Returns the new position; pushes structure problems.
 */
function matchGroup(kids: Child[], types: string[], pos: number, path: string, problems: string[]): number {
  for (const kid of kids) {
    const max = kid.def.max ?? Infinity;
    // A single segment starts only itself: compare names instead of building a set for it.
    const start = kid.def.segments ? firsts(kid) : undefined;
    let count = 0;
    while (pos < types.length && count < max && (start ? start.has(types[pos]) : types[pos] === kid.name)) {
      if (kid.def.segments) {
        const next = matchGroup(children(kid.def.segments), types, pos, `${path}${kid.name}.`, problems);
        if (next === pos) {break;}
        pos = next;
      } else {pos++;}
      count++;
    }
    if (count < (kid.def.min ?? 0)) {problems.push(`structure: ${path}${kid.name} is required (min ${kid.def.min}) but missing`);}
  }
  return pos;
}

/** Structure problems of one message's segment names (exported for the load-time check's equivalence test). */
export function structureProblems(dict: HL7Dictionary, structure: string, types: string[]): string[] {
  const def = dict.messages[structure] as GroupDef | undefined;
  if (!def) {return [`structure: ${structure} is not defined in HL7 v${dict.version}`];}
  const problems: string[] = [];
  const std = types.filter((t) => !t.startsWith('Z'));
  const end = matchGroup(children(def.segments), std, 0, `${structure}.`, problems);
  if (end < std.length) {
    problems.push(`structure: segment ${std[end]} (number ${end + 1} of the non-Z segments) is not allowed here in ${structure}`);
  }
  return problems;
}

/** Strips quoted values from library messages: problems must not carry patient data. */
const scrub = (s: string): string => s.replace(/"[^"]*"/g, '"…"').split('\n')[0];

/** The fields of a segment definition that have a required or length rule, in definition order (kept per definition). */
interface FieldRule {
  readonly n: number;
  readonly label: string;
  readonly required: boolean;
  readonly desc: string;
  readonly len: number | undefined;
}
const fieldRulesOf = new WeakMap<object, FieldRule[]>();

function fieldRules(def: HL7Dictionary['segments'][string]): FieldRule[] {
  let rules = fieldRulesOf.get(def);
  if (!rules) {
    rules = Object.entries(def.fields)
      .map(([n, f]) => ({ n: Number(n), label: n, required: f.opt === 'R', desc: f.desc ?? '', len: f.len }))
      .filter((r) => r.required || r.len !== undefined);
    fieldRulesOf.set(def, rules);
  }
  return rules;
}

/*
 * The checks below read the text split once into segments and fields at `|` (`raw`), and split a field further only
 * when they must. They find what they found on the fully read tree (readHl7): helpers/reference-validate.ts in the
 * tests is that version, and validate-reference.test.ts compares the two on thousands of broken messages.
 */

/** Text of field n of a segment split at `|`, as readHl7 numbers fields (MSH-1 is `|` itself); undefined if absent. */
function fieldText(raw: readonly string[], n: number): string | undefined {
  if (n < 1) {return undefined;}
  if (raw[0] === 'MSH') {return n === 1 ? '|' : n - 1 < raw.length ? raw[n - 1] : undefined;}
  return n < raw.length ? raw[n] : undefined;
}

/** MSH-1 and MSH-2 are read as one value each (the delimiters themselves), never split. */
const isDelimiterField = (raw: readonly string[], n: number): boolean => raw[0] === 'MSH' && (n === 1 || n === 2);

/** Some value of the field is not empty: a sub-component is empty exactly when its escaped text is. */
function presentText(raw: readonly string[], n: number, text: string | undefined): boolean {
  if (text === undefined) {return false;}
  if (isDelimiterField(raw, n)) {return text !== '';}
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch !== 0x7e && ch !== 0x5e && ch !== 0x26) {return true;} // ~ ^ &
  }
  return false;
}

/** Unescaped length of each repetition: in characters; an escape sequence counts as what it reads back as (\\S\\ as 1, \\X0D0A\\ as 2). */
function repLengths(raw: readonly string[], n: number, text: string): number[] {
  if (isDelimiterField(raw, n)) {return [text.length];}
  const unescaped = (rep: string): number => {
    const text = rep.includes('\\') ? unescapeHl7(rep) : rep;
    // Characters, not UTF-16 units: only text outside the BMP (surrogate pairs) counts differently.
    return /[\ud800-\udbff]/.test(text) ? [...text].length : text.length;
  };
  return text.includes('~') ? text.split('~').map(unescaped) : [unescaped(text)];
}

/** Escapes the delimiters the way unescapeHl7 undoes (hl7v2 may write other bytes: then the texts differ). */
const escapeValue = (v: string): string =>
  /[|^~\\&]/.test(v) ? v.replace(/[|^~\\&]/g, (c) => ({ '|': '\\F\\', '^': '\\S\\', '&': '\\T\\', '~': '\\R\\', '\\': '\\E\\' })[c]!) : v;

function trimEnd(s: string, separator: string): string {
  let end = s.length;
  while (end > 0 && s[end - 1] === separator) {end--;}
  return end === s.length ? s : s.slice(0, end);
}

/**
 * The text a written field reads back from without any difference: every value escaped, missing ones empty,
 * trailing empty repetitions/components/sub-components dropped (as hl7v2 drops them). When the rendered field is
 * exactly this text, every written value reads back as written (a dropped one was empty); otherwise the field is
 * read value by value to name the positions that differ.
 */
function canonicalText(field: FieldValue): string {
  let out = '';
  for (let r = 1; r < field.length; r++) {
    const rep = field[r];
    let repText = '';
    if (rep) {
      for (let c = 1; c < rep.length; c++) {
        const comp = rep[c];
        let compText = '';
        if (comp) {
          for (let s = 1; s < comp.length; s++) {
            if (s > 1) {compText += '&';}
            const v = comp[s];
            if (v !== undefined) {compText += escapeValue(v);}
          }
        }
        if (c > 1) {repText += '^';}
        repText += trimEnd(compText, '&');
      }
    }
    if (r > 1) {out += '~';}
    out += trimEnd(repText, '^');
  }
  return trimEnd(out, '~');
}

/** Every problem of the rendered `text` (empty when it may leave). */
export function validateHl7(output: Hl7Output, text: string, written: readonly BuiltSegment[]): string[] {
  const problems: string[] = [];
  const dict = DICTIONARIES[output.version];
  const segments: string[][] = [];
  for (const line of text.split('\r')) {if (line.length > 0) {segments.push(line.split('|'));}}
  const typeProblem =
    text.startsWith('MSH') && !text.includes('\n') ? dataTypeProblemOfSegments(segments, DICTIONARIES) : dataTypeProblem(text, DICTIONARIES);
  if (typeProblem !== undefined) {problems.push(`data type: ${scrub(typeProblem)}`);}
  problems.push(...structureProblems(dict, output.structure, segments.map((raw) => raw[0])));

  segments.forEach((raw, i) => {
    const type = raw[0];
    const def = dict.segments[type];
    if (!def) {return;}
    for (const f of fieldRules(def)) {
      const ft = fieldText(raw, f.n);
      if (f.required && !presentText(raw, f.n, ft)) {problems.push(`required: ${type}-${f.label} ${f.desc} is required (segment ${i + 1})`.trimEnd());}
      if (f.len !== undefined && ft !== undefined) {
        repLengths(raw, f.n, ft).forEach((len, r) => {
          if (len > f.len!) {problems.push(`length: ${type}-${f.label}[${r + 1}] is ${len} characters; HL7 v${dict.version} allows ${f.len} (segment ${i + 1})`);}
        });
      }
    }
  });

  if (segments.length !== written.length) {problems.push(`round trip: wrote ${written.length} segments, read back ${segments.length}`);}
  written.forEach((seg, i) => {
    const raw = segments[i];
    if (!raw || raw[0] !== seg.type) {return;}
    // Plain loops: the written arrays have holes, which forEach probes one index at a time.
    for (let n = 0; n < seg.fields.length; n++) {
      const field = seg.fields[n];
      if (!field) {continue;}
      const ft = fieldText(raw, n);
      const delimiters = isDelimiterField(raw, n);
      if (ft !== undefined && !delimiters && canonicalText(field) === ft) {continue;}
      const back = ft === undefined ? undefined : delimiters ? [[], [[], ['', ft]]] : splitField(ft);
      for (let r = 1; r < field.length; r++) {
        const rep = field[r];
        for (let c = 1; rep && c < rep.length; c++) {
          const comp = rep[c];
          for (let s = 1; comp && s < comp.length; s++) {
            const v = comp[s];
            if (v === undefined) {continue;}
            if ((back?.[r]?.[c]?.[s] ?? '') !== v) {problems.push(`round trip: ${seg.type}-${n}[${r}].${c}.${s} does not read back as written (segment ${i + 1})`);}
          }
        }
      }
    }
  });
  return problems;
}
