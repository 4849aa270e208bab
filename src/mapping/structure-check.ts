/*
 * Load-time check of a mapping's segment rules against the HL7 abstract message structure of its MSH-9.3 (REF_I12,
 * SIU_S12, ADT_A05 …, from hl7v2-dictionary): segment order, groups, required segments and repetition. Render time
 * checks each message it makes (hl7-validate.ts); this checks every message the rules COULD make, so that a rule
 * file that would fail some messages (a second PV1 in REF^I12, a `foreach` on a segment the structure allows once, a
 * conditional segment the structure requires) is refused when it loads, not after the first referral that meets it.
 *
 * What the rules can make: each segment rule writes its segment 1 time, or 0–1 times under `when`, or 0–n times
 * under `foreach` (`required: true` raises the minimum to 1: the render fails otherwise, so no such message leaves);
 * a field with `overflow: nte` may add NTE segments right after its segment; a `group:` rule writes its rules
 * together, with the same counts. The conditions themselves are not read (they are FHIRPath over the message), so
 * rules are taken as independent: OBX rules whose segments need an OBR before them must sit in a group with that OBR.
 *
 * How: the structure is read the way hl7-validate.ts reads a message — left to right, greedy, no backtracking (as a
 * receiving PAS does) — but one segment at a time, as a state machine whose state is the position in the group tree
 * (a stack of frames: which child, how many times so far). Every message the rules can make is then covered by
 * running the machine over SETS of states: for each rule, the states after 0, 1, 2 … of its segments. Counts are
 * capped where the structure stops telling them apart, so the sets are finite and the check is exact: a problem is
 * reported exactly when some message the rules can make would fail the render-time structure check with it (the
 * property test in structure-check.test.ts compares both on random segment sequences).
 */
import type { HL7Dictionary } from 'hl7v2';
import type { SegmentItem } from './types.js';

interface GroupDef {
  readonly idx: number;
  readonly min?: number;
  readonly max?: number;
  readonly segments?: Record<string, GroupDef>;
}

interface Child {
  readonly name: string;
  readonly def: GroupDef;
  /** Segment names that can start this child: itself, or for a group the first segments up to its first required one. */
  readonly starts: ReadonlySet<string>;
  readonly kids: readonly Child[];
  readonly path: string;
}

function childrenOf(segments: Record<string, GroupDef> | undefined, path: string): Child[] {
  return Object.entries(segments ?? {})
    .sort((a, b) => a[1].idx - b[1].idx)
    .map(([name, def]) => {
      const kids = def.segments ? childrenOf(def.segments, `${path}${name}.`) : [];
      const starts = new Set<string>();
      if (!def.segments) {starts.add(name);}
      for (const k of kids) {
        for (const s of k.starts) {starts.add(s);}
        if ((k.def.min ?? 0) > 0) {break;}
      }
      return { name, def, starts, kids, path };
    });
}

/** One level of the group tree: which child the reader is at, and how many of it it has read. */
interface Frame {
  readonly kids: readonly Child[];
  readonly k: number;
  readonly count: number;
}

/** A reader state; `last` is the segment read before (for messages only). */
interface State {
  readonly frames: readonly Frame[];
  readonly last: string;
}

const keyOf = (s: State): string => `${s.last}|${s.frames.map((f) => `${f.k}:${f.count}`).join('/')}`;

/** A count the structure cannot tell from a higher one is kept at that value (finite state sets). */
function capped(def: GroupDef, count: number): number {
  return def.max === undefined ? Math.min(count, def.min ?? 0) : count;
}

type Outcome = { readonly state: State; readonly missing: readonly string[] } | { readonly refused: string; readonly missing: readonly string[] };

/** Reads one segment: the new state, or why it cannot come here; `missing` are required children skipped over. */
function step(state: State, segment: string, structure: string): Outcome {
  const frames = state.frames.map((f) => ({ ...f }));
  const missing: string[] = [];
  for (;;) {
    const top = frames[frames.length - 1];
    let entered = false;
    while (top.k < top.kids.length) {
      const kid = top.kids[top.k];
      if (top.count < (kid.def.max ?? Infinity) && kid.starts.has(segment)) {
        top.count = capped(kid.def, top.count + 1);
        if (!kid.def.segments) {return { state: { frames, last: segment }, missing };}
        frames.push({ kids: kid.kids, k: 0, count: 0 });
        entered = true;
        break;
      }
      if (top.count < (kid.def.min ?? 0)) {missing.push(`${structure}.${kid.path}${kid.name}`);}
      top.k++;
      top.count = 0;
    }
    if (entered) {continue;}
    if (frames.length === 1) {return { refused: state.last, missing };}
    frames.pop();
  }
}

