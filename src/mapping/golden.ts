/*
 * Golden cases: mappings/tests/<mapping id>/<case>.json is a StoredMessage; next to it the expected output
 * <case>.hl7 (segments one per line; CR on the wire), <case>.csv, or <case>.error (the expected MappingError problems,
 * one per line). Rendered with a fixed clock and control id so outputs are byte-stable. Used by
 * `bars-bridge mappings test` and by the mocha suite.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { StoredMessage } from '../bars/types.js';
import { MappingError } from './errors.js';
import type { MappingRegistry } from './registry.js';
import { renderMessage } from './render.js';

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

/** Every case under `<mappingsDir>/tests`, sorted; cases without an expected file are reported as problems. */
export function listGoldenCases(mappingsDir: string): { cases: GoldenCase[]; problems: string[] } {
  const root = path.join(mappingsDir, 'tests');
  const cases: GoldenCase[] = [];
  const problems: string[] = [];
  if (!existsSync(root)) {return { cases, problems: [`${root}: no golden cases`] };}
  for (const mappingId of readdirSync(root).sort()) {
    const dir = path.join(root, mappingId);
    if (!statSync(dir).isDirectory()) {continue;}
    for (const f of readdirSync(dir).sort()) {
      if (!f.endsWith('.json')) {continue;}
      const name = f.slice(0, -5);
      const kind = (['hl7', 'csv', 'error'] as const).find((k) => existsSync(path.join(dir, `${name}.${k}`)));
      if (!kind) {problems.push(`${path.join(dir, f)}: no expected ${name}.hl7, .csv or .error`);}
      else {cases.push({ mappingId, name, input: path.join(dir, f), expected: path.join(dir, `${name}.${kind}`), kind });}
    }
  }
  return { cases, problems };
}

/** Output as stored in golden files: one segment (or CSV line) per line, LF, final newline. */
export function toGoldenText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/\n*$/, '\n');
}

/** Renders a case: the text (normalised as golden files keep it) or the MappingError problems, one per line. */
export function renderGoldenCase(registry: MappingRegistry, c: GoldenCase): string {
  const mapping = registry.get(c.mappingId);
  if (!mapping) {return `no mapping with id ${c.mappingId}\n`;}
  const msg = JSON.parse(readFileSync(c.input, 'utf8')) as StoredMessage;
  try {
    return toGoldenText(renderMessage(mapping, msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID }).text);
  } catch (err) {
    if (err instanceof MappingError) {return err.problems.join('\n') + '\n';}
    throw err;
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
