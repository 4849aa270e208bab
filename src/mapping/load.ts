/*
 * Loads a mappings directory: value tables (tables/*.yaml), destinations (destinations.yaml) and every rule file
 * (*.yaml at the top level; fragments under _shared/ are pulled in with `include:`). Every FHIRPath expression is
 * compiled once here. Nothing stops at the first problem: a broken set is reported with EVERY problem as
 * `file:line: what is wrong`, and the caller (MappingRegistry) keeps the previous good set.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { WORKFLOWS, type Workflow } from '../protocol/bars/types.js';
import { compileExpression } from './compile.js';
import { CONTEXT_VARIABLES } from './context.js';
import { dictionaryFor } from './hl7-dictionary.js';
import type { HL7Dictionary } from 'hl7v2';
import { makeTable, type ValueTable } from './tables.js';
import type {
  ColumnRule,
  CompiledExpression,
  CompiledMapping,
  FieldRule,
  FlatOutput,
  GroupRule,
  Hl7Output,
  Overflow,
  SegmentItem,
  SegmentRule,
  ValueFormat,
  ValueRule,
} from './types.js';
import { structureCheck } from './structure-check.js';
import { parseYamlSource, type SourceFile } from './yaml-source.js';

/** The result of reading a directory: the compiled mappings, or the problems that stop it being used. */
export interface LoadResult {
  readonly mappings: readonly CompiledMapping[];
  readonly tables: ReadonlyMap<string, ValueTable>;
  readonly problems: readonly string[];
}

/** MSH fields the engine writes itself (separators, MSH-7 from `now`, MSH-9 from the output, MSH-10, MSH-12). */
const ENGINE_MSH_FIELDS = new Set([1, 2, 7, 9, 10, 12]);
const VALUE_KEYS = ['expr', 'value', 'required', 'table', 'format', 'maxLength', 'overflow', 'default', 'when', 'repeat'];
const FIELD_TARGET = /^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+)(?:\.(\d+))?)?$/;
const COMPONENT_TARGET = /^(\d+)(?:\.(\d+))?$/;
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]*$/;

type Path = Array<string | number>;

/** Collects problems for one source file. */
class Checker {
  constructor(
    readonly src: SourceFile,
    readonly problems: string[],
  ) {}

  fail(p: Path, message: string): void {
    this.problems.push(`${this.src.at(p)}: ${message}`);
  }

  map(p: Path, v: unknown, what: string): Record<string, unknown> | undefined {
    if (v && typeof v === 'object' && !Array.isArray(v)) {return v as Record<string, unknown>;}
    this.fail(p, `${what} must be a mapping (key: value)`);
    return undefined;
  }

  keys(p: Path, obj: Record<string, unknown>, allowed: readonly string[], what: string): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) {this.fail([...p, k], `unknown key '${k}' in ${what} (expected one of: ${allowed.join(', ')})`);}
    }
  }

  string(p: Path, v: unknown, what: string, required: boolean): string | undefined {
    if (v === undefined || v === null) {
      if (required) {this.fail(p, `${what} is required`);}
      return undefined;
    }
    if (typeof v === 'string' && v.trim() !== '') {return v;}
    if (typeof v === 'number' || typeof v === 'boolean') {return String(v);}
    this.fail(p, `${what} must be a non-empty string`);
    return undefined;
  }

  bool(p: Path, v: unknown, what: string): boolean {
    if (v === undefined || v === null) {return false;}
    if (typeof v === 'boolean') {return v;}
    this.fail(p, `${what} must be true or false`);
    return false;
  }

  strings(p: Path, v: unknown, what: string): string[] {
    if (v === undefined || v === null) {return [];}
    if (!Array.isArray(v)) {
      this.fail(p, `${what} must be a list`);
      return [];
    }
    const out: string[] = [];
    v.forEach((item, i) => {
      const s = this.string([...p, i], item, `${what} item`, true);
      if (s !== undefined) {out.push(s);}
    });
    return out;
  }
}

