/*
 * Tool commands of the mapping engine (`bars-bridge map`, `bars-bridge mappings test`). Each command's options are
 * declared once, on its commander definition, and arrive typed in its options interface; a new option is one
 * `.option(…)` line and one field. The engine is loaded when a command runs (src/cli/context.ts says why).
 * Exit codes: 0 success, 1 mapping/golden failure, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { WORKFLOWS, type Bundle, type StoredMessage, type Workflow } from '../bars/types.js';
import { jsonOption, printJson, type Cli, type CliIo } from '../cli/context.js';
import type { MappingRegistry } from './registry.js';

const DEFAULT_DIR = 'mappings';

const mappingsDirOption = (): Option => new Option('--mappings <dir>', 'mappings directory').default(DEFAULT_DIR);

/** Options of `map`. */
export interface MapOptions {
  readonly mappings: string;
  readonly explain?: boolean;
  readonly workflow?: Workflow;
  readonly json?: boolean;
}

/** Options of `mappings test`. */
export interface MappingsTestOptions {
  readonly mappings: string;
  readonly json?: boolean;
}

/** `map <mapping> <bundle>`. */
export function mapCommand(cli: Cli): Command {
  return new Command('map')
    .summary('print what a mapping makes of a message (--explain: which rule filled each field)')
    .description(
      'print what a mapping makes of a message (HL7 segments one per line), with a fixed clock and control id like the golden cases',
    )
    .argument('<mapping>', 'mapping id (e.g. referral-new.ref-i12) or the path of a rule file')
    .argument('<bundle>', 'a stored message JSON, or a bare BaRS Bundle JSON (then the receiver is simulated: workflow inferred, planned Encounter added)')
    .option('--explain', 'also print which rule filled each field')
    .addOption(mappingsDirOption())
    .addOption(new Option('--workflow <workflow>', 'workflow of a bare Bundle (default: inferred)').choices(WORKFLOWS))
    .addOption(jsonOption())
    .action(cli.action((mapping: string, bundle: string, options: MapOptions) => runMap(mapping, bundle, options, cli)));
}

/** `mappings test` (and the `mappings` group it belongs to). */
export function mappingsCommand(cli: Cli): Command {
  const mappings = new Command('mappings').description('mapping rule tools: golden cases');
  mappings
    .command('test')
    .description('run every golden case under <mappings>/tests: ok/FAIL per case, a line/field diff for each failure')
    .addOption(mappingsDirOption())
    .addOption(jsonOption())
    .action(cli.action((options: MappingsTestOptions) => runMappingsTest(options, cli)));
  return mappings;
}

async function load(dir: string, io: CliIo, json: boolean | undefined): Promise<MappingRegistry | undefined> {
  const [{ loadMappings }, { MappingError }] = await Promise.all([import('./registry.js'), import('./errors.js')]);
  try {
    return loadMappings(dir);
  } catch (err) {
    if (!(err instanceof MappingError)) {throw err;}
    if (json) {printJson(io.out, { ok: false, problems: err.problems });}
    else {io.out.write(`${err.message}\n`);}
    return undefined;
  }
}

/** Renders one message with one mapping and prints the result. */
export async function runMap(mappingRef: string, input: string, options: MapOptions, io: CliIo): Promise<number> {
  let dir = options.mappings;
  let mappingId = mappingRef;
  if (/\.ya?ml$/.test(mappingId)) {
    dir = path.dirname(mappingId);
    mappingId = path.basename(mappingId).replace(/\.ya?ml$/, '');
  }
  const registry = await load(dir, io, options.json);
  if (!registry) {return 1;}
  // MappingError from the same (dynamically loaded) module instance as the engine that throws it.
  const [{ MappingError }, { formatExplain }, { GOLDEN_CONTROL_ID, GOLDEN_NOW }, { renderWithTrace }, { storedMessageFromBundle }] = await Promise.all([
    import('./errors.js'),
    import('./explain.js'),
    import('./golden.js'),
    import('./render.js'),
    import('./stored-message.js'),
  ]);
  const mapping = registry.get(mappingId);
  if (!mapping) {
    io.err.write(`no mapping '${mappingId}' in ${dir} (have: ${registry.mappings.map((m) => m.id).join(', ')})\n`);
    return 2;
  }
  let msg: StoredMessage;
  try {
    const json = JSON.parse(readFileSync(input, 'utf8')) as Bundle | StoredMessage;
    msg = 'bundle' in json && 'workflow' in json ? (json as StoredMessage) : storedMessageFromBundle(json as Bundle, { workflow: options.workflow });
  } catch (err) {
    io.err.write(`cannot read ${input}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  try {
    const { output, trace } = renderWithTrace(mapping, msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID });
    const text = output.text.replace(/\r\n?/g, '\n');
    if (options.json) {
      printJson(io.out, { ok: true, mapping: mapping.id, file: mapping.file, output: text, ...(options.explain ? { explain: trace } : {}) });
      return 0;
    }
    io.out.write(text);
    if (options.explain) {io.out.write(`\n# explain: ${mapping.id} (${mapping.file})\n${formatExplain(trace)}\n`);}
    return 0;
  } catch (err) {
    if (!(err instanceof MappingError)) {throw err;}
    if (options.json) {printJson(io.out, { ok: false, mapping: mapping.id, problems: err.problems });}
    else {io.out.write(`${err.message}\n`);}
    return 1;
  }
}

/** Runs every golden case; 0 when all pass, 1 otherwise. */
export async function runMappingsTest(options: MappingsTestOptions, io: CliIo): Promise<number> {
  const dir = options.mappings;
  const registry = await load(dir, io, options.json);
  if (!registry) {return 1;}
  const { goldenDiff, listGoldenCases, renderGoldenCase } = await import('./golden.js');
  const { cases, problems } = listGoldenCases(dir);
  const results = cases.map((c) => {
    const expected = readFileSync(c.expected, 'utf8').replace(/\r\n?/g, '\n');
    const actual = renderGoldenCase(registry, c);
    return { mapping: c.mappingId, name: c.name, expected: c.expected, ok: actual === expected, diff: actual === expected ? undefined : goldenDiff(expected, actual, c.kind) };
  });
  const untested = registry.mappings.filter((m) => !cases.some((c) => c.mappingId === m.id)).map((m) => m.id);
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed + problems.length;
  if (options.json) {
    printJson(io.out, { passed, failed, cases: results, problems, untested });
    return failed === 0 ? 0 : 1;
  }
  for (const p of problems) {io.out.write(`FAIL ${p}\n`);}
  for (const r of results) {
    io.out.write(r.ok ? `ok   ${r.mapping}/${r.name}\n` : `FAIL ${r.mapping}/${r.name} (${r.expected})\n${r.diff}\n`);
  }
  for (const id of untested) {io.out.write(`note ${id} has no golden case\n`);}
  io.out.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}
