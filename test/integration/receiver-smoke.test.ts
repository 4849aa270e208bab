import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { startHarness, TEST_SERVICE_ID, type Harness } from '../helpers/harness.js';
import { IG_EXAMPLES_DIR } from '../external/nhs-material.js';

const EXAMPLES = IG_EXAMPLES_DIR;

function example(name: string): Record<string, unknown> {
  const bundle = JSON.parse(readFileSync(`${EXAMPLES}/${name}.json`, 'utf8')) as Record<string, unknown> & {
    entry: Array<{ resource: Record<string, unknown> }>;
  };
  bundle.id = randomUUID();
  const header = bundle.entry[0]!.resource as { destination: Array<{ endpoint: string }> };
  header.destination[0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
  return bundle;
}

describe('receiver over mutual TLS', function () {
  let h: Harness;
  before(async function () {
    h = await startHarness();
  });
  after(async function () {
    await h.close();
  });

  it('accepts the NHS 111→ED referral example and returns receiver ids and a planned Encounter', async function () {
    const headers: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
    const res = await h.send('POST', '/$process-message', headers, JSON.stringify(example('referral-request_new_111-to-ED_APP1_REFREQ01')));
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['x-request-id'], headers['X-Request-Id']);
    assert.equal(res.headers['x-correlation-id'], headers['X-Correlation-Id']);
    const body = JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; id: string; status?: string } }> };
    const planned = body.entry.map((e) => e.resource).find((r) => r.resourceType === 'Encounter' && r.status === 'planned');
    assert.ok(planned, 'planned Encounter in the 200 body');
    const sr = body.entry.map((e) => e.resource).find((r) => r.resourceType === 'ServiceRequest')!;
    const read = await h.send('GET', `/ServiceRequest/${sr.id}`, h.headers());
    assert.equal(read.status, 200, read.body);
    assert.equal((JSON.parse(read.body) as { status: string }).status, 'active');
  });

  it('answers 409 duplicate for a resent X-Request-Id', async function () {
    const headers: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
    const body = JSON.stringify(example('referral-request_new_111-to-ED_APP1_REFREQ01'));
    assert.equal((await h.send('POST', '/$process-message', headers, body)).status, 200);
    const again = await h.send('POST', '/$process-message', headers, body);
    assert.equal(again.status, 409);
    const oo = JSON.parse(again.body) as { issue: Array<{ code: string; details: { coding: Array<{ code: string }> } }> };
    assert.equal(oo.issue[0]!.code, 'duplicate');
    assert.equal(oo.issue[0]!.details.coding[0]!.code, 'REC_CONFLICT');
  });

  it('refuses a missing X-Request-Id with 400 required and still echoes the correlation id', async function () {
    const headers = h.headers();
    delete (headers as Record<string, string>)['X-Request-Id'];
    const res = await h.send('GET', '/metadata', headers);
    assert.equal(res.status, 400);
    assert.equal(res.headers['x-correlation-id'], headers['X-Correlation-Id']);
    const oo = JSON.parse(res.body) as { issue: Array<{ code: string }> };
    assert.equal(oo.issue[0]!.code, 'required');
  });
});
