/*
 * REFERENCE COPY (for tests only) of src/mapping/hl7-validate.ts as it was before the data-type check stopped using
 * hl7v2's strict parse and the checks were made cheaper: test/unit/mapping/validate-reference.test.ts checks that
 * the validator still finds exactly these problems.
 *
 * Checks a rendered HL7 v2 message before it leaves, against the dictionary of its version (with the ITK profile for
 * v2.4, see hl7-dictionary.ts). hl7v2's strict parse enforces data types only (anchors §5.8), so the rest is here:
 *  1. data types: `HL7Message.parse(text, { strict: true })`;
 *  2. message structure: segment order, required segments and groups, repeat limits (Z segments may appear anywhere,
 *     as HL7 v2.4 §2.8 allows for locally agreed segments such as the ITK ZU segments);
 *  3. required fields (Usage R) present;
 *  4. field lengths (per repetition) within the dictionary's maximum;
 *  5. every value reads back exactly as the rules produced it (an independent reader, hl7-text.ts).
 */
import { HL7Message, type HL7Dictionary } from 'hl7v2';
import type { BuiltSegment } from '../../../../src/mapping/evaluate.js';
import { DICTIONARIES } from '../../../../src/mapping/hl7-dictionary.js';
import { readHl7, valueAt } from '../../../../src/protocol/hl7/er7.js';
import type { Hl7Output } from '../../../../src/mapping/types.js';

interface GroupDef {
  readonly idx: number;
  readonly min?: number;
  readonly max?: number;
  readonly segments?: Record<string, GroupDef>;
}

type Child = { name: string; def: GroupDef };

function children(segments: Record<string, GroupDef> | undefined): Child[] {
  return Object.entries(segments ?? {})
    .map(([name, def]) => ({ name, def }))
    .sort((a, b) => a.def.idx - b.def.idx);
}

/** Segment names that can start a child (a segment, or the first required-or-optional segment of a group). */
function firsts(child: Child): Set<string> {
  if (!child.def.segments) {return new Set([child.name]);}
  const out = new Set<string>();
  for (const c of children(child.def.segments)) {
    for (const f of firsts(c)) {out.add(f);}
    if ((c.def.min ?? 0) > 0) {break;}
  }
  return out;
}

/**
 * Greedy match of `types` from `pos` against the children of a group (HL7 parsers read left to right without
 * backtracking, and so does the receiving PAS). Returns the new position; pushes structure problems.
 */
function matchGroup(kids: Child[], types: string[], pos: number, path: string, problems: string[]): number {
  for (const kid of kids) {
    const max = kid.def.max ?? Infinity;
    const start = firsts(kid);
    let count = 0;
    while (pos < types.length && count < max && start.has(types[pos])) {
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

/** Every problem of the rendered `text` (empty when it may leave). */
export function referenceValidateHl7(output: Hl7Output, text: string, written: readonly BuiltSegment[]): string[] {
  const problems: string[] = [];
  const dict = DICTIONARIES[output.version];
  try {
    HL7Message.parse(text, { strict: true, dictionaries: DICTIONARIES });
  } catch (err) {
    problems.push(`data type: ${scrub(err instanceof Error ? err.message : String(err))}`);
  }
  const parsed = readHl7(text);
  problems.push(...structureProblems(dict, output.structure, parsed.map((s) => s.type)));

  parsed.forEach((seg, i) => {
    const def = dict.segments[seg.type];
    if (!def) {return;}
    for (const [n, f] of Object.entries(def.fields)) {
      const field = seg.fields[Number(n)];
      const present = field !== undefined && field.slice(1).some((rep) => rep.slice(1).some((c) => c.slice(1).some((v) => v !== '')));
      if (f.opt === 'R' && !present) {problems.push(`required: ${seg.type}-${n} ${f.desc ?? ''} is required (segment ${i + 1})`.trimEnd());}
      if (f.len !== undefined && field) {
        field.forEach((rep, r) => {
          if (r === 0) {return;}
          const len = rep.slice(1).map((c) => c.slice(1).join('&')).join('^').length;
          if (len > f.len!) {problems.push(`length: ${seg.type}-${n}[${r}] is ${len} characters; HL7 v${dict.version} allows ${f.len} (segment ${i + 1})`);}
        });
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