/** Required children not read by the end of the message. */
function atEnd(state: State, structure: string): string[] {
  const missing: string[] = [];
  for (let i = state.frames.length - 1; i >= 0; i--) {
    const f = state.frames[i];
    for (let k = f.k; k < f.kids.length; k++) {
      const count = k === f.k ? f.count : 0;
      const kid = f.kids[k];
      if (count < (kid.def.min ?? 0)) {missing.push(`${structure}.${kid.path}${kid.name}`);}
    }
  }
  return missing;
}

/** What one item of the rule list can write: a segment (with possible NTE continuations) or a group of items. */
type Unit =
  | { readonly kind: 'segment'; readonly segment: string; readonly min: number; readonly max: number; readonly nte: boolean; readonly where: string }
  | { readonly kind: 'group'; readonly units: readonly Unit[]; readonly min: number; readonly max: number; readonly where: string };

function unitsOf(items: readonly SegmentItem[]): Unit[] {
  const out: Unit[] = [];
  for (const item of items) {
    const max = item.foreach ? Infinity : 1;
    if (item.kind === 'group') {
      out.push({ kind: 'group', units: unitsOf(item.segments), min: item.foreach || item.when ? 0 : 1, max, where: item.where });
      continue;
    }
    // The engine writes MSH first in every message and merges MSH rules into it; Z segments may come anywhere (§2.8).
    if (item.segment === 'MSH' || item.segment.startsWith('Z')) {continue;}
    const min = item.required || (!item.foreach && !item.when) ? 1 : 0;
    const nte = item.fields.some((f) => f.kind === 'value' && f.overflow === 'nte');
    out.push({ kind: 'segment', segment: item.segment, min, max, nte, where: item.where });
  }
  return out;
}

type SegmentUnit = Extract<Unit, { kind: 'segment' }>;

/** The segment units, groups opened (a segment in an optional group counts as optional). */
function flatten(units: readonly Unit[], optional = false): SegmentUnit[] {
  return units.flatMap((u) =>
    u.kind === 'group' ? flatten(u.units, optional || u.min === 0) : [optional && u.min > 0 ? { ...u, min: 0 } : u],
  );
}

class Explorer {
  /** Segments refused, by rule and segment: the segments they could follow (reported as one problem each). */
  private readonly refused = new Map<string, { where: string; segment: string; repeats: boolean; after: Set<string> }>();
  /** Required children a message can lack: where it was first seen, and what a message can reach without them. */
  private readonly missing = new Map<string, { where: string; reached: Set<string> }>();
  constructor(
    readonly structure: string,
    private readonly units: readonly Unit[],
  ) {}

  lacks(where: string, names: readonly string[], reached: string): void {
    for (const n of names) {
      const entry = this.missing.get(n) ?? { where, reached: new Set<string>() };
      entry.reached.add(reached);
      this.missing.set(n, entry);
    }
  }

  /** Every problem found, one per rule and refused segment and one per missing required part, as `file:line: what`. */
  report(): string[] {
    const out: string[] = [];
    for (const r of this.refused.values()) {
      const after = [...r.after].map((a) => (a === '' ? 'at the start' : a === r.segment ? `after another ${a}` : `after ${a}`));
      const second = r.after.has(r.segment) ? ` (${this.structure} has room for one ${r.segment} there${r.repeats ? '; this rule repeats it with foreach' : ''})` : '';
      out.push(`${r.where}: segment ${r.segment} cannot come ${after.join(' or ')} in ${this.structure}${second}`);
    }
    for (const [name, m] of this.missing) {
      const reached = [...m.reached].map((r) => (r === '' ? 'the end' : r)).join(', ');
      // Point at the rule that writes it only under a condition, when there is one: that is the rule to change.
      const segment = name.slice(name.lastIndexOf('.') + 1);
      const optional = flatten(this.units).find((u) => u.segment === segment && u.min === 0);
      out.push(
        optional
          ? `${optional.where}: segment ${segment} is written only under when/foreach, but ${name} is required (mark the rule required: true or drop the condition); without it a message reaches ${reached}`
          : `${m.where}: ${name} is required, but a message can reach ${reached} without it`,
      );
    }
    return out;
  }

