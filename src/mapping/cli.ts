/*
 * Tool commands of the mapping engine, called by the bars-bridge CLI dispatcher:
 *   bars-bridge map <mapping> <bundle.json> [--explain] [--mappings <dir>] [--workflow <workflow>]
 *   bars-bridge mappings test [--mappings <dir>]
 * Exit codes: 0 success, 1 mapping/golden failure, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, StoredMessage, Workflow } from '../bars/types.js';
import { MappingError } from './errors.js';
import { formatExplain } from './explain.js';
import { goldenDiff, GOLDEN_CONTROL_ID, GOLDEN_NOW, listGoldenCases, renderGoldenCase } from './golden.js';
import { loadMappings, type MappingRegistry } from './registry.js';
import { renderWithTrace } from './render.js';
import { storedMessageFromBundle } from './stored-message.js';

const DEFAULT_DIR = 'mappings';

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) {return undefined;}
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
}

function flag(argv: string[], name: string): boolean {
  const i = argv.indexOf(name);
  if (i >= 0) {argv.splice(i, 1);}
  return i >= 0;
}

function load(dir: string, out: NodeJS.WritableStream): MappingRegistry | undefined {
  try {
    return loadMappings(dir);
  } catch (err) {
    if (!(err instanceof MappingError)) {throw err;}
    out.write(`${err.message}\n`);
    return undefined;
  }
}

/**
 * `bars-bridge map <mapping> <bundle.json> [--explain]`: renders one message with one mapping and prints the result
 * (HL7 segments one per line). `<mapping>` is a mapping id or the path of a rule file; `<bundle.json>` is a
 * StoredMessage or a bare BaRS Bundle (then the receiver's view is simulated: workflow inferred, planned Encounter
 * added). Uses a fixed clock and control id, like the golden cases, so runs are comparable.
 */
export async function mapCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const args = [...argv];
  const explain = flag(args, '--explain');
  let dir = option(args, '--mappings') ?? DEFAULT_DIR;
  const workflow = option(args, '--workflow') as Workflow | undefined;
  if (args.length !== 2) {
    out.write('usage: bars-bridge map <mapping> <bundle.json> [--explain] [--mappings <dir>] [--workflow <workflow>]\n');
    return 2;
  }
  const input = args[1];
  let mappingId = args[0];
  if (/\.ya?ml$/.test(mappingId)) {
    dir = path.dirname(mappingId);
    mappingId = path.basename(mappingId).replace(/\.ya?ml$/, '');
  }
  const registry = load(dir, out);
  if (!registry) {return 1;}
  const mapping = registry.get(mappingId);
  if (!mapping) {
    out.write(`no mapping '${mappingId}' in ${dir} (have: ${registry.mappings.map((m) => m.id).join(', ')})\n`);
    return 2;
  }
  let msg: StoredMessage;
  try {
    const json = JSON.parse(readFileSync(input, 'utf8')) as Bundle | StoredMessage;
    msg = 'bundle' in json && 'workflow' in json ? (json as StoredMessage) : storedMessageFromBundle(json as Bundle, { workflow });
  } catch (err) {
    out.write(`cannot read ${input}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  try {
    const { output, trace } = renderWithTrace(mapping, msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID });
    out.write(output.text.replace(/\r\n?/g, '\n'));
    if (explain) {out.write(`\n# explain: ${mapping.id} (${mapping.file})\n${formatExplain(trace)}\n`);}
    return 0;
  } catch (err) {
    if (!(err instanceof MappingError)) {throw err;}
    out.write(`${err.message}\n`);
    return 1;
  }
}

/**
 * `bars-bridge mappings test`: runs every golden case under `<mappings>/tests` and prints `ok`/`FAIL` per case, with
 * a line/field diff for each failure. Returns 0 when all pass, 1 otherwise.
 */
export async function mappingsTestCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const args = [...argv];
  const dir = option(args, '--mappings') ?? DEFAULT_DIR;
  const registry = load(dir, out);
  if (!registry) {return 1;}
  const { cases, problems } = listGoldenCases(dir);
  for (const p of problems) {out.write(`FAIL ${p}\n`);}
  let failed = problems.length;
  for (const c of cases) {
    const expected = readFileSync(c.expected, 'utf8').replace(/\r\n?/g, '\n');
    const actual = renderGoldenCase(registry, c);
    if (actual === expected) {out.write(`ok   ${c.mappingId}/${c.name}\n`);}
    else {
      failed++;
      out.write(`FAIL ${c.mappingId}/${c.name} (${c.expected})\n${goldenDiff(expected, actual, c.kind)}\n`);
    }
  }
  const untested = registry.mappings.filter((m) => !cases.some((c) => c.mappingId === m.id));
  for (const m of untested) {out.write(`note ${m.id} has no golden case\n`);}
  out.write(`${cases.length - (failed - problems.length)} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}
