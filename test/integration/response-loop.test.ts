/*
 * Issue 5's end-to-end loop: a validation request in over mTLS → HL7 to the PAS simulator → the PAS reports the case
 * picked up (REF^I13 naming our reference) → an interim validation response reaches the (mock) BaRS proxy with a new
 * X-Request-Id, the original X-Correlation-Id and an NHSD-Target-Identifier naming the original sender's service.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { sendPasEvent } from '../../src/dev/pas-sim-events.js';
import { startHarness, TEST_SERVICE_ID, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/messages.js';
import { igExample } from '../external/nhs-material.js';

const VALREQ01 = igExample('validation-request_new_999-to-CAS_APP4_VALREQ01.json');

describe('asynchronous response loop through the PAS and the proxy', function () {
  this.timeout(30_000);
  let h: Harness;
  before(async function () {
    h = await startHarness({ worker: true });
  });
  after(async function () {
    await h.close();
  });

  it('sends an interim validation response when the PAS picks the case up', async function () {
    const bundle = JSON.parse(readFileSync(VALREQ01, 'utf8')) as { id: string; entry: Array<{ resource: Record<string, unknown> }> };
    bundle.id = randomUUID();
    const header = bundle.entry[0]!.resource as { destination: Array<{ endpoint: string }>; source: { endpoint: string } };
    header.destination[0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
    const headers: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
    const res = await h.send('POST', '/$process-message', headers, JSON.stringify(bundle));
    assert.equal(res.status, 200, res.body);
    const resources = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; status?: string; identifier?: Array<{ value: string }> } }> }).entry.map((e) => e.resource);
    const reference = resources.find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value;

    // The validation request reached the PAS as REF^I12.
    const sim = h.running.pasSimulator!;
    await waitFor(() => sim.received.find((m) => m.text.includes(reference)));

    const controlId = `PAS${Date.now()}`;
    const i13 = `MSH|^~\\&|PAS|RXX|BARS|RXX|20261123100000||REF^I13^REF_I12|${controlId}|P|2.4\rRF1|A|||||${reference}\r`;
    const ack = await sendPasEvent({ host: '127.0.0.1', port: h.running.pasEventsPort! }, i13, controlId);
    assert.equal(ack.code, 'AA');

    const proxy = h.running.mockProxy!;
    const sent = await waitFor(() => proxy.requests.find((r) => r.path.endsWith('/$process-message') && r.headers['x-correlation-id'] === headers['X-Correlation-Id']));
    assert.notEqual(sent.headers['x-request-id'], headers['X-Request-Id'], 'a response is a new request');
    const target = JSON.parse(Buffer.from(sent.headers['nhsd-target-identifier']!, 'base64').toString('utf8')) as { system: string; value: string };
    assert.equal(`${target.system}|${target.value}`, header.source.endpoint, 'sent back to the original sender\'s service');
    assert.match(sent.headers.authorization ?? '', /^Bearer /);
    const response = JSON.parse(sent.body) as { id: string; entry: Array<{ resource: Record<string, unknown> }> };
    const mh = response.entry[0]!.resource as { eventCoding: { code: string }; response: { identifier: string; code: string }; definition: string };
    assert.equal(mh.eventCoding.code, 'servicerequest-response');
    assert.deepEqual(mh.response, { identifier: bundle.id, code: 'ok' });
    assert.match(mh.definition, /bars-message-servicerequest-response-validation-interim$/);
    const encounter = response.entry.map((e) => e.resource).find((r) => r.resourceType === 'Encounter' && r.status === 'in-progress');
    assert.ok(encounter, 'our Encounter, now in-progress, is in the response');
  });
  it('sends a rejected interim validation response (Encounter cancelled, reason OTH) when the PAS rejects the case (REF^I14)', async function () {
    // Before the fix the PAS rule emitted the change without a reason code and the validation-encounter-cancelled
    // rule (reasonCodes RRNA/FC/OTH) never matched: the sender heard nothing.
    const bundle = JSON.parse(readFileSync(VALREQ01, 'utf8')) as { id: string; entry: Array<{ resource: Record<string, unknown> }> };
    bundle.id = randomUUID();
    const header = bundle.entry[0]!.resource as { destination: Array<{ endpoint: string }> };
    header.destination[0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
    const headers: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
    const res = await h.send('POST', '/$process-message', headers, JSON.stringify(bundle));
    assert.equal(res.status, 200, res.body);
    const resources = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; status?: string; identifier?: Array<{ value: string }> } }> }).entry.map((e) => e.resource);
    const reference = resources.find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value;
    await waitFor(() => h.running.pasSimulator!.received.find((m) => m.text.includes(reference)));

    const controlId = `PAS${Date.now()}R`;
    const i14 = `MSH|^~\\&|PAS|RXX|BARS|RXX|20261123100000||REF^I14^REF_I12|${controlId}|P|2.4\rRF1|R|||||${reference}\r`;
    const ack = await sendPasEvent({ host: '127.0.0.1', port: h.running.pasEventsPort! }, i14, controlId);
    assert.equal(ack.code, 'AA');

    const proxy = h.running.mockProxy!;
    const sent = await waitFor(() => proxy.requests.find((r) => r.path.endsWith('/$process-message') && r.headers['x-correlation-id'] === headers['X-Correlation-Id']));
    const response = JSON.parse(sent.body) as { entry: Array<{ resource: Record<string, unknown> }> };
    const mh = response.entry[0]!.resource as { definition: string };
    assert.match(mh.definition, /bars-message-servicerequest-response-validation-interim$/);
    const encounter = response.entry.map((e) => e.resource).find((r) => r.resourceType === 'Encounter' && r.status === 'cancelled') as
      | { reasonCode?: Array<{ coding?: Array<{ system?: string; code?: string }> }> }
      | undefined;
    assert.ok(encounter, 'our Encounter, now cancelled, is in the response');
    assert.deepEqual(encounter.reasonCode?.[0]?.coding?.map((c) => [c.system, c.code]), [['https://fhir.nhs.uk/CodeSystem/rejected-reasons-bars', 'OTH']]);
  });
});
