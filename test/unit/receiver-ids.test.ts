import { strict as assert } from 'node:assert';
import { assignIds, newReference } from '../../src/protocol/bars/receiver-ids.js';
import type { Bundle } from '../../src/protocol/bars/types.js';

describe('receiver-assigned ids', function () {
  it('replaces every sender id, keeps the ones asked for, and follows relative references', function () {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'message',
      entry: [
        { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient', id: '__PATIENT_ID__' } },
        { fullUrl: 'urn:uuid:2', resource: { resourceType: 'ServiceRequest', id: 'keep-me', subject: { reference: 'Patient/__PATIENT_ID__' } } },
      ],
    };
    const out = assignIds(bundle, (r) => (r.id === 'keep-me' ? 'keep-me' : undefined));
    const [patient, sr] = out.entry!.map((e) => e.resource!);
    assert.notEqual(patient!.id, '__PATIENT_ID__');
    assert.equal(sr!.id, 'keep-me');
    assert.equal((sr!.subject as { reference: string }).reference, `Patient/${patient!.id}`);
    assert.equal(bundle.entry![0]!.resource!.id, '__PATIENT_ID__', 'input untouched');
  });

  it('makes readable references without ambiguous letters', function () {
    for (let i = 0; i < 200; i++) {
      assert.match(newReference('BB'), /^BB-[0-9A-HJKMNP-TV-Z]{8}$/);
    }
  });
});