/** Where expressions of a mapping are compiled: which `%names` exist, the dictionary, tables. */
interface Scope {
  readonly variables: readonly string[];
  readonly tables: ReadonlyMap<string, ValueTable>;
  readonly dictionary: HL7Dictionary | undefined;
  readonly structureSegments: ReadonlySet<string> | undefined;
  readonly structureGroups: ReadonlySet<string> | undefined;
}

function expr(c: Checker, p: Path, source: unknown, what: string, scope: Scope, extra: readonly string[] = []): CompiledExpression | undefined {
  const s = c.string(p, source, what, true);
  if (s === undefined) {return undefined;}
  return compileExpression(s, c.src.at(p), [...scope.variables, ...extra], c.problems);
}

/** Compiles one value rule (scalar = FHIRPath expression, or a map of options). */
function valueRule(
  c: Checker,
  p: Path,
  spec: unknown,
  label: string,
  position: ValueRule['position'],
  scope: Scope,
  extra: readonly string[],
): ValueRule | undefined {
  const where = c.src.at(p);
  const o: Record<string, unknown> = typeof spec === 'string' ? { expr: spec } : (c.map(p, spec, `rule for ${label}`) ?? {});
  c.keys(p, o, VALUE_KEYS, `rule for ${label}`);
  if ((o.expr === undefined) === (o.value === undefined)) {
    c.fail(p, `rule for ${label} needs exactly one of 'expr' (FHIRPath) or 'value' (constant)`);
  }
  const expression = o.expr !== undefined ? expr(c, [...p, 'expr'], o.expr, `${label} expr`, scope, extra) : undefined;
  const constant = o.value !== undefined ? c.string([...p, 'value'], o.value, `${label} value`, true) : undefined;
  const when = o.when !== undefined ? expr(c, [...p, 'when'], o.when, `${label} when`, scope, extra) : undefined;
  let table: ValueTable | undefined;
  if (o.table !== undefined) {
    const id = c.string([...p, 'table'], o.table, 'table', true);
    table = id === undefined ? undefined : scope.tables.get(id);
    if (id !== undefined && !table) {c.fail([...p, 'table'], `unknown value table '${id}' (no mappings/tables/${id}.yaml)`);}
  }
  const format = (o.format ?? 'text') as ValueFormat;
  if (!['text', 'ts', 'date'].includes(format)) {c.fail([...p, 'format'], `format must be text, ts or date`);}
  let maxLength: number | undefined;
  if (o.maxLength !== undefined) {
    if (typeof o.maxLength === 'number' && Number.isInteger(o.maxLength) && o.maxLength > 0) {maxLength = o.maxLength;}
    else {c.fail([...p, 'maxLength'], 'maxLength must be a positive integer');}
  }
  const overflow = (o.overflow ?? 'error') as Overflow;
  if (!['error', 'nte'].includes(overflow)) {c.fail([...p, 'overflow'], `overflow must be 'error' or 'nte'`);}
  if (o.overflow !== undefined && maxLength === undefined) {c.fail([...p, 'overflow'], 'overflow needs maxLength');}
  return {
    kind: 'value',
    label,
    position,
    expression,
    constant,
    when,
    required: c.bool([...p, 'required'], o.required, 'required'),
    table,
    format,
    maxLength,
    overflow,
    defaultValue: o.default !== undefined ? c.string([...p, 'default'], o.default, 'default', true) : undefined,
    repeat: c.bool([...p, 'repeat'], o.repeat, 'repeat'),
    where,
  };
}

/** Checks a field/component position against the dictionary definition of the segment (non-Z segments). */
function checkPosition(c: Checker, p: Path, scope: Scope, segment: string, field: number, component: number): void {
  const dict = scope.dictionary;
  if (!dict || (segment.startsWith('Z') && !dict.segments[segment])) {return;}
  const seg = dict.segments[segment];
  if (!seg) {return;} // reported at segment level
  const fdef = seg.fields[field];
  if (!fdef) {
    c.fail(p, `${segment}-${field} does not exist in HL7 v${dict.version} (${segment} has ${Object.keys(seg.fields).length} fields)`);
    return;
  }
  const tdef = dict.types[fdef.type];
  const comps = tdef?.fields ? Object.keys(tdef.fields).length : 1;
  if (component > comps) {c.fail(p, `${segment}-${field} is ${fdef.type} with ${comps} component(s); there is no component ${component}`);}
}

