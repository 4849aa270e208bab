/*
 * Tool commands of the mapping engine (`bars-bridge map`, `bars-bridge mappings test`). Each command's options are
 * declared once, on its commander definition, and arrive typed in its options interface; a new option is one
 * `.option(…)` line and one field. The engine is loaded when a command runs (src/cli/context.ts says why).
 *   map [<mapping>] --message <reference | message id> re-renders stored messages with the current mappings;
 *   mappings test [--update] shows each failing case's diff and, with --update, rewrites its expected file.
 * Exit codes: 0 success, 1 mapping/golden failure (or no such message), 2 usage error.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { WORKFLOWS, type Bundle, type StoredMessage, type Workflow } from '../protocol/bars/types.js';
import { jsonOption, printJson, redisOptions, UsageError, type Cli, type CliIo, type RedisCliOptions } from '../cli/context.js';
import type { MappingRegistry } from './registry.js';
import type { CompiledMapping } from './types.js';
import type { GoldenCase } from './golden.js';

const DEFAULT_DIR = 'mappings';

const mappingsDirOption = (): Option => new Option('--mappings <dir>', 'mappings directory').default(DEFAULT_DIR);

/** Options of `map`. */
export interface MapOptions extends RedisCliOptions {
  readonly mappings: string;
  /** Render stored messages (our reference, record id, message id, request id, Bundle id or MSH-10) instead of a file. */
  readonly message?: string;
  readonly explain?: boolean;
  readonly workflow?: Workflow;
  readonly json?: boolean;
}

/** Options of `mappings test`. */
export interface MappingsTestOptions {
  readonly mappings: string;
  readonly update?: boolean;
  readonly json?: boolean;
}

/** `map <mapping> <bundle>`. */
export function mapCommand(cli: Cli): Command {
  const command = new Command('map')
    .summary('print what a mapping makes of a message (--explain: which rule filled each field)')
    .description(
      'print what a mapping makes of a message (HL7 segments one per line), with a fixed clock and control id like the golden cases',
    )
    .argument('[mapping]', 'mapping id (e.g. referral-new.ref-i12) or the path of a rule file (with --message: only this mapping)')
    .argument('[bundle]', 'a stored message JSON, or a bare BaRS Bundle JSON (then the receiver is simulated: workflow inferred, planned Encounter added)')
    .option('--message <key>', 're-render stored messages instead: every message of a record (our reference BB-…, record id) or one (message id, request id, Bundle id, MSH-10)')
    .option('--explain', 'also print which rule filled each field, and which rules produced nothing and why')
    .addOption(mappingsDirOption())
    .addOption(new Option('--workflow <workflow>', 'workflow of a bare Bundle (default: inferred)').choices(WORKFLOWS))
    .addOption(jsonOption());
  return redisOptions(command).action(
    cli.action((mapping: string | undefined, bundle: string | undefined, options: MapOptions) => {
      if (options.message !== undefined) {
        if (bundle !== undefined || options.workflow !== undefined) {
          throw new UsageError('map --message takes at most a mapping id, no bundle file or --workflow');
        }
        return runMapStored(options.message, mapping, options, cli);
      }
      if (mapping === undefined || bundle === undefined) {
        throw new UsageError('map needs <mapping> <bundle>, or --message <key>');
      }
      return runMap(mapping, bundle, options, cli);
    }),
  );
}

/** `mappings test` (and the `mappings` group it belongs to). */
export function mappingsCommand(cli: Cli): Command {
  const mappings = new Command('mappings').description('mapping rule tools: golden cases');
  mappings
    .command('test')
    .description('run every golden case under <mappings>/tests: ok/FAIL per case, a line/field diff for each failure')
    .option('--update', 'show each failing case\'s diff, then rewrite its expected file from the current rules (and write missing ones); review with git diff')
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

/** Renders one message with one mapping and prints it (with `explain`: which rule wrote what, and what wrote nothing). */
async function printRender(mapping: CompiledMapping, msg: StoredMessage, options: { explain?: boolean; json?: boolean }, io: CliIo): Promise<boolean> {
  // MappingError from the same (dynamically loaded) module instance as the engine that throws it.
  const [{ MappingError }, { formatExplain }, { GOLDEN_CONTROL_ID, GOLDEN_NOW }, { renderWithTrace }] = await Promise.all([
    import('./errors.js'),
    import('./explain.js'),
    import('./golden.js'),
    import('./render.js'),
  ]);
  try {
    const { output, trace } = renderWithTrace(mapping, msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID });
    const text = output.text.replace(/\r\n?/g, '\n');
    if (options.json) {
      printJson(io.out, { ok: true, mapping: mapping.id, file: mapping.file, message: msg.id, output: text, ...(options.explain ? { explain: trace } : {}) });
      return true;
    }
    io.out.write(text);
    if (options.explain) {io.out.write(`\n# explain: ${mapping.id} (${mapping.file})\n${formatExplain(trace)}\n`);}
    return true;
  } catch (err) {
    if (!(err instanceof MappingError)) {throw err;}
    if (options.json) {printJson(io.out, { ok: false, mapping: mapping.id, message: msg.id, problems: err.problems });}
    else {io.out.write(`${err.message}\n`);}
    return false;
  }
}

/**
 * `map [<mapping>] --message <key>`: renders stored messages with the current mappings — every message of the record
 * for our reference or a record id, or the one message for a message id, request id, Bundle id or MSH-10 — each with
 * the mappings that select it (or only `<mapping>`). Same fixed clock and control id as `map`.
 */