  /** Every state after one segment of `unit`, from every state of `from`. */
  private segment(from: ReadonlyMap<string, State>, segment: string, where: string, max: number): Map<string, State> {
    const out = new Map<string, State>();
    for (const s of from.values()) {
      const r = step(s, segment, this.structure);
      // A refused segment skips every child on its way out; the refusal is the problem, not those.
      if (!('refused' in r)) {this.lacks(where, r.missing, segment);}
      if ('refused' in r) {
        const key = `${where}|${segment}`;
        const entry = this.refused.get(key) ?? { where, segment, repeats: max > 1, after: new Set<string>() };
        entry.after.add(r.refused);
        this.refused.set(key, entry);
        continue;
      }
      out.set(keyOf(r.state), r.state);
    }
    return out;
  }

  private once(from: ReadonlyMap<string, State>, unit: Unit): ReadonlyMap<string, State> {
    if (unit.kind === 'group') {return this.run(from, unit.units);}
    let states = this.segment(from, unit.segment, unit.where, unit.max);
    if (unit.nte) {states = this.repeat(states, (s) => this.segment(s, 'NTE', `${unit.where} (overflow: nte)`, Infinity), 0, Infinity);}
    return states;
  }

  /** The union of the states after min … max applications of `f` (until nothing new for an unbounded max). */
  private repeat(from: ReadonlyMap<string, State>, f: (s: ReadonlyMap<string, State>) => ReadonlyMap<string, State>, min: number, max: number): Map<string, State> {
    const all = new Map<string, State>();
    let current: ReadonlyMap<string, State> = from;
    for (let n = 0; n <= max && current.size > 0; n++) {
      if (n >= min) {
        const before = all.size;
        for (const [k, s] of current) {all.set(k, s);}
        // States only depend on the one before, so once a round adds nothing new, no later round will.
        if (max === Infinity && all.size === before && n > min) {break;}
      }
      if (n < max) {current = f(current);}
    }
    return all;
  }

  run(from: ReadonlyMap<string, State>, units: readonly Unit[]): ReadonlyMap<string, State> {
    let states = from;
    for (const unit of units) {states = this.repeat(states, (s) => this.once(s, unit), unit.min, unit.max);}
    return states;
  }
}

/**
 * Every way the segment rules can break the message structure, as `file:line: what` (empty when every message they
 * can make fits). `where` locates problems that belong to no single rule (required segments missing at the end).
 */
export function structureCheck(dict: HL7Dictionary, structure: string, items: readonly SegmentItem[], where: string): string[] {
  const def = dict.messages[structure] as GroupDef | undefined;
  if (!def) {return [];}
  const units = unitsOf(items);
  const ex = new Explorer(structure, units);
  const root = childrenOf(def.segments, '');
  const start: State = { frames: [{ kids: root, k: 0, count: 0 }], last: '' };
  const msh = step(start, 'MSH', structure);
  if ('refused' in msh) {return [`${where}: ${structure} does not start with MSH`];}
  const end = ex.run(new Map([[keyOf(msh.state), msh.state]]), units);
  for (const s of end.values()) {ex.lacks(where, atEnd(s, structure), '');}
  return ex.report();
}

/** For tests: the problems the machine finds reading one message's segment names (Z segments skipped). */
export function readStructure(dict: HL7Dictionary, structure: string, segments: readonly string[]): string[] {
  const def = dict.messages[structure] as GroupDef | undefined;
  if (!def) {return [`${structure} is not defined`];}
  let state: State = { frames: [{ kids: childrenOf(def.segments, ''), k: 0, count: 0 }], last: '' };
  const problems: string[] = [];
  for (const s of segments) {
    if (s.startsWith('Z')) {continue;}
    const r = step(state, s, structure);
    problems.push(...r.missing.map((m) => `missing ${m}`));
    if ('refused' in r) {
      problems.push(`refused ${s}`);
      return problems;
    }
    state = r.state;
  }
  return [...problems, ...atEnd(state, structure).map((m) => `missing ${m}`)];
}
