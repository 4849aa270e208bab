/*
 * Golden cases: mappings/tests/<mapping id>/<case>.json is a StoredMessage; next to it the expected output
 * <case>.hl7 (segments one per line; CR on the wire), <case>.csv, or <case>.error (the expected MappingError problems,
 * one per line, files named relative to the mappings directory). Rendered with a fixed clock and control id so
 * outputs are byte-stable. Used by `bars-bridge mappings test`, the mocha suite, and hot reload (a set whose golden
 * cases fail does not go live).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { StoredMessage } from '../protocol/bars/types.js';
import { MappingError } from './errors.js';
import { renderMessage } from './render.js';
import type { CompiledMapping } from './types.js';

/** Where golden cases find their mapping: a registry, or a set not yet in use (reload checks it before the swap). */
export interface MappingLookup {
  get(id: string): CompiledMapping | undefined;
}

/** MSH-7 of every golden case. */
export const GOLDEN_NOW = new Date('2024-03-01T09:30:05Z');
/** MSH-10 of every golden case. */
export const GOLDEN_CONTROL_ID = 'GOLDEN0001';

/** One golden case on disk. */
export interface GoldenCase {
  readonly mappingId: string;
  readonly name: string;
  readonly input: string;
  readonly expected: string;
  readonly kind: 'hl7' | 'csv' | 'error';
}

/** A golden input without an expected file yet (`mappings test --update` writes one). */
export type PendingCase = Pick<GoldenCase, 'mappingId' | 'name' | 'input'>;

/**
 * Every case under `<mappingsDir>/tests`, sorted; inputs without an expected file are `pending` (and also reported as
 * problems, for callers that only run cases).
 */
export function listGoldenCases(mappingsDir: string): { cases: GoldenCase[]; problems: string[]; pending: PendingCase[] } {
  const root = path.join(mappingsDir, 'tests');
  const cases: GoldenCase[] = [];
  const problems: string[] = [];
  const pending: PendingCase[] = [];
  if (!existsSync(root)) {return { cases, problems: [`${root}: no golden cases`], pending };}
  for (const mappingId of readdirSync(root).sort()) {
    const dir = path.join(root, mappingId);
    if (!statSync(dir).isDirectory()) {continue;}
    for (const f of readdirSync(dir).sort()) {
      if (!f.endsWith('.json')) {continue;}
      const name = f.slice(0, -5);
      const kind = (['hl7', 'csv', 'error'] as const).find((k) => existsSync(path.join(dir, `${name}.${k}`)));
      if (!kind) {
        problems.push(`${path.join(dir, f)}: no expected ${name}.hl7, .csv or .error`);
        pending.push({ mappingId, name, input: path.join(dir, f) });
      }
      else {cases.push({ mappingId, name, input: path.join(dir, f), expected: path.join(dir, `${name}.${kind}`), kind });}
    }
  }
  return { cases, problems, pending };
}

/** Output as stored in golden files: one segment (or CSV line) per line, LF, final newline. */
export function toGoldenText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/\n*$/, '\n');
}

/** Renders a case: the text (normalised as golden files keep it) or the MappingError problems, one per line. */
export function renderGoldenCase(registry: MappingLookup, c: GoldenCase): string {
  const mapping = registry.get(c.mappingId);
  if (!mapping) {return `no mapping with id ${c.mappingId}\n`;}
  const msg = JSON.parse(readFileSync(c.input, 'utf8')) as StoredMessage;
  try {
    return toGoldenText(renderMessage(mapping, msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID }).text);
  } catch (err) {
    if (!(err instanceof MappingError)) {throw err;}
    // Problems name rule files relative to the working directory; golden files keep them relative to the mappings
    // directory, so a case passes wherever the set is loaded from.
    const prefix = `${path.dirname(mapping.file)}${path.sep}`;
    return err.problems.map((p) => (p.startsWith(prefix) ? p.slice(prefix.length) : p)).join('\n') + '\n';
  }
}

function fieldsOf(line: string): string[] {
  return line.split('|');
}

/** A readable diff: per differing line, and for HL7 segments, per differing field (e.g. `PID-5: expected … got …`). */
export function goldenDiff(expected: string, actual: string, kind: GoldenCase['kind']): string {
  const e = expected.split('\n');
  const a = actual.split('\n');
  const out: string[] = [];
  for (let i = 0; i < Math.max(e.length, a.length); i++) {
    if (e[i] === a[i]) {continue;}
    if (kind === 'hl7' && e[i] !== undefined && a[i] !== undefined && e[i].slice(0, 3) === a[i].slice(0, 3)) {
      const ef = fieldsOf(e[i]);
      const af = fieldsOf(a[i]);
      const seg = e[i].slice(0, 3);
      for (let n = 1; n < Math.max(ef.length, af.length); n++) {
        if (ef[n] !== af[n]) {
          const field = seg === 'MSH' ? n + 1 : n;
          out.push(`  line ${i + 1} ${seg}-${field}: expected ${JSON.stringify(ef[n] ?? '')} got ${JSON.stringify(af[n] ?? '')}`);
        }
      }
    } else {
      out.push(`  line ${i + 1}:`, `    - ${e[i] ?? '(none)'}`, `    + ${a[i] ?? '(none)'}`);
    }
  }
  return out.join('\n');
}

/** The kind of expected file a rendered case is kept in. */
export function goldenKindOf(rendered: string): GoldenCase['kind'] {
  return rendered.startsWith('MSH|') ? 'hl7' : /\.ya?ml:\d+/.test(rendered) || rendered.startsWith('no mapping with id') ? 'error' : 'csv';
}

/** Positions that differ (`line 3 PID-5`, `line 7`), never their content: for logs, which must not carry message text. */
export function goldenDiffPositions(expected: string, actual: string, kind: GoldenCase['kind']): string[] {
  return goldenDiff(expected, actual, kind)
    .split('\n')
    .map((l) => /^ {2}(line \d+(?: [A-Z][A-Z0-9]{2}-\d+)?)/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);
}

/**
 * Runs every golden case of `dir` against `mappings`: one problem per failing case (`file: golden case fails: …`),
 * naming positions only. Used by hot reload (a set whose golden cases fail does not go live) and at start-up.
 */
export function goldenProblems(mappings: MappingLookup, dir: string): string[] {
  const { cases, problems } = listGoldenCases(dir);
  const out = problems.filter((p) => !p.endsWith(': no golden cases')).map((p) => `golden: ${p}`);
  for (const c of cases) {
    const expected = readFileSync(c.expected, 'utf8').replace(/\r\n?/g, '\n');
    const actual = renderGoldenCase(mappings, c);
    if (actual === expected) {continue;}
    const at = goldenDiffPositions(expected, actual, c.kind);
    out.push(`${c.expected}: golden case fails with these rules (${at.length > 0 ? at.slice(0, 8).join(', ') : 'output differs'}${at.length > 8 ? ', …' : ''}); see bars-bridge mappings test`);
  }
  return out;
}
