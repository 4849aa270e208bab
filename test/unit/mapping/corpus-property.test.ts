/*
 * Accepted means renderable (issue 12 item 2): every message Bundle of NHS England's examples (the IG's, converted to
 * JSON, and the BaRS 1.34.0 package's), and variations of them that stay FHIR-valid (test/helpers/fhir-variations.ts),
 * either is refused at the door (the receiver's validation, a 4xx naming the element) or renders, with every mapping
 * of its workflow, output that passes the checks a message must pass before it leaves (hl7-validate.ts: data types,
 * structure, lengths, read-back) — never a 200 followed by a dead letter.
 *
 * PROPERTY_RUNS sets the number of generated cases (default 1,200; `npm run test:long` runs 20,000); a failure prints
 * fast-check's seed and path, and PROPERTY_SEED / PROPERTY_PATH replay it.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Bundle } from '../../../src/protocol/bars/types.js';
import { readHl7 } from '../../../src/protocol/hl7/er7.js';
import { loadMappings } from '../../../src/mapping/index.js';
import { exampleFiles, loadJson, prepare } from '../../helpers/bars-examples.js';
import { throughTheDoor, type DoorResult } from '../../helpers/door.js';
import { applyVariation, variation, type Variation } from '../../helpers/fhir-variations.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 1200);
const registry = loadMappings('mappings');
const corpus = exampleFiles().map((f) => ({ key: f.key, bundle: prepare(loadJson(f.file)) as Bundle }));

/** Everything a rendered message must be, beyond the checks renderMessage already ran (an accepted one throws none). */
function assertDeliverable(result: DoorResult, label: string): void {
  if (!result.accepted) {
    assert.ok(result.error.status >= 400 && result.error.status < 500, `${label}: refused with a 4xx, not ${result.error.status}`);
    assert.ok(result.error.expression, `${label}: the refusal names the element (${result.error.message})`);
    return;
  }
  if (!result.workflow.startsWith('response-')) {
    assert.ok(result.outputs.length > 0, `${label}: workflow ${result.workflow} has mappings`);
  }
  for (const o of result.outputs) {
    const problems = (o.error as { problems?: string[] } | undefined)?.problems ?? (o.error ? [o.error.message] : []);
    assert.deepEqual(problems, [], `${label}: ${o.mappingId} renders (accepted at the door, so it must)`);
    const text = o.output!.text;
    if (o.output!.format === 'hl7v2') {
      assert.doesNotMatch(text, /\n/, `${label}: ${o.mappingId}: no line feed in ER7 (segments end with CR only)`);
      for (const seg of readHl7(text)) {
        assert.match(seg.type, /^[A-Z][A-Z0-9]{2}$/, `${label}: ${o.mappingId}: every line is a segment`);
      }
    }
  }
}

const counts = { accepted: 0, refused: new Map<string, number>() };
function count(result: DoorResult): void {
  if (result.accepted) {
    counts.accepted++;
  } else {
    const why = `${result.error.status} ${result.error.expression ?? ''}`.replace(/\[\d+\]/g, '[n]');
    counts.refused.set(why, (counts.refused.get(why) ?? 0) + 1);
  }
}

describe('NHS examples and their FHIR-valid variations: accepted at the door means rendered for every mapping', function () {
  this.timeout(Math.max(60_000, RUNS * 100));

  it('every NHS example message Bundle as sent: each request NHS England publishes is accepted and renders', function () {
    assert.ok(corpus.length >= 45, `the corpus holds the IG's and the package's message Bundles (${corpus.length})`);
    for (const { key, bundle } of corpus) {
      const result = throughTheDoor(bundle, registry);
      assertDeliverable(result, key);
      // Only the validation responses are refused (this receiver sends no validation requests): no example is
      // refused for what its PAS cannot carry.
      if (!result.accepted) {
        assert.equal(result.error.expression, 'MessageHeader.response.identifier', `${key}: ${result.error.message}`);
      }
    }
  });

  it('REFREQ8A (CAD C1: a patient with no name and no identifier) is accepted and renders REF^I12 with PID-5 Unknown', function () {
    const c = corpus.find((x) => x.key.startsWith('pkg/REFREQ8A'))!;
    const result = throughTheDoor(c.bundle, registry);
    assert.ok(result.accepted);
    const i12 = result.outputs.find((o) => o.mappingId === 'referral-new.ref-i12')!;
    assert.match(i12.output!.text, /\rPID\|1\|\|BB-000123\^\^\^BARS-BRIDGE\^PI\|\|Unknown\^\^\^\^\^\^L/);
  });

  it('a line feed in free text (the LF bug) is accepted: \\X0D0A\\ in NTE-3 (FT), a space in a name', function () {
    const c = corpus.find((x) => x.key.startsWith('pkg/REFREQ01'))!;
    const bundle = structuredClone(c.bundle);
    const resources = bundle.entry!.map((e) => e.resource!);
    const sr = resources.find((r) => r.resourceType === 'ServiceRequest')!;
    const patient = resources.find((r) => r.resourceType === 'Patient')! as unknown as { name: Array<{ family: string }> };
    sr.patientInstruction = 'Ring the bell twice.\nSide door,\r\nback of the house.';
    patient.name[0]!.family = 'Smith\nJones';
    const result = throughTheDoor(bundle, registry);
    assertDeliverable(result, 'REFREQ01 with LF everywhere');
    assert.ok(result.accepted);
    const i12 = result.outputs.find((o) => o.mappingId === 'referral-new.ref-i12')!.output!.text;
    assert.match(i12, /\rNTE\|[^\r]*Ring the bell twice\.\\X0D0A\\Side door,\\X0D0A\\back of the house\./, 'NTE-3 (FT) keeps the line breaks');
    assert.match(i12, /\rPID\|[^\r]*\|Smith Jones\^/, 'PID-5 (XPN) carries the line break as a space');
  });

  it(`${RUNS} generated variations: refused at the door with a 4xx naming the element, or rendered by every mapping`, function () {
    const seed = process.env.PROPERTY_SEED === undefined ? undefined : Number(process.env.PROPERTY_SEED);
    // Variations of the examples accepted as sent (the validation responses are refused whatever is varied).
    const accepted = corpus.filter((c) => throughTheDoor(c.bundle, registry).accepted);
    const arb = fc.record({ example: fc.nat({ max: accepted.length - 1 }), variations: fc.array(variation, { minLength: 1, maxLength: 5 }) });
    fc.assert(
      fc.property(arb, ({ example, variations }: { example: number; variations: Variation[] }) => {
        const bundle = structuredClone(accepted[example]!.bundle);
        for (const v of variations) {
          applyVariation(bundle, v);
        }
        const result = throughTheDoor(bundle, registry);
        count(result);
        assertDeliverable(result, accepted[example]!.key);
      }),
      { numRuns: RUNS, ...(seed === undefined ? {} : { seed, path: process.env.PROPERTY_PATH }) },
    );
    const refused = [...counts.refused.values()].reduce((a, b) => a + b, 0);
    const reasons = [...counts.refused.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}× ${k}`);
    // Counts only (no content): how much of the space was rendered, and why the rest was refused.
    process.stdout.write(`      ${RUNS} cases: ${counts.accepted} accepted and rendered, ${refused} refused at the door (${reasons.slice(0, 8).join('; ')})\n`);
    if (seed === undefined) {
      assert.ok(counts.accepted > RUNS / 3, 'most variations stay acceptable (a generator that only makes garbage proves nothing)');
    }
  });
});
