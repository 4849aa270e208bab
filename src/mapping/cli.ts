/*
 * Tool commands of the mapping engine, called by the bars-bridge CLI dispatcher:
 *   bars-bridge map <mapping> <bundle.json> [--explain] [--mappings <dir>] [--workflow <workflow>]
 *   bars-bridge map [<mapping>] --message <reference | message id> [--explain] [--mappings <dir>]
 *   bars-bridge mappings test [--update] [--mappings <dir>]
 * Exit codes: 0 success, 1 mapping/golden failure (or no such message), 2 usage error.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, StoredMessage, Workflow } from '../bars/types.js';
import type { CompiledMapping } from './types.js';
import { MappingError } from './errors.js';
import { formatExplain } from './explain.js';
import { goldenDiff, goldenKindOf, GOLDEN_CONTROL_ID, GOLDEN_NOW, listGoldenCases, renderGoldenCase, type GoldenCase } from './golden.js';
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

/** Where `map --message` finds stored messages (the CLI passes a Redis look-up, ops/cli.ts `storedMessages`). */
export interface MapDeps {
  readonly messages?: (key: string) => Promise<StoredMessage[]>;
}

/** Renders one message with one mapping and prints it (and with `explain`, which rule wrote what, and what wrote nothing). */
function printRender(mapping: CompiledMapping, msg: StoredMessage, explain: boolean, out: NodeJS.WritableStream): boolean {
  try {
    const { output, trace } = renderWithTrace(mapping, msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID });
    out.write(output.text.replace(/\r\n?/g, '\n'));
    if (explain) {out.write(`\n# explain: ${mapping.id} (${mapping.file})\n${formatExplain(trace)}\n`);}
    return true;
  } catch (err) {
    if (!(err instanceof MappingError)) {throw err;}
    out.write(`${err.message}\n`);
    return false;
  }
}

/**
 * `bars-bridge map [<mapping>] --message <key>`: renders stored messages with the current mappings — every message of
 * the record for our reference (BB-…) or a record id, or the one message for a message id, request id, Bundle id or
 * MSH-10 — each with the mappings that select it (or only `<mapping>`). Same fixed clock and control id as `map`.
 */
export async function mapStoredCommand(
  opts: { readonly key: string; readonly mappingId?: string; readonly dir: string; readonly explain: boolean },
  deps: MapDeps,
  out: NodeJS.WritableStream,
): Promise<number> {
  if (!deps.messages) {
    out.write('map --message needs the message store (Redis); not available here\n');
    return 2;
  }
  const registry = load(opts.dir, out);
  if (!registry) {return 1;}
  const only = opts.mappingId === undefined ? undefined : registry.get(opts.mappingId);
  if (opts.mappingId !== undefined && !only) {
    out.write(`no mapping '${opts.mappingId}' in ${opts.dir} (have: ${registry.mappings.map((m) => m.id).join(', ')})\n`);
    return 2;
  }
  const messages = await deps.messages(opts.key);
  if (messages.length === 0) {
    out.write(`no stored message for ${opts.key}\n`);
    return 1;
  }
  let ok = true;
  for (const msg of messages) {
    const mappings = only ? [only] : registry.select(msg);
    out.write(`# message ${msg.id} (${msg.workflow}, received ${msg.receivedAt}, reference ${msg.reference ?? '-'}): ${mappings.length === 0 ? 'no mapping selects it' : mappings.map((m) => m.id).join(', ')}\n`);
    for (const m of mappings) {
      out.write(`## ${m.id}\n`);
      ok = printRender(m, msg, opts.explain, out) && ok;
      out.write('\n');
    }
  }
  return ok ? 0 : 1;
}

/**
 * `bars-bridge map <mapping> <bundle.json> [--explain]`: renders one message with one mapping and prints the result
 * (HL7 segments one per line). `<mapping>` is a mapping id or the path of a rule file; `<bundle.json>` is a
 * StoredMessage or a bare BaRS Bundle (then the receiver's view is simulated: workflow inferred, planned Encounter
 * added). Uses a fixed clock and control id, like the golden cases, so runs are comparable. With `--message <key>`
 * the message comes from the store instead (mapStoredCommand).
 */