function segmentRule(c: Checker, p: Path, spec: Record<string, unknown>, scope: Scope): SegmentRule | undefined {
  c.keys(p, spec, ['segment', 'when', 'foreach', 'required', 'fields'], 'segment rule');
  const segment = c.string([...p, 'segment'], spec.segment, 'segment', true);
  if (segment === undefined) {return undefined;}
  if (!/^[A-Z][A-Z0-9]{2}$/.test(segment)) {
    c.fail([...p, 'segment'], `'${segment}' is not a segment name`);
    return undefined;
  }
  if (scope.dictionary && !segment.startsWith('Z') && !scope.dictionary.segments[segment]) {
    c.fail([...p, 'segment'], `segment ${segment} is not defined in HL7 v${scope.dictionary.version}`);
  }
  if (scope.structureSegments && !segment.startsWith('Z') && !scope.structureSegments.has(segment)) {
    c.fail([...p, 'segment'], `segment ${segment} is not part of the message structure`);
  }
  const outer = spec.foreach !== undefined ? ['item', 'index'] : [];
  const foreach = spec.foreach !== undefined ? expr(c, [...p, 'foreach'], spec.foreach, 'foreach', scope) : undefined;
  const when = spec.when !== undefined ? expr(c, [...p, 'when'], spec.when, 'when', scope, outer) : undefined;
  const fields: FieldRule[] = [];
  const fieldsSpec = spec.fields === undefined ? {} : c.map([...p, 'fields'], spec.fields, 'fields');
  for (const [target, fspec] of Object.entries(fieldsSpec ?? {})) {
    const fp = [...p, 'fields', target];
    const m = FIELD_TARGET.exec(target);
    if (!m || m[1] !== segment) {
      c.fail(fp, `target '${target}' must look like ${segment}-<field>[.<component>[.<sub-component>]]`);
      continue;
    }
    const field = Number(m[2]);
    if (segment === 'MSH' && ENGINE_MSH_FIELDS.has(field)) {
      c.fail(fp, `MSH-${field} is written by the engine (separators, MSH-7 now, MSH-9 output, MSH-10 control id, MSH-12 version)`);
      continue;
    }
    const isRepeating = fspec && typeof fspec === 'object' && 'foreach' in (fspec as object);
    if (isRepeating) {
      if (m[3] !== undefined) {c.fail(fp, `a repeating field rule targets a whole field (${segment}-${field}), not a component`);}
      const o = fspec as Record<string, unknown>;
      c.keys(fp, o, ['foreach', 'when', 'required', 'components'], `repeating field ${target}`);
      const rf = expr(c, [...fp, 'foreach'], o.foreach, 'foreach', scope, outer);
      const comps: ValueRule[] = [];
      const compSpec = c.map([...fp, 'components'], o.components, 'components') ?? {};
      for (const [ck, cspec] of Object.entries(compSpec)) {
        const cp = [...fp, 'components', ck];
        const cm = COMPONENT_TARGET.exec(ck);
        if (!cm) {
          c.fail(cp, `component key '${ck}' must be <component>[.<sub-component>]`);
          continue;
        }
        const position = { field, component: Number(cm[1]), subComponent: Number(cm[2] ?? 1) };
        checkPosition(c, cp, scope, segment, field, position.component);
        const vr = valueRule(c, cp, cspec, `${segment}-${field}.${ck}`, position, scope, [...outer, 'rep', 'repIndex']);
        if (vr) {comps.push(vr);}
      }
      if (rf) {
        fields.push({
          kind: 'repeating',
          label: target,
          field,
          foreach: rf,
          when: o.when !== undefined ? expr(c, [...fp, 'when'], o.when, 'when', scope, outer) : undefined,
          required: c.bool([...fp, 'required'], o.required, 'required'),
          components: comps,
          where: c.src.at(fp),
        });
      }
      continue;
    }
    const position = { field, component: Number(m[3] ?? 1), subComponent: Number(m[4] ?? 1) };
    checkPosition(c, fp, scope, segment, field, position.component);
    const vr = valueRule(c, fp, fspec, target, position, scope, outer);
    if (vr) {fields.push(vr);}
  }
  return {
    kind: 'segment',
    segment,
    when,
    foreach,
    required: c.bool([...p, 'required'], spec.required, 'required'),
    fields,
    where: c.src.at(p),
  };
}

