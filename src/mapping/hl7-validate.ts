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
import type { BuiltSegment } from './evaluate.js';
import { DICTIONARIES } from './hl7-dictionary.js';
import { readHl7, valueAt } from './hl7-text.js';
import { dataTypeProblem } from './hl7-types.js';
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

function structureProblems(dict: HL7Dictionary, structure: string, types: string[]): string[] {
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

/** True when some value of the field (any repetition, component, sub-component) is not empty. */
function present(field: string[][][] | undefined): boolean {
  if (!field) {return false;}
  for (let r = 1; r < field.length; r++) {
    const rep = field[r];
    for (let c = 1; c < rep.length; c++) {
      const comp = rep[c];
      for (let s = 1; s < comp.length; s++) {if (comp[s] !== '') {return true;}}
    }
  }
  return false;
}

/** Length of one repetition as text (components joined by ^, sub-components by &), unescaped. */
function repLength(rep: string[][]): number {
  let len = Math.max(0, rep.length - 2); // the ^ between components
  for (let c = 1; c < rep.length; c++) {
    const comp = rep[c];
    len += Math.max(0, comp.length - 2); // the & between sub-components
    for (let s = 1; s < comp.length; s++) {len += comp[s].length;}
  }
  return len;
}

/** Every problem of the rendered `text` (empty when it may leave). */
export function validateHl7(output: Hl7Output, text: string, written: readonly BuiltSegment[]): string[] {
  const problems: string[] = [];
  const dict = DICTIONARIES[output.version];
  const typeProblem = dataTypeProblem(text, DICTIONARIES);
  if (typeProblem !== undefined) {problems.push(`data type: ${scrub(typeProblem)}`);}
  const parsed = readHl7(text);
  problems.push(...structureProblems(dict, output.structure, parsed.map((s) => s.type)));

  parsed.forEach((seg, i) => {
    const def = dict.segments[seg.type];
    if (!def) {return;}
    for (const f of fieldRules(def)) {
      const field = seg.fields[f.n];
      if (f.required && !present(field)) {problems.push(`required: ${seg.type}-${f.label} ${f.desc} is required (segment ${i + 1})`.trimEnd());}
      if (f.len !== undefined && field) {
        for (let r = 1; r < field.length; r++) {
          const len = repLength(field[r]);
          if (len > f.len) {problems.push(`length: ${seg.type}-${f.label}[${r}] is ${len} characters; HL7 v${dict.version} allows ${f.len} (segment ${i + 1})`);}
        }
      }
    }
  });

  if (parsed.length !== written.length) {problems.push(`round trip: wrote ${written.length} segments, read back ${parsed.length}`);}
  written.forEach((seg, i) => {
    const back = parsed[i];
    if (!back || back.type !== seg.type) {return;}
    seg.fields.forEach((field, n) => {
      field?.forEach((rep, r) =>
        rep?.forEach((comp, c) =>
          comp?.forEach((v, s) => {
            if (s === 0 || c === 0 || r === 0 || v === undefined) {return;}
            if (valueAt(back, n, r, c, s) !== v) {problems.push(`round trip: ${seg.type}-${n}[${r}].${c}.${s} does not read back as written (segment ${i + 1})`);}
          }),
        ),
      );
    });
  });
  return problems;
}
