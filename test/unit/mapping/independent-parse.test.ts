/*
 * The HL7 output of every golden case, read by an independent parser (@medplum/core Hl7Message), has the values the
 * NHS example Bundle holds, and the same field tree as our own reader.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Hl7Message } from '@medplum/core';
import type { StoredMessage } from '../../../src/protocol/bars/types.js';
import { GOLDEN_CONTROL_ID, GOLDEN_NOW, listGoldenCases } from '../../../src/mapping/golden.js';
import { loadMappings, renderMessage } from '../../../src/mapping/index.js';
import { readHl7 } from '../../../src/protocol/hl7/er7.js';

/** The test's own unescape of HL7 delimiters (medplum returns escaped text). */
const unescape = (s: string): string => s.replace(/\\([FSTRE])\\/g, (_, c: string) => ({ F: '|', S: '^', T: '&', R: '~', E: '\\' })[c] as string);

describe('mapping output read by an independent HL7 parser (@medplum/core)', function () {
  const registry = loadMappings('mappings');
  const cases = listGoldenCases('mappings').cases.filter((c) => c.kind === 'hl7');

  it('covers every HL7 golden case', function () {
    assert.ok(cases.length >= 12, `only ${cases.length} HL7 cases`);
  });

  for (const c of cases) {
    it(`${c.mappingId}/${c.name}`, function () {
      const msg = JSON.parse(readFileSync(c.input, 'utf8')) as StoredMessage;
      const text = renderMessage(registry.get(c.mappingId)!, msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID }).text;
      const parsed = Hl7Message.parse(text);
      const ours = readHl7(text);
      // medplum keeps an empty segment after the trailing CR; real segments only.
      const segments = parsed.segments.filter((seg) => seg.name !== '');

      // Same segments, and every field/repetition/component/sub-component reads the same.
      assert.deepEqual(segments.map((s) => s.name), ours.map((s) => s.type));
      segments.forEach((seg, i) => {
        const start = seg.name === 'MSH' ? 3 : 1;
        for (let n = start; n < seg.fields.length; n++) {
          seg.getField(n).components.forEach((rep, r) =>
            rep.forEach((comp, ci) =>
              comp.split('&').forEach((sub, si) => {
                const mine = ours[i].fields[n]?.[r + 1]?.[ci + 1]?.[si + 1] ?? '';
                assert.equal(unescape(sub), mine, `${seg.name}-${n}[${r + 1}].${ci + 1}.${si + 1}`);
              }),
            ),
          );
        }
      });

      // Header as the ITK profile wants it, and as the caller fixed it.
      const msh = parsed.header;
      assert.equal(msh.getComponent(3, 1), 'BARS-BRIDGE');
      assert.equal(msh.getComponent(7, 1), '20240301093005+0000');
      assert.equal(msh.getComponent(10, 1), GOLDEN_CONTROL_ID);
      assert.equal(msh.getComponent(12, 1), '2.4');
      assert.equal(msh.getComponent(17, 1), 'GBR');
      assert.equal(msh.getComponent(9, 3), c.mappingId.includes('siu') ? 'SIU_S12' : c.mappingId.includes('adt') ? 'ADT_A05' : 'REF_I12');

      // Patient values straight from the Bundle.
      const patient = msg.bundle.entry!.map((e) => e.resource!).find((r) => r.resourceType === 'Patient')!;
      const nhs = ((patient.identifier ?? []) as Array<{ system: string; value: string }>).find((i) => i.system === 'https://fhir.nhs.uk/Id/nhs-number');
      const name = (patient.name as Array<{ family: string; given: string[] }>)[0];
      const pid = parsed.getSegment('PID')!;
      // With an NHS number: `<nhs>^^^NHS^NH` (ITK §5.3.1); without one, our reference as a local identifier.
      assert.equal(pid.getComponent(3, 1), nhs ? nhs.value : msg.reference);
      assert.equal(pid.getComponent(3, 4), nhs ? 'NHS' : 'BARS-BRIDGE');
      assert.equal(pid.getComponent(3, 5), nhs ? 'NH' : 'PI');
      assert.equal(pid.getComponent(32, 1), nhs ? 'NSTS01' : '', 'verification status only with an NHS number');
      assert.equal(unescape(pid.getComponent(5, 1)), name.family);
      assert.equal(unescape(pid.getComponent(5, 2)), name.given[0]);
      assert.equal(pid.getComponent(7, 1), (patient.birthDate as string).replace(/-/g, ''));
      assert.equal(pid.getComponent(8, 1), patient.gender === 'female' ? 'F' : 'M');
    });
  }
});