/** Reads the `segments:` list, following `include:` into fragment files (each read and reported with its own lines). */
function segmentList(
  c: Checker,
  p: Path,
  list: unknown,
  scope: Scope,
  ctx: { dir: string; display: string; seen: readonly string[] },
): SegmentItem[] {
  if (!Array.isArray(list)) {
    c.fail(p, 'segments must be a list');
    return [];
  }
  const out: SegmentItem[] = [];
  list.forEach((item, i) => {
    const ip = [...p, i];
    const o = c.map(ip, item, 'segment rule');
    if (!o) {return;}
    if ('include' in o) {
      c.keys(ip, o, ['include'], 'include');
      const rel = c.string([...ip, 'include'], o.include, 'include', true);
      if (rel === undefined) {return;}
      const abs = path.resolve(ctx.dir, rel);
      if (ctx.seen.includes(abs)) {
        c.fail(ip, `include cycle through ${rel}`);
        return;
      }
      let text: string;
      try {
        text = readFileSync(abs, 'utf8');
      } catch {
        c.fail([...ip, 'include'], `cannot read included file ${rel}`);
        return;
      }
      const src = parseYamlSource(path.join(ctx.display, rel), text, c.problems);
      if (!src) {return;}
      const fc = new Checker(src, c.problems);
      const frag = fc.map([], src.value, 'fragment file');
      if (!frag) {return;}
      fc.keys([], frag, ['description', 'segments'], 'fragment file');
      fc.string(['description'], frag.description, 'description', true);
      out.push(...segmentList(fc, ['segments'], frag.segments, scope, { ...ctx, seen: [...ctx.seen, abs] }));
      return;
    }
    if ('group' in o) {
      const rule = groupRule(c, ip, o, scope, ctx);
      if (rule) {out.push(rule);}
      return;
    }
    const rule = segmentRule(c, ip, o, scope);
    if (rule) {out.push(rule);}
  });
  return out;
}

/** A `group:` entry: segment rules written together (once, per `foreach` item, or not at all when `when` fails). */
function groupRule(
  c: Checker,
  p: Path,
  spec: Record<string, unknown>,
  scope: Scope,
  ctx: { dir: string; display: string; seen: readonly string[] },
): GroupRule | undefined {
  c.keys(p, spec, ['group', 'when', 'foreach', 'segments'], 'group rule');
  const group = c.string([...p, 'group'], spec.group, 'group', true);
  if (group === undefined) {return undefined;}
  if (scope.structureGroups && !scope.structureGroups.has(group)) {
    c.fail([...p, 'group'], `${group} is not a group of the message structure (groups: ${[...scope.structureGroups].join(', ') || 'none'})`);
  }
  const outer = spec.foreach !== undefined ? ['item', 'index'] : [];
  const foreach = spec.foreach !== undefined ? expr(c, [...p, 'foreach'], spec.foreach, 'foreach', scope) : undefined;
  const when = spec.when !== undefined ? expr(c, [...p, 'when'], spec.when, 'when', scope, outer) : undefined;
  const inner: Scope = { ...scope, variables: [...scope.variables, ...outer] };
  const segments = segmentList(c, [...p, 'segments'], spec.segments, inner, ctx);
  return { kind: 'group', group, when, foreach, segments, where: c.src.at(p) };
}

/** The segment names and the group names of a message structure, or undefined when the dictionary has no such structure. */
function structureNamesOf(dict: HL7Dictionary, structure: string): { segments: Set<string>; groups: Set<string> } | undefined {
  const def = dict.messages[structure];
  if (!def) {return undefined;}
  const segments = new Set<string>();
  const groups = new Set<string>();
  const walk = (segs: Record<string, { segments?: Record<string, unknown> }> | undefined): void => {
    for (const [name, d] of Object.entries(segs ?? {})) {
      if (d.segments) {
        groups.add(name);
        walk(d.segments as Record<string, { segments?: Record<string, unknown> }>);
      } else {segments.add(name);}
    }
  };
  walk(def.segments as Record<string, { segments?: Record<string, unknown> }>);
  return { segments, groups };
}