export async function mapCommand(argv: string[], out: NodeJS.WritableStream, deps: MapDeps = {}): Promise<number> {
  const args = [...argv];
  const explain = flag(args, '--explain');
  let dir = option(args, '--mappings') ?? DEFAULT_DIR;
  const workflow = option(args, '--workflow') as Workflow | undefined;
  const key = option(args, '--message');
  if (key !== undefined) {
    if (args.length > 1 || workflow !== undefined) {
      out.write('usage: bars-bridge map [<mapping>] --message <reference | message id> [--explain] [--mappings <dir>]\n');
      return 2;
    }
    return mapStoredCommand({ key, mappingId: args[0], dir, explain }, deps, out);
  }
  if (args.length !== 2) {
    out.write('usage: bars-bridge map <mapping> <bundle.json> [--explain] [--mappings <dir>] [--workflow <workflow>]\n       bars-bridge map [<mapping>] --message <reference | message id> [--explain]\n');
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
  return printRender(mapping, msg, explain, out) ? 0 : 1;
}

/** Writes `rendered` as the expected output of `c` (its kind may change: an error case that now renders, …). */
function writeExpected(c: Pick<GoldenCase, 'input'>, rendered: string): string {
  const base = c.input.replace(/\.json$/, '');
  for (const k of ['hl7', 'csv', 'error']) {rmSync(`${base}.${k}`, { force: true });}
  const file = `${base}.${goldenKindOf(rendered)}`;
  writeFileSync(file, rendered);
  return file;
}

/**
 * `bars-bridge mappings test [--update]`: runs every golden case under `<mappings>/tests` and prints `ok`/`FAIL` per
 * case, with a line/field diff for each failure. Returns 0 when all pass, 1 otherwise. With `--update`, each
 * failing case's diff is shown and then its expected file is rewritten from the current rules (and a case with no
 * expected file gets one); review the diff (and `git diff`) before committing: a golden file is what a person checked.
 */
export async function mappingsTestCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const args = [...argv];
  const dir = option(args, '--mappings') ?? DEFAULT_DIR;
  const update = flag(args, '--update');
  const registry = load(dir, out);
  if (!registry) {return 1;}
  const { cases, problems, pending } = listGoldenCases(dir);
  let failed = 0;
  let updated = 0;
  for (const p of pending) {
    if (!update) {
      failed++;
      out.write(`FAIL ${p.input}: no expected ${p.name}.hl7, .csv or .error\n`);
      continue;
    }
    const rendered = renderGoldenCase(registry, { ...p, expected: '', kind: 'hl7' });
    out.write(`new  ${p.mappingId}/${p.name}: wrote ${writeExpected(p, rendered)}\n`);
    updated++;
  }
  for (const p of problems.filter((q) => !pending.some((x) => q.startsWith(`${x.input}:`)))) {
    failed++;
    out.write(`FAIL ${p}\n`);
  }
  let passed = 0;
  for (const c of cases) {
    const expected = readFileSync(c.expected, 'utf8').replace(/\r\n?/g, '\n');
    const actual = renderGoldenCase(registry, c);
    if (actual === expected) {
      passed++;
      out.write(`ok   ${c.mappingId}/${c.name}\n`);
      continue;
    }
    const kind = goldenKindOf(actual) === c.kind ? c.kind : 'error';
    if (update) {
      out.write(`UPDATE ${c.mappingId}/${c.name} (${c.expected})\n${goldenDiff(expected, actual, kind)}\n`);
      out.write(`       wrote ${writeExpected(c, actual)}\n`);
      updated++;
    } else {
      failed++;
      out.write(`FAIL ${c.mappingId}/${c.name} (${c.expected})\n${goldenDiff(expected, actual, kind)}\n`);
    }
  }
  const untested = registry.mappings.filter((m) => !cases.some((c) => c.mappingId === m.id) && !pending.some((p) => p.mappingId === m.id));
  for (const m of untested) {out.write(`note ${m.id} has no golden case\n`);}
  out.write(`${passed} passed, ${failed} failed${update ? `, ${updated} updated` : ''}\n`);
  return failed === 0 ? 0 : 1;
}
