/*
 * The HL7 validator finds exactly the problems (same list, same order, same words) that it found before it stopped
 * re-parsing our output with hl7v2 (helpers/reference-validate.ts is that version), on every golden output and on
 * broken variants: values a decoder refuses, over-long values, emptied required fields, segments removed,
 * duplicated, inserted or swapped, and text that no longer reads back as written.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { StoredMessage } from '../../../src/protocol/bars/types.js';
import { buildEnvironment } from '../../../src/mapping/context.js';
import { evaluateMapping } from '../../../src/mapping/evaluate.js';
import { GOLDEN_CONTROL_ID, GOLDEN_NOW, listGoldenCases } from '../../../src/mapping/golden.js';
import { validateHl7 } from '../../../src/mapping/hl7-validate.js';
import { segmentsToWrite, writeHl7 } from '../../../src/mapping/hl7-writer.js';
import { loadMappings } from '../../../src/mapping/index.js';
import type { Hl7Output } from '../../../src/mapping/types.js';
import { referenceValidateHl7 } from './helpers/reference-validate.js';

const registry = loadMappings('mappings');
const OPTS = { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID };
const rendered = listGoldenCases('mappings')
  .cases.filter((c) => c.kind === 'hl7')
  .map((c) => {
    const mapping = registry.get(c.mappingId)!;
    const msg = JSON.parse(readFileSync(c.input, 'utf8')) as StoredMessage;
    const output = mapping.output as Hl7Output;
    const written = segmentsToWrite(output, evaluateMapping(mapping, buildEnvironment(msg, OPTS)).segments, OPTS.now, OPTS.controlId);
    return { output, written, text: writeHl7(output, written) };
  });

const piece = fc.oneof(
  fc.constantFrom('', 'x', '2024', '20241301', '20240301123005+0000', 'abc', '12', '1.5', 'NaN', '\\F\\', '\\X41\\', '""', '^', '~', '&'),
  fc.string({ maxLength: 8 }),
  fc.integer({ min: 10, max: 400 }).map((n) => 'L'.repeat(n)),
);

type Edit = (segs: string[]) => void;
const edits: fc.Arbitrary<Edit> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 }), fc.array(piece, { minLength: 1, maxLength: 3 }), fc.constantFrom('', '^', '&', '~')).map(
    ([i, n, pieces, sep]): Edit =>
      (segs) => {
        const k = 1 + (i % (segs.length - 1));
        const fields = segs[k].split('|');
        while (fields.length <= n) {fields.push('');}
        fields[n] = pieces.join(sep);
        segs[k] = fields.join('|');
      },
  ),
  fc.nat().map((i): Edit => (segs) => void segs.splice(1 + (i % (segs.length - 1)), 1)),
  fc.nat().map((i): Edit => (segs) => void segs.splice(1 + (i % (segs.length - 1)), 0, segs[1 + (i % (segs.length - 1))])),
  fc.tuple(fc.nat(), fc.constantFrom('ZU1|1', 'ZZZ|a', 'OBX|1|ST|||v', 'NTE|||x', 'PV1|1|E', 'AL1|1', 'RF1|', 'EVN||2024')).map(
    ([i, seg]): Edit =>
      (segs) =>
        void segs.splice(1 + (i % segs.length), 0, seg),
  ),
  fc.tuple(fc.nat(), fc.nat()).map(
    ([i, j]): Edit =>
      (segs) => {
        const a = 1 + (i % (segs.length - 1));
        const b = 1 + (j % (segs.length - 1));
        [segs[a], segs[b]] = [segs[b], segs[a]];
      },
  ),
);

describe('HL7 validator: the same problems as before it stopped re-parsing with hl7v2', function () {
  it('no problem on any golden output', function () {
    assert.ok(rendered.length >= 12);
    for (const r of rendered) {
      assert.deepEqual(validateHl7(r.output, r.text, r.written), []);
      assert.deepEqual(referenceValidateHl7(r.output, r.text, r.written), []);
    }
  });

  it('the same problems, in the same order, for broken variants of every golden output', function () {
    this.timeout(120_000);
    let refused = 0;
    const kinds = new Map<string, number>();
    fc.assert(
      fc.property(fc.nat(rendered.length - 1), fc.array(edits, { minLength: 1, maxLength: 3 }), (o, changes) => {
        const { output, written, text } = rendered[o];
        const segs = text.split('\r').filter(Boolean);
        for (const change of changes) {change(segs);}
        const broken = segs.join('\r') + '\r';
        const expected = referenceValidateHl7(output, broken, written);
        if (expected.length > 0) {refused++;}
        for (const p of expected) {kinds.set(p.split(':')[0], (kinds.get(p.split(':')[0]) ?? 0) + 1);}
        assert.deepEqual(validateHl7(output, broken, written), expected);
      }),
      { numRuns: 3000 },
    );
    assert.ok(refused > 2000, `only ${refused} variants refused`);
    console.log(`      (${refused} of 3000 refused; ${[...kinds].map(([k, n]) => `${k} ${n}`).join(", ")})`);
    // Every kind of check was exercised.
    for (const kind of ['data type', 'structure', 'required', 'length', 'round trip']) {assert.ok((kinds.get(kind) ?? 0) > 20, `${kind}: ${kinds.get(kind)}`);}
  });
});