/** The `output:` block: HL7 v2 (version, MSH-9, and the structure the dictionary knows) or a flat file. */
function readOutput(c: Checker, top: Record<string, unknown>): { output: Hl7Output | FlatOutput; dictionary?: HL7Dictionary; structure?: { segments: Set<string>; groups: Set<string> } } | undefined {
  const out = c.map(['output'], top.output, 'output');
  if (!out) {return undefined;}
  if (out.format === 'hl7v2') {
    c.keys(['output'], out, ['format', 'version', 'messageType'], 'output');
    if (typeof out.version !== 'string') {c.fail(['output', 'version'], `version must be a quoted string such as '2.4'`);}
    const version = String(out.version ?? '');
    const dictionary = dictionaryFor(version);
    if (!dictionary) {c.fail(['output', 'version'], `HL7 version '${version}' is not known to hl7v2-dictionary`);}
    const messageType = c.string(['output', 'messageType'], out.messageType, 'messageType', true) ?? '';
    const mt = /^([A-Z]{3})\^([A-Z0-9]{3})\^([A-Z0-9_]+)$/.exec(messageType);
    let structure: { segments: Set<string>; groups: Set<string> } | undefined;
    if (!mt) {c.fail(['output', 'messageType'], `messageType must be TYPE^TRIGGER^STRUCTURE, e.g. REF^I12^REF_I12`);}
    else if (dictionary) {
      structure = structureNamesOf(dictionary, mt[3]);
      if (!structure) {c.fail(['output', 'messageType'], `message structure ${mt[3]} is not defined in HL7 v${version}`);}
    }
    return { output: { format: 'hl7v2', version, messageType, structure: mt?.[3] ?? '' }, ...(dictionary ? { dictionary } : {}), ...(structure ? { structure } : {}) };
  }
  if (out.format === 'flat') {
    c.keys(['output'], out, ['format', 'delimiter', 'header', 'lineEnding'], 'output');
    const delimiter = c.string(['output', 'delimiter'], out.delimiter, 'delimiter', false) ?? ',';
    if (delimiter.length !== 1 || delimiter === '"') {c.fail(['output', 'delimiter'], 'delimiter must be one character other than "');}
    const le = out.lineEnding ?? 'crlf';
    if (le !== 'crlf' && le !== 'lf') {c.fail(['output', 'lineEnding'], `lineEnding must be crlf or lf`);}
    return { output: { format: 'flat', delimiter, header: out.header === undefined ? true : c.bool(['output', 'header'], out.header, 'header'), lineEnding: le === 'lf' ? '\n' : '\r\n' } };
  }
  c.fail(['output', 'format'], `output.format must be hl7v2 or flat`);
  return undefined;
}

/** The `let:` block, compiled in order (each variable sees the ones before it); the scope the rules then see. */
function readVariables(c: Checker, top: Record<string, unknown>, base: Omit<Scope, 'variables'>): { variables: Array<{ name: string; expression: CompiledExpression }>; scope: Scope } {
  const variables: Array<{ name: string; expression: CompiledExpression }> = [];
  const names: string[] = [...CONTEXT_VARIABLES, 'destination'];
  const letSpec = top.let === undefined ? {} : (c.map(['let'], top.let, 'let') ?? {});
  for (const [name, source] of Object.entries(letSpec)) {
    if (!IDENTIFIER.test(name) || names.includes(name) || name === 'item' || name === 'index') {
      c.fail(['let', name], `'${name}' cannot be a variable name (identifier, not a built-in)`);
      continue;
    }
    const e = expr(c, ['let', name], source, `let ${name}`, { ...base, variables: names });
    if (e) {variables.push({ name, expression: e });}
    names.push(name);
  }
  return { variables, scope: { ...base, variables: names } };
}

