/*
 * The direct HL7 writer (hl7-writer.ts) writes the bytes hl7v2's HL7Message wrote for the same values, and fails
 * where it failed with the same error (helpers/reference-writer.ts is the writer that built the library's message):
 * every golden case, and generated messages with values of every kind — dates good and bad, numbers and set ids
 * good and bad, delimiters, control characters, `""`, sub-components on primitive components and fields, positions
 * past the end of a segment's definition, unknown and Z segments, other versions.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { StoredMessage } from '../../../src/protocol/bars/types.js';
import { buildEnvironment } from '../../../src/mapping/context.js';
import { evaluateMapping, type BuiltSegment, type FieldValue } from '../../../src/mapping/evaluate.js';
import { GOLDEN_CONTROL_ID, GOLDEN_NOW, listGoldenCases } from '../../../src/mapping/golden.js';
import { segmentsToWrite, writeHl7 } from '../../../src/mapping/hl7-writer.js';
import { loadMappings } from '../../../src/mapping/index.js';
import type { Hl7Output } from '../../../src/mapping/types.js';
import { referenceWriteHl7 } from './helpers/reference-writer.js';

function outcome(write: () => string): string {
  try {
    return write();
  } catch (err) {
    return `Error: ${err instanceof Error ? err.message : String(err)}`;
  }
}

const value = fc.oneof(
  fc.constantFrom(
    '', 'x', 'Smith', "O'Brien", 'a|b^c~d\\e&f', '\\F\\', 'line\rbreak', 'tab\there', '\u0085', '""', 'é', '2024', '202403', '20240301', '20241301',
    '20240301093005+0000', '20240301093005.1234-0330', '20240301093005+1400', '2024-03-01', '1230', '123005.5', '2560', '12', '007', '-3', '1.50',
    '1e3', ' 5', 'NaN', 'abc', '9007199254740993',
  ),
  fc.string({ maxLength: 6 }),
);
const position = fc.record({
  n: fc.integer({ min: 1, max: 45 }),
  r: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 3 }) }),
  c: fc.integer({ min: 1, max: 7 }),
  s: fc.oneof({ weight: 40, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 3 }) }) });
const segmentType = fc.constantFrom('PID', 'PV1', 'OBX', 'NK1', 'ZU1', 'NTE', 'EVN', 'AL1', 'RF1', 'PRD', 'OBR', 'PD1', 'ORC', 'TQ1', 'SCH', 'AIL', 'ZZZ', 'XYZ');

function built(type: string, values: ReadonlyArray<{ n: number; r: number; c: number; s: number; v: string | undefined }>): BuiltSegment {
  const fields: Array<FieldValue | undefined> = [];
  for (const { n, r, c, s, v } of values) {
    const f = (fields[n] ??= [[]]);
    const rep = (f[r] ??= [[]]);
    const comp = (rep[c] ??= ['']);
    comp[s] = v as string;
  }
  return { type, fields, continuation: [] };
}

const segment = fc.tuple(segmentType, fc.array(fc.tuple(position, fc.option(value, { freq: 8 })), { maxLength: 12 })).map(([type, vs]) =>
  built(type, vs.map(([p, v]) => ({ ...p, v: v ?? undefined }))),
);
const output = fc.constantFrom<Hl7Output>(
  { format: 'hl7v2', version: '2.4', messageType: 'REF^I12^REF_I12', structure: 'REF_I12' },
  { format: 'hl7v2', version: '2.4', messageType: 'ADT^A05^ADT_A05', structure: 'ADT_A05' },
  { format: 'hl7v2', version: '2.5', messageType: 'SIU^S12^SIU_S12', structure: 'SIU_S12' },
  { format: 'hl7v2', version: '2.3', messageType: 'ADT^A04', structure: 'ADT_A01' },
);

describe('HL7 writer: the bytes and errors of the hl7v2 message it used to build', function () {
  it('every golden HL7 case', function () {
    const registry = loadMappings('mappings');
    const OPTS = { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID };
    const cases = listGoldenCases('mappings').cases.filter((c) => c.kind === 'hl7');
    assert.ok(cases.length >= 12);
    for (const c of cases) {
      const mapping = registry.get(c.mappingId)!;
      const out = mapping.output as Hl7Output;
      const msg = JSON.parse(readFileSync(c.input, 'utf8')) as StoredMessage;
      const segs = segmentsToWrite(out, evaluateMapping(mapping, buildEnvironment(msg, OPTS)).segments, OPTS.now, OPTS.controlId);
      assert.equal(writeHl7(out, segs), referenceWriteHl7(out, segs), `${c.mappingId}/${c.name}`);
    }
  });

  it('generated messages: same text, or the same error', function () {
    this.timeout(120_000);
    const kinds = new Map<string, number>();
    fc.assert(
      fc.property(output, segment, fc.array(segment, { maxLength: 6 }), (out, mshRules, rest) => {
        const segs = segmentsToWrite(out, [{ ...mshRules, type: 'MSH' }, ...rest], GOLDEN_NOW, 'GEN1');
        const expected = outcome(() => referenceWriteHl7(out, segs));
        const kind = expected.startsWith('Error: ') ? expected.replace(/"[^"]*"/g, '"…"').slice(0, 60) : 'text';
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        assert.equal(outcome(() => writeHl7(out, segs)), expected);
      }),
      { numRuns: 4000 },
    );
    console.log(`      (${[...kinds].map(([k, n]) => `${k}: ${n}`).join('; ')})`);
    assert.ok((kinds.get('text') ?? 0) > 500 && kinds.size > 3, 'both written messages and several kinds of error');
  });
});
