/*
 * Runs the compiled rules of one mapping against one message: pure, no I/O. The result is a neutral tree of
 * segments → fields → repetitions → components → sub-components (1-based, as HL7 names them) plus an explain trace;
 * hl7-writer.ts and flat-writer.ts turn it into text. Every problem is collected before failing, so one MappingError
 * lists them all. Problems name targets and rules, never values (values are patient data).
 */
import { DateFormatError, fhirToHl7Date, fhirToHl7Ts } from './datetime.js';
import { resultsOf, type Environment } from './context.js';
import { lookup } from './tables.js';
import { splitAtWords } from './text-split.js';
import type { CompiledExpression, CompiledMapping, FieldRule, GroupRule, RepeatingFieldRule, SegmentItem, SegmentRule, ValueRule } from './types.js';

/** One field: repetitions → components → sub-components, each array 1-based (index 0 unused). */
export type FieldValue = string[][][];

/** One built segment. `fields[n]` is field n (1-based). */
export interface BuiltSegment {
  readonly type: string;
  /** Name in explain output and problems: the type, with the occurrence for repeated segments (`OBX(2)`). */
  readonly label?: string;
  readonly fields: Array<FieldValue | undefined>;
  /** Text continued from a field with `overflow: nte`, written as NTE segments right after this one. */
  readonly continuation: Array<{ text: string; where: string }>;
}

/** Which rule filled which position from which expression (for `--explain`). */
export interface TraceEntry {
  readonly target: string;
  readonly where: string;
  readonly source: string;
  readonly value: string;
  /** Set when the rule wrote nothing, saying why (`when` false, nothing yielded): `--explain` lists these apart. */
  readonly nothing?: string;
}

/** Records a rule that wrote nothing (only when tracing). */
function silent(trace: TraceEntry[] | undefined, target: string, where: string, e: CompiledExpression | undefined, why: string): void {
  trace?.push({ target, where, source: e?.source ?? '', value: '', nothing: why });
}

/** The evaluation result of one mapping for one message. */
export interface Evaluation {
  readonly segments: BuiltSegment[];
  readonly rows: string[][];
  readonly trace: TraceEntry[];
  readonly problems: string[];
}

interface Scope {
  readonly focus: unknown;
  readonly env: Environment;
}

/** Stands for a variable the environment does not have (fhirpath.js fails on it; `undefined` gives empty). */
const ABSENT = Symbol('absent');

/**
 * Runs an expression. The mappings of one message share an environment (render.ts `messageRenderer`), so the result
 * of an expression whose value depends only on its focus and the variables it reads (`reads`, compile.ts) is kept
 * for the message and reused when the same source meets the same focus and the same variable values (by identity).
 * Failures are not kept: each mapping reports its own. Callers never change a result array.
 */
