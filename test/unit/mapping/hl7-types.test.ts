/*
 * dataTypeProblem (hl7-types.ts) finds exactly what hl7v2's strict parse finds — the same first problem, worded the
 * same, or none — on every golden HL7 output and on thousands of broken variants of them (bad dates, numbers, set
 * ids, escapes, extra components and sub-components, unknown segments, Z segments, other versions). Also: the loop
 * version of readHl7 reads what the first version read.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { HL7Message } from 'hl7v2';
import type { StoredMessage } from '../../../src/protocol/bars/types.js';
import { GOLDEN_CONTROL_ID, GOLDEN_NOW, listGoldenCases } from '../../../src/mapping/golden.js';
import { DICTIONARIES } from '../../../src/mapping/hl7-dictionary.js';
import { readHl7, unescapeHl7, type ParsedSegment } from '../../../src/protocol/hl7/er7.js';
import { dataTypeProblem } from '../../../src/mapping/hl7-types.js';
import { loadMappings, renderMessage } from '../../../src/mapping/index.js';

/** What the library says: its first strict-parse error message, or undefined. */
function library(text: string): string | undefined {
  try {
    HL7Message.parse(text, { strict: true, dictionaries: DICTIONARIES });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const registry = loadMappings('mappings');
const outputs = listGoldenCases('mappings')
  .cases.filter((c) => c.kind === 'hl7')
  .map((c) => renderMessage(registry.get(c.mappingId)!, JSON.parse(readFileSync(c.input, 'utf8')) as StoredMessage, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID }).text);

/** Pieces a broken field may be made of: values some decoder refuses, escapes, separators. */
const piece = fc.constantFrom(
  '', 'abc', '12', '007', '-3', '1.5', '1e3', 'NaN', ' 4 ', '2024', '202403', '20240301', '20241301', '20240230', '2024030112',
  '202403011230', '20240301123005', '20240301123005.1234', '20240301123005+0000', '20240301123005-0330', '20240301123005+1500',
  '2024-03-01', '2400', '1230', '123005', '123005.5', '2560', '""', '\\X41\\', '\\x3132\\', '\\F\\', '\\T\\', '\\H\\', '\\Zq\\', 'é',
);
const fieldText = fc
  .array(fc.array(fc.array(piece, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 2 })
  .map((reps) => reps.map((comps) => comps.map((subs) => subs.join('&')).join('^')).join('~'));

/** `text` with field n of segment i replaced (or a segment inserted), as the writer never would. */
function broken(text: string, i: number, n: number, value: string, insert?: string): string {
  const segs = text.split('\r').filter(Boolean);
  if (insert) {segs.splice(1 + (i % segs.length), 0, `${insert}|${value}`);}
  else {
    const k = 1 + (i % (segs.length - 1)); // never MSH: its header decides the dictionary
    const fields = segs[k].split('|');
    while (fields.length <= n) {fields.push('');}
    fields[n] = value;
    segs[k] = fields.join('|');
  }
  return segs.join('\r') + '\r';
}

describe('HL7 data-type check without the library parse (hl7-types.ts)', function () {
  it('passes every golden HL7 output, as the strict parse does', function () {
    assert.ok(outputs.length >= 12);
    for (const text of outputs) {assert.equal(dataTypeProblem(text, DICTIONARIES), library(text));}
  });

  it('reports the same first problem as the strict parse on broken messages', function () {
    this.timeout(120_000);
    let refused = 0;
    fc.assert(
      fc.property(
        fc.nat(outputs.length - 1),
        fc.nat(60),
        fc.integer({ min: 1, max: 30 }),
        fieldText,
        fc.option(fc.constantFrom('ZU1', 'ZZZ', 'OBX', 'TQ1', 'AL1', 'NTE', 'PV1', 'EVN'), { freq: 4 }),
        (o, i, n, value, insert) => {
          const text = broken(outputs[o], i, n, value, insert ?? undefined);
          const expected = library(text);
          if (expected !== undefined) {refused++;}
          assert.equal(dataTypeProblem(text, DICTIONARIES), expected, text.replaceAll('\r', '\n'));
        },
      ),
      { numRuns: 4000 },
    );
    console.log(`      (${refused} of 4000 refused)`);
    assert.ok(refused > 500, `only ${refused} broken variants were refused: the generator is too kind`);
  });

  it('uses the dictionary of the version in MSH-12', function () {
    for (const version of ['2.3', '2.5', '2.7.1', '2.4']) {
      const text = outputs[0].replace(/^(MSH(?:\|[^|\r]*){10}\|)2\.4\|/, `$1${version}|`);
      assert.ok(text.includes(`|${version}|`));
      for (const bad of ['', broken(text, 3, 7, 'x2024'), broken(text, 2, 1, 'A')]) {
        const t = bad || text;
        assert.equal(dataTypeProblem(t, DICTIONARIES), library(t), version);
      }
    }
  });
});

/** readHl7 as it was written first (map/spread), kept here as the reference for the faster loop version. */
function referenceReadHl7(text: string): ParsedSegment[] {
  return text
    .split('\r')
    .filter((s) => s.length > 0)
    .map((line) => {
      const raw = line.split('|');
      const type = raw[0];
      const fieldTexts = type === 'MSH' ? ['', '|', ...raw.slice(1)] : raw;
      const fields: string[][][][] = [];
      fieldTexts.forEach((ft, n) => {
        if (n === 0) {return;}
        if (type === 'MSH' && (n === 1 || n === 2)) {
          fields[n] = [[], [[], ['', ft]]];
          return;
        }
        fields[n] = [[], ...ft.split('~').map((rep) => [[], ...rep.split('^').map((comp) => ['', ...comp.split('&').map(unescapeHl7)])])];
      });
      return { type, fields };
    });
}

describe('readHl7 (hl7-text.ts)', function () {
  it('reads every golden output and any text of delimiters, escapes and letters as the reference reader does', function () {
    for (const text of outputs) {assert.deepEqual(readHl7(text), referenceReadHl7(text));}
    const er7 = fc.array(fc.constantFrom('MSH', 'PID', '|', '^', '~', '&', '\\', '\\F\\', '\\E\\', '\\X41\\', '\r', 'a', 'B', '1', ''), { maxLength: 60 }).map((xs) => xs.join(''));
    fc.assert(fc.property(er7, (text) => assert.deepEqual(readHl7(text), referenceReadHl7(text))), { numRuns: 3000 });
  });
});