/** The `rows:` and `columns:` of a flat-file mapping. */
function readColumns(c: Checker, top: Record<string, unknown>, scope: Scope): { columns: ColumnRule[]; rows: CompiledExpression | undefined } {
  if (top.segments !== undefined) {c.fail(['segments'], 'segments belong to hl7v2 mappings');}
  const columns: ColumnRule[] = [];
  const extra = top.rows !== undefined ? ['item', 'index'] : [];
  const rows = top.rows !== undefined ? expr(c, ['rows'], top.rows, 'rows', scope) : undefined;
  if (!Array.isArray(top.columns) || top.columns.length === 0) {
    c.fail(['columns'], 'columns must be a non-empty list');
    return { columns, rows };
  }
  top.columns.forEach((col, i) => {
    const cp = ['columns', i];
    const o = c.map(cp, col, 'column');
    if (!o) {return;}
    const { name, pattern, ...rest } = o;
    const n = c.string([...cp, 'name'], name, 'column name', true);
    let re: RegExp | undefined;
    if (pattern !== undefined) {
      try {
        re = new RegExp(String(pattern));
      } catch {
        c.fail([...cp, 'pattern'], 'pattern is not a valid regular expression');
      }
    }
    const vr = valueRule(c, cp, rest, n ?? `column ${i + 1}`, { field: i + 1, component: 1, subComponent: 1 }, scope, extra);
    if (n !== undefined && vr) {columns.push({ name: n, rule: vr, pattern: re });}
  });
  return { columns, rows };
}

function loadMappingFile(
  c: Checker,
  fileStem: string,
  tables: ReadonlyMap<string, ValueTable>,
  destinations: ReadonlyMap<string, Record<string, string>>,
  ctx: { dir: string; display: string },
): CompiledMapping | undefined {
  const top = c.map([], c.src.value, 'mapping file');
  if (!top) {return undefined;}
  c.keys([], top, ['id', 'description', 'workflows', 'useCases', 'destination', 'output', 'let', 'segments', 'columns', 'rows'], 'mapping file');
  const id = c.string(['id'], top.id, 'id', false) ?? fileStem;
  const description = c.string(['description'], top.description, 'description', true) ?? '';
  const workflows = c.strings(['workflows'], top.workflows, 'workflows');
  if (workflows.length === 0) {c.fail(['workflows'], 'workflows must list at least one workflow');}
  workflows.forEach((w, i) => {
    if (!(WORKFLOWS as readonly string[]).includes(w)) {c.fail(['workflows', i], `unknown workflow '${w}' (see WORKFLOWS in src/protocol/bars/types.ts)`);}
  });
  const useCases = c.strings(['useCases'], top.useCases, 'useCases').map((u) => u.toLowerCase());
  const destination = c.string(['destination'], top.destination, 'destination', false) ?? 'pas';
  const destinationSettings = destinations.get(destination);
  if (!destinationSettings) {c.fail(['destination'], `unknown destination '${destination}' (not in mappings/destinations.yaml)`);}

  const read = readOutput(c, top);
  if (!read) {return undefined;}
  const { output, dictionary, structure } = read;
  const { variables, scope } = readVariables(c, top, { tables, dictionary, structureSegments: structure?.segments, structureGroups: structure?.groups });

  let segments: SegmentItem[] = [];
  let flat: { columns: ColumnRule[]; rows: CompiledExpression | undefined } = { columns: [], rows: undefined };
  if (output.format === 'hl7v2') {
    if (top.columns !== undefined) {c.fail(['columns'], 'columns belong to flat-file mappings');}
    segments = segmentList(c, ['segments'], top.segments, scope, { ...ctx, seen: [] });
    if (dictionary && structure) {
      c.problems.push(...structureCheck(dictionary, output.structure, segments, c.src.at(['output', 'messageType'])));
    }
  } else {
    flat = readColumns(c, top, scope);
  }
  return {
    id,
    file: c.src.file,
    description,
    workflows: workflows as Workflow[],
    useCases,
    destination,
    output,
    variables,
    segments,
    columns: flat.columns,
    rows: flat.rows,
    destinationSettings: destinationSettings ?? {},
  };
}

function yamlFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
      .filter((f) => statSync(path.join(dir, f)).isFile())
      .sort();
  } catch {
    return [];
  }
}