function run(e: CompiledExpression, scope: Scope, problems: string[]): unknown[] | undefined {
  const reads = e.reads;
  const table = reads ? resultsOf(scope.env) : undefined;
  let entries: Array<{ readonly vars: readonly unknown[]; readonly result: unknown[] }> | undefined;
  let vars: unknown[] = NO_VARS;
  if (table) {
    const env = scope.env;
    if (reads!.length > 0) {
      vars = new Array<unknown>(reads!.length);
      for (let i = 0; i < reads!.length; i++) {vars[i] = reads![i] in env ? env[reads![i]] : ABSENT;}
    }
    let byFocus = table.get(e.source);
    if (!byFocus) {table.set(e.source, (byFocus = new Map()));}
    entries = byFocus.get(scope.focus);
    if (!entries) {byFocus.set(scope.focus, (entries = []));}
    for (const entry of entries) {
      if (sameVars(entry.vars, vars)) {return entry.result;}
    }
  }
  try {
    const result = withoutNulls(e.evaluate(scope.focus, scope.env));
    if (entries) {entries.push({ vars, result });}
    return result;
  } catch (err) {
    problems.push(`${e.where}: FHIRPath failed: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
    return undefined;
  }
}

const NO_VARS: unknown[] = []; // never written to

function sameVars(a: readonly unknown[], b: readonly unknown[]): boolean {
  for (let i = 0; i < a.length; i++) {if (a[i] !== b[i]) {return false;}}
  return true;
}

/** The result without null/undefined items (the array itself when it has none: fhirpath.js returns a new array). */
function withoutNulls(r: unknown[]): unknown[] {
  for (const v of r) {if (v === null || v === undefined) {return r.filter((x) => x !== null && x !== undefined);}}
  return r;
}

/** FHIRPath truthiness for `when:`: empty and `false` are false; anything else is true. */
function holds(e: CompiledExpression | undefined, scope: Scope, problems: string[]): boolean {
  if (!e) {return true;}
  const r = run(e, scope, problems);
  return r !== undefined && r.length > 0 && !(r.length === 1 && r[0] === false);
}

const codePoints = (s: string): string[] => [...s];

function primitive(v: unknown): string | undefined {
  if (typeof v === 'string') {return v;}
  if (typeof v === 'number' || typeof v === 'bigint') {return String(v);}
  if (typeof v === 'boolean') {return v ? 'Y' : 'N';} // HL7 Table 0136 Yes/No indicator
  return undefined;
}

/**
 * Evaluates one value rule to its final strings (after table, format and length rules). Returns [] when the rule
 * writes nothing. The first string is what goes in the position; `overflow` is text for NTE continuation.
 */
function values(rule: ValueRule, scope: Scope, target: string, problems: string[], trace: TraceEntry[] | undefined): { out: string[]; overflow: string[] } {
  const none = { out: [], overflow: [] };
  if (!holds(rule.when, scope, problems)) {
    silent(trace, target, rule.where, rule.when, 'when is false');
    return none;
  }
  let raw: string[];
  if (rule.constant !== undefined) {raw = [rule.constant];}
  else {
    const r = run(rule.expression!, scope, problems);
    if (r === undefined) {return none;}
    raw = [];
    for (const v of r) {
      const s = primitive(v);
      if (s === undefined) {
        problems.push(`${rule.where}: ${target}: expression yields a complex element, not a primitive value (select e.g. .value or .code)`);
        return none;
      }
      if (s !== '') {raw.push(s);}
    }
    if (raw.length > 1 && !rule.repeat) {
      problems.push(`${rule.where}: ${target}: expression yields ${raw.length} values for one position (use first() or repeat: true)`);
      return none;
    }
  }
  if (raw.length === 0) {
    if (rule.defaultValue !== undefined) {raw = [rule.defaultValue];}
    else {
      if (rule.required) {problems.push(`${rule.where}: ${target}: required, but the expression yields nothing`);}
      silent(trace, target, rule.where, rule.expression, 'expression yields nothing');
      return none;
    }
  }
  const out: string[] = [];
  const overflow: string[] = [];
  for (let v of raw) {
    if (rule.table) {
      const mapped = lookup(rule.table, v);
      if (mapped === undefined) {
        problems.push(`${rule.where}: ${target}: code '${v.slice(0, 64)}' has no entry in table ${rule.table.id} (${rule.table.where}) and the table has no default`);
        continue;
      }
      v = mapped;
    }
    if (rule.format !== 'text') {
      try {
        v = rule.format === 'ts' ? fhirToHl7Ts(v) : fhirToHl7Date(v);
      } catch (err) {
        if (!(err instanceof DateFormatError)) {throw err;}
        problems.push(`${rule.where}: ${target}: value is not a FHIR date/dateTime/instant (format: ${rule.format})`);
        continue;
      }
    }
    // Lengths are in characters (Unicode code points), as HL7 counts them, and pieces never split a character.
    if (rule.maxLength !== undefined && v.length > rule.maxLength && codePoints(v).length > rule.maxLength) {
      const cps = codePoints(v);
      if (rule.overflow === 'error') {
        problems.push(`${rule.where}: ${target}: value is ${cps.length} characters, limit is ${rule.maxLength} (overflow: error)`);
        continue;
      }
      // Cut at word boundaries, the whitespace kept (text-split.ts): the pieces joined are the value.
      const [first, ...rest] = splitAtWords(v, rule.maxLength);
      overflow.push(...rest);
      v = first;
    }
    out.push(v);
  }
  if (trace) {
    const source = rule.constant !== undefined ? `value ${JSON.stringify(rule.constant)}` : rule.expression!.source;
    const notes = [rule.table ? `table ${rule.table.id}` : '', rule.format !== 'text' ? `format ${rule.format}` : '', overflow.length ? `+${overflow.length} NTE` : '']
      .filter(Boolean)
      .join(', ');
    for (const v of out) {trace.push({ target, where: rule.where, source: notes ? `${source}  [${notes}]` : source, value: v });}
  }
  return { out, overflow };
}

function put(seg: BuiltSegment, field: number, rep: number, comp: number, sub: number, value: string): void {
  const f = (seg.fields[field] ??= []);
  const r = (f[rep] ??= []);
  const c = (r[comp] ??= []);
  c[sub] = value;
}

function nextRep(seg: BuiltSegment, field: number): number {
  const f = seg.fields[field];
  return f ? Math.max(1, f.length) : 1;
}

function applyField(rule: FieldRule, seg: BuiltSegment, scope: Scope, problems: string[], trace: TraceEntry[] | undefined): void {
  if (rule.kind === 'repeating') {return applyRepeating(rule, seg, scope, problems, trace);}
  const { field, component, subComponent } = rule.position;
  const label = `${seg.label ?? seg.type}-${field}.${component}${subComponent > 1 ? `.${subComponent}` : ''}`;
  const { out, overflow } = values(rule, scope, label, problems, trace);
  if (out.length === 0) {return;}
  if (rule.repeat) {
    let rep = seg.fields[field]?.[1] ? nextRep(seg, field) : 1;
    for (const v of out) {put(seg, field, rep++, component, subComponent, v);}
  } else {put(seg, field, 1, component, subComponent, out[0]);}
  for (const text of overflow) {seg.continuation.push({ text, where: rule.where });}
}

function applyRepeating(rule: RepeatingFieldRule, seg: BuiltSegment, scope: Scope, problems: string[], trace: TraceEntry[] | undefined): void {
  const target = `${seg.label ?? seg.type}-${rule.field}`;
  if (!holds(rule.when, scope, problems)) {
    silent(trace, target, rule.where, rule.when, 'when is false');
    return;
  }
  const items = run(rule.foreach, scope, problems);
  if (items === undefined) {return;}
  let written = 0;
  items.forEach((item, i) => {
    const rep = seg.fields[rule.field]?.[1] ? nextRep(seg, rule.field) : 1;
    const inner: Scope = { focus: item, env: { ...scope.env, rep: item, repIndex: i + 1 } };
    let any = false;
    for (const comp of rule.components) {
      const { field, component, subComponent } = comp.position;
      const label = `${seg.label ?? seg.type}-${field}[${rep}].${component}${subComponent > 1 ? `.${subComponent}` : ''}`;
      const { out, overflow } = values(comp, inner, label, problems, trace);
      if (overflow.length) {problems.push(`${comp.where}: ${label}: overflow: nte is not supported inside a repeating field`);}
      if (out.length === 0) {continue;}
      put(seg, field, rep, component, subComponent, out[0]);
      any = true;
    }
    if (any) {written++;}
  });
  if (written === 0 && rule.required) {problems.push(`${rule.where}: ${seg.type}-${rule.field}: required, but foreach yields no repetition`);}
  if (written === 0) {silent(trace, target, rule.where, rule.foreach, 'foreach yields no repetition');}
}

/** The scopes a `foreach` rule runs in (one per item, with %item and %index), or just `scope`. */
function scopesOf(rule: SegmentItem, scope: Scope, problems: string[]): Scope[] {
  if (!rule.foreach) {return [scope];}
  const items = run(rule.foreach, scope, problems) ?? [];
  return items.map((item, i) => ({ focus: item, env: { ...scope.env, item, index: i + 1 } }));
}

function applyGroup(rule: GroupRule, scope: Scope, problems: string[], trace: TraceEntry[] | undefined, out: BuiltSegment[]): void {
  const scopes = scopesOf(rule, scope, problems);
  let made = 0;
  for (const s of scopes) {
    if (!holds(rule.when, s, problems)) {continue;}
    for (const r of rule.segments) {applyItem(r, s, problems, trace, out);}
    made++;
  }
  if (made === 0) {silentItem(trace, `group ${rule.group}`, rule, scopes.length);}
}

/** A segment or group rule that wrote nothing: because its foreach yielded no item, or its when failed. */
function silentItem(trace: TraceEntry[] | undefined, target: string, rule: SegmentItem, items: number): void {
  if (rule.foreach && items === 0) {silent(trace, target, rule.where, rule.foreach, 'foreach yields no item');}
  else {silent(trace, target, rule.where, rule.when, 'when is false');}
}

function applyItem(rule: SegmentItem, scope: Scope, problems: string[], trace: TraceEntry[] | undefined, out: BuiltSegment[]): void {
  if (rule.kind === 'group') {applyGroup(rule, scope, problems, trace, out);}
  else {applySegment(rule, scope, problems, trace, out);}
}

function applySegment(rule: SegmentRule, scope: Scope, problems: string[], trace: TraceEntry[] | undefined, out: BuiltSegment[]): number {
  const scopes = scopesOf(rule, scope, problems);
  let made = 0;
  for (const s of scopes) {
    if (!holds(rule.when, s, problems)) {continue;}
    const seg: BuiltSegment = { type: rule.segment, label: rule.foreach ? `${rule.segment}(${made + 1})` : undefined, fields: [], continuation: [] };
    for (const f of rule.fields) {applyField(f, seg, s, problems, trace);}
    out.push(seg);
    made++;
  }
  if (made === 0 && rule.required) {problems.push(`${rule.where}: segment ${rule.segment} is required, but its conditions produced none`);}
  if (made === 0) {silentItem(trace, `segment ${rule.segment}`, rule, scopes.length);}
  return made;
}

/** Evaluates `let:` variables into the environment, in order (each may use the ones before it). */
export function withVariables(mapping: CompiledMapping, env: Environment, problems: string[]): Environment {
  const out: Environment = { ...env, destination: mapping.destinationSettings };
  for (const v of mapping.variables) {
    const r = run(v.expression, { focus: env.bundle, env: out }, problems);
    out[v.name] = r ?? [];
  }
  return out;
}

/**
 * Evaluates every rule of `mapping` for the environment of one message. The explain trace is only collected when
 * asked for (`trace: true`, for `--explain`); otherwise `trace` is empty.
 */
export function evaluateMapping(mapping: CompiledMapping, baseEnv: Environment, { trace: wantTrace = true }: { trace?: boolean } = {}): Evaluation {
  const problems: string[] = [];
  const traceEntries: TraceEntry[] = [];
  const trace = wantTrace ? traceEntries : undefined;
  const env = withVariables(mapping, baseEnv, problems);
  const scope: Scope = { focus: env.bundle, env };
  const segments: BuiltSegment[] = [];
  const rows: string[][] = [];
  if (mapping.output.format === 'hl7v2') {
    for (const rule of mapping.segments) {applyItem(rule, scope, problems, trace, segments);}
  } else {
    const scopes: Scope[] = [];
    if (mapping.rows) {
      (run(mapping.rows, scope, problems) ?? []).forEach((item, i) => scopes.push({ focus: item, env: { ...env, item, index: i + 1 } }));
    } else {scopes.push(scope);}
    scopes.forEach((s, r) => {
      const row: string[] = [];
      for (const col of mapping.columns) {
        const { out } = values(col.rule, s, `row ${r + 1} column ${col.name}`, problems, trace);
        const v = out[0] ?? '';
        if (v !== '' && col.pattern && !col.pattern.test(v)) {
          problems.push(`${col.rule.where}: row ${r + 1} column ${col.name}: value does not match the layout pattern ${col.pattern.source}`);
        }
        row.push(v);
      }
      rows.push(row);
    });
  }
  return { segments, rows, trace: traceEntries, problems };
}
