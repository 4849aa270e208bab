/*
 * Mapping benchmark: the compiled default referral mapping (referral-new.ref-i12: every FHIRPath compiled once at
 * load) against a baseline evaluating the same FHIRPath expressions raw with `fhirpath.evaluate` (parse every time),
 * in one run on the same messages. Prints bundles/s per core for both and the ratio.
 *   npx tsx bench/mapping.ts            (~7 s per side by default, under 30 s in all; BENCH_SECONDS to change)
 * `runMappingBench({ seconds: 0.5 })` is the short version for CI.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { buildEnvironment, USER_FUNCTIONS } from '../src/mapping/context.js';
import { loadMappings, renderMessage } from '../src/mapping/index.js';
import { storedMessageFromBundle } from '../src/mapping/stored-message.js';
import type { CompiledExpression, CompiledMapping } from '../src/mapping/types.js';
import type { Bundle, StoredMessage } from '../src/protocol/bars/types.js';
import { IG_EXAMPLES_DIR } from '../test/external/nhs-material.js';

const EXAMPLES = IG_EXAMPLES_DIR;
const FILES = [
  'referral-request_new_111-to-ED_APP1_REFREQ01.json',
  'referral-request_new_999-to-CAS_APP3_REFREQ02.json',
  'referral-request_new_GP-to-pharmacy_APP5_REFREQ03.json',
  'referral-request_new_CAD-out-of-area_APP6_REFREQ04.json',
];

/** Figures of one run. */
export interface MappingBenchResult {
  /** Full render with the compiled mapping: rules, HL7 build, structure/type/round-trip checks. */
  readonly compiledPerSec: number;
  /** The same flattened loop as the baseline, with the compiled expressions: like for like with `rawPerSec`. */
  readonly compiledExpressionsPerSec: number;
  readonly rawPerSec: number;
  readonly ratio: number;
  readonly expressions: number;
}

/** Every expression of a mapping, in rule order (what the baseline evaluates raw). */
function expressionsOf(m: CompiledMapping): CompiledExpression[] {
  const out: CompiledExpression[] = m.variables.map((v) => v.expression);
  const walk = (items: CompiledMapping['segments']): void => {
    for (const s of items) {
      for (const e of [s.foreach, s.when]) {if (e) {out.push(e);}}
      if (s.kind === 'group') {walk(s.segments);}
      else {fields(s.fields);}
    }
  };
  const fields = (fs: Extract<CompiledMapping['segments'][number], { kind: 'segment' }>['fields']): void => {
    for (const f of fs) {
      if (f.kind === 'repeating') {
        out.push(f.foreach);
        for (const c of f.components) {if (c.expression) {out.push(c.expression);}}
      } else if (f.expression) {out.push(f.expression);}
    }
  };
  walk(m.segments);
  return out;
}

function measure(seconds: number, fn: () => void): number {
  let n = 0;
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    fn();
    n++;
  }
  return n / seconds;
}

/** Runs both sides for `seconds` each (single thread = one core) and returns bundles/s and the ratio. */
export function runMappingBench({ seconds = 7 }: { seconds?: number } = {}): MappingBenchResult {
  const mapping = loadMappings('mappings').get('referral-new.ref-i12')!;
  const messages: StoredMessage[] = FILES.map((f) => storedMessageFromBundle(JSON.parse(readFileSync(`${EXAMPLES}/${f}`, 'utf8')) as Bundle));
  const exprs = expressionsOf(mapping);
  const opts = { now: new Date('2024-03-01T09:30:05Z'), controlId: 'BENCH1' };
  const options = { userInvocationTable: USER_FUNCTIONS } as unknown as Parameters<typeof fhirpath.evaluate>[4];

  let i = 0;
  // Compiled: the whole render (rules, HL7 build with hl7v2, structure/type checks) per bundle.
  const warm = (): void => void renderMessage(mapping, messages[i++ % messages.length], opts);
  measure(Math.min(1, seconds / 4), warm);
  const compiledPerSec = measure(seconds, warm);

  // Baseline: only the same FHIRPath expressions, each parsed and evaluated with fhirpath.evaluate, per bundle.
  // (Segment/field iteration is flattened: every expression once against the Bundle, so the baseline does less work.)
  const raw = (): void => {
    const msg = messages[i++ % messages.length];
    const env = { ...buildEnvironment(msg, opts), destination: mapping.destinationSettings, item: [], index: 1, rep: [], repIndex: 1 };
    for (const e of exprs) {fhirpath.evaluate(msg.bundle, e.source, env, r4, options);}
  };
  measure(Math.min(1, seconds / 4), raw);
  const rawPerSec = measure(seconds, raw);

  const compiledFlat = (): void => {
    const msg = messages[i++ % messages.length];
    const env = { ...buildEnvironment(msg, opts), destination: mapping.destinationSettings, item: [], index: 1, rep: [], repIndex: 1 };
    for (const e of exprs) {e.evaluate(msg.bundle, env);}
  };
  measure(Math.min(1, seconds / 4), compiledFlat);
  const compiledExpressionsPerSec = measure(seconds, compiledFlat);
  return { compiledPerSec, compiledExpressionsPerSec, rawPerSec, ratio: compiledExpressionsPerSec / rawPerSec, expressions: exprs.length };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 7);
  const r = runMappingBench({ seconds });
  console.log(`mapping referral-new.ref-i12 (${r.expressions} FHIRPath expressions), ${FILES.length} NHS example referrals, ${seconds}s per side, 1 core`);
  console.log(`  compiled mapping, full render + checks: ${r.compiledPerSec.toFixed(0)} bundles/s per core`);
  console.log(`  compiled expressions only:              ${r.compiledExpressionsPerSec.toFixed(0)} bundles/s per core`);
  console.log(`  raw fhirpath.evaluate, expressions only: ${r.rawPerSec.toFixed(0)} bundles/s per core`);
  console.log(`  ratio compiled/raw (expressions only):  ${r.ratio.toFixed(1)}x`);
  console.log(`  ratio full compiled render / raw expressions: ${(r.compiledPerSec / r.rawPerSec).toFixed(1)}x`);
}