export async function runMapStored(key: string, mappingId: string | undefined, options: MapOptions, io: CliIo): Promise<number> {
  const registry = await load(options.mappings, io, options.json);
  if (!registry) {return 1;}
  const only = mappingId === undefined ? undefined : registry.get(mappingId);
  if (mappingId !== undefined && !only) {
    io.err.write(`no mapping '${mappingId}' in ${options.mappings} (have: ${registry.mappings.map((m) => m.id).join(', ')})\n`);
    return 2;
  }
  const { storedMessages } = await import('../ops/cli.js');
  const messages = await storedMessages(io, options, key);
  if (messages.length === 0) {
    io.err.write(`no stored message for ${key}\n`);
    return 1;
  }
  let ok = true;
  for (const msg of messages) {
    const mappings = only ? [only] : registry.select(msg);
    if (!options.json) {
      io.out.write(`# message ${msg.id} (${msg.workflow}, received ${msg.receivedAt}, reference ${msg.reference ?? '-'}): ${mappings.length === 0 ? 'no mapping selects it' : mappings.map((m) => m.id).join(', ')}\n`);
    }
    for (const m of mappings) {
      if (!options.json) {io.out.write(`## ${m.id}\n`);}
      ok = (await printRender(m, msg, options, io)) && ok;
      if (!options.json) {io.out.write('\n');}
    }
  }
  return ok ? 0 : 1;
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
  const { storedMessageFromBundle } = await import('./stored-message.js');
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
  return (await printRender(mapping, msg, options, io)) ? 0 : 1;
}

/** Writes `rendered` as the expected output of `c` (its kind may change: an error case that now renders, …). */
function writeExpected(c: Pick<GoldenCase, 'input'>, rendered: string, kindOf: (text: string) => string): string {
  const base = c.input.replace(/\.json$/, '');
  for (const k of ['hl7', 'csv', 'error']) {rmSync(`${base}.${k}`, { force: true });}
  const file = `${base}.${kindOf(rendered)}`;
  writeFileSync(file, rendered);
  return file;
}

/**
 * Runs every golden case; 0 when all pass, 1 otherwise. With `update`, each failing case's diff is shown and then its
 * expected file is rewritten from the current rules (a case with no expected file gets one): a golden file is what a
 * person checked, so the diff is printed for review before the commit.
 */
export async function runMappingsTest(options: MappingsTestOptions, io: CliIo): Promise<number> {
  const dir = options.mappings;
  const registry = await load(dir, io, options.json);
  if (!registry) {return 1;}
  const { goldenDiff, goldenKindOf, listGoldenCases, renderGoldenCase } = await import('./golden.js');
  const { cases, problems, pending } = listGoldenCases(dir);
  const results: Array<{ mapping: string; name: string; expected: string; ok: boolean; diff?: string; wrote?: string }> = [];
  const failedProblems: string[] = [];
  for (const p of pending) {
    if (options.update) {
      const rendered = renderGoldenCase(registry, { ...p, expected: '', kind: 'hl7' });
      results.push({ mapping: p.mappingId, name: p.name, expected: '', ok: true, wrote: writeExpected(p, rendered, goldenKindOf) });
    } else {
      failedProblems.push(`${p.input}: no expected ${p.name}.hl7, .csv or .error`);
    }
  }
  failedProblems.push(...problems.filter((q) => !pending.some((x) => q.startsWith(`${x.input}:`))));
  for (const c of cases) {
    const expected = readFileSync(c.expected, 'utf8').replace(/\r\n?/g, '\n');
    const actual = renderGoldenCase(registry, c);
    if (actual === expected) {
      results.push({ mapping: c.mappingId, name: c.name, expected: c.expected, ok: true });
      continue;
    }
    const diff = goldenDiff(expected, actual, goldenKindOf(actual) === c.kind ? c.kind : 'error');
    results.push({ mapping: c.mappingId, name: c.name, expected: c.expected, ok: options.update === true, diff, ...(options.update ? { wrote: writeExpected(c, actual, goldenKindOf) } : {}) });
  }
  const untested = registry.mappings.filter((m) => !cases.some((c) => c.mappingId === m.id) && !pending.some((p) => p.mappingId === m.id)).map((m) => m.id);
  const updated = results.filter((r) => r.wrote !== undefined).length;
  const passed = results.filter((r) => r.ok && r.wrote === undefined).length;
  const failed = results.filter((r) => !r.ok).length + failedProblems.length;
  if (options.json) {
    printJson(io.out, { passed, failed, updated, cases: results, problems: failedProblems, untested });
    return failed === 0 ? 0 : 1;
  }
  for (const p of failedProblems) {io.out.write(`FAIL ${p}\n`);}
  for (const r of results) {
    if (r.wrote !== undefined) {
      io.out.write(r.diff !== undefined ? `UPDATE ${r.mapping}/${r.name} (${r.expected})\n${r.diff}\n       wrote ${r.wrote}\n` : `new  ${r.mapping}/${r.name}: wrote ${r.wrote}\n`);
    } else {
      io.out.write(r.ok ? `ok   ${r.mapping}/${r.name}\n` : `FAIL ${r.mapping}/${r.name} (${r.expected})\n${r.diff}\n`);
    }
  }
  for (const id of untested) {io.out.write(`note ${id} has no golden case\n`);}
  io.out.write(`${passed} passed, ${failed} failed${options.update ? `, ${updated} updated` : ''}\n`);
  return failed === 0 ? 0 : 1;
}