/**
 * Reads and compiles every file of a mappings directory. Never throws for bad content: problems are returned, and a
 * result with problems must not be used.
 */
export function loadMappingSet(dir: string): LoadResult {
  const problems: string[] = [];
  const display = path.relative(process.cwd(), dir) || '.';
  try {
    if (!statSync(dir).isDirectory()) {throw new Error();}
  } catch {
    return { mappings: [], tables: new Map(), problems: [`${display}: not a directory`] };
  }

  const tables = new Map<string, ValueTable>();
  for (const f of yamlFiles(path.join(dir, 'tables'))) {
    const rel = path.join(display, 'tables', f);
    const src = parseYamlSource(rel, readFileSync(path.join(dir, 'tables', f), 'utf8'), problems);
    if (!src) {continue;}
    const c = new Checker(src, problems);
    const o = c.map([], src.value, 'table file');
    if (!o) {continue;}
    c.keys([], o, ['description', 'map', 'default'], 'table file');
    const description = c.string(['description'], o.description, 'description', true) ?? '';
    const map = c.map(['map'], o.map, 'map') ?? {};
    const entries: Array<[string, string]> = [];
    for (const [k, v] of Object.entries(map)) {
      const s = c.string(['map', k], v, `target code for '${k}'`, true);
      if (s !== undefined) {entries.push([k, s]);}
    }
    const id = f.replace(/\.ya?ml$/, '');
    tables.set(id, makeTable(id, description, entries, o.default === undefined ? undefined : c.string(['default'], o.default, 'default', true), src.at([])));
  }

  const destinations = new Map<string, Record<string, string>>();
  const destFile = path.join(dir, 'destinations.yaml');
  let destText: string | undefined;
  try {
    destText = readFileSync(destFile, 'utf8');
  } catch {
    problems.push(`${path.join(display, 'destinations.yaml')}:1: missing (every mapping names a destination)`);
  }
  if (destText !== undefined) {
    const src = parseYamlSource(path.join(display, 'destinations.yaml'), destText, problems);
    if (src) {
      const c = new Checker(src, problems);
      for (const [name, v] of Object.entries(c.map([], src.value, 'destinations file') ?? {})) {
        const settings: Record<string, string> = {};
        for (const [k, s] of Object.entries(c.map([name], v, `destination ${name}`) ?? {})) {
          const str = c.string([name, k], s, `${name}.${k}`, true);
          if (str !== undefined) {settings[k] = str;}
        }
        destinations.set(name, settings);
      }
    }
  }

  const mappings: CompiledMapping[] = [];
  const ids = new Map<string, string>();
  // A fragment under _shared/ is read once per mapping that includes it; its problems are reported once, naming them.
  const byProblem = new Map<string, string[]>();
  for (const f of yamlFiles(dir)) {
    if (f === 'destinations.yaml') {continue;}
    const rel = path.join(display, f);
    const own: string[] = [];
    const src = parseYamlSource(rel, readFileSync(path.join(dir, f), 'utf8'), own);
    const c = src ? new Checker(src, own) : undefined;
    const m = c ? loadMappingFile(c, f.replace(/\.ya?ml$/, ''), tables, destinations, { dir, display }) : undefined;
    if (c && m) {
      const prev = ids.get(m.id);
      if (prev) {c.fail(['id'], `mapping id '${m.id}' is also used by ${prev}`);}
      ids.set(m.id, rel);
      mappings.push(m);
    }
    for (const p of own) {
      const users = byProblem.get(p) ?? [];
      if (users.length === 0) {byProblem.set(p, users);}
      if (!users.includes(rel)) {users.push(rel);}
    }
  }
  for (const [p, users] of byProblem) {
    const inFile = (file: string): boolean => p.startsWith(`${file}:`);
    problems.push(users.length === 1 && inFile(users[0]) ? p : `${p} (in ${users.length === 1 ? 'mapping' : 'mappings'} ${users.join(', ')})`);
  }
  if (mappings.length === 0 && problems.length === 0) {problems.push(`${display}: no mapping files (*.yaml)`);}
  return { mappings, tables, problems };
}
