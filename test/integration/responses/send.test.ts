/* eslint-disable @typescript-eslint/no-explicit-any -- FHIR JSON read loosely in assertions */
import { strict as assert } from 'node:assert';
import { BundleIndex } from '../../../src/protocol/bars/bundle.js';
import type { Bundle } from '../../../src/protocol/bars/types.js';
import { checkResponseBundle } from '../../../src/flows/responses/check.js';
import { enqueueResponse, enqueueResponsesFor } from '../../../src/flows/responses/queue.js';
import { decode, startResponsesEnv, type ResponsesEnv } from './env.js';
import { r4Errors } from './r4-validator.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

describe('responses: stored message → queue → mock proxy', function () {
  this.timeout(30_000);
  let env: ResponsesEnv;
  before(async function () {
    env = await startResponsesEnv();
  });
  after(async function () {
    await env?.close();
  });

  it('sends an APP4 interim validation response with the BaRS headers and a bearer token from the token endpoint', async function () {
    const stored = await env.receive('validation-request_new_999-to-CAS_APP4_VALREQ01');
    const queued = await enqueueResponse(env.deps, { messageId: stored.id, kind: 'validation-interim', event: { type: 'validation-picked-up' } });
    const done = await env.waitFinished(queued.responseId);
    assert.equal(done.state, 'delivered');
    const reqs = env.proxy.requests.filter((r) => r.headers['x-correlation-id'] === stored.correlationId);
    assert.equal(reqs.length, 1);
    const { headers, body } = reqs[0]!;
    assert.match(headers['x-request-id']!, UUID);
    assert.notEqual(headers['x-request-id'], stored.requestId, 'a new X-Request-Id');
    assert.equal(headers['x-request-id'], queued.requestId);
    assert.equal(headers['x-correlation-id'], stored.correlationId, 'the same X-Correlation-Id');
    const [system, value] = stored.sourceEndpoint!.split('|');
    assert.deepEqual(decode(headers['nhsd-target-identifier']!), { system, value });
    const token = /^Bearer (\S+)$/.exec(headers.authorization!)![1];
    assert.ok(token);
    assert.ok(env.proxy.tokenRequests.some((t) => t.ok), 'the token came from the mock token endpoint');
    assert.deepEqual((decode(headers['nhsd-end-user-organisation']!) as { identifier: Array<{ value: string }> }).identifier[0]!.value, env.h.config.service.odsCode);
    assert.equal((decode(headers['nhsd-requesting-software']!) as { resourceType: string }).resourceType, 'Device');
    assert.match(headers.accept!, /^application\/fhir\+json; version=1\.\d+\.\d+$/);
    assert.equal(headers['content-type'], 'application/fhir+json');
    assert.equal(headers['use-context'], 'a4t1|validation|servicerequest-response|new');

    const bundle = JSON.parse(body) as Bundle;
    assert.deepEqual(checkResponseBundle(bundle, 'validation-interim'), []);
    assert.deepEqual(r4Errors(bundle), [], 'base FHIR R4 validation (Medplum)');
    const header = bundle.entry![0]!.resource as Record<string, any>;
    assert.deepEqual(header.response, { identifier: stored.bundleId, code: 'ok' });
    assert.equal(header.destination[0].endpoint, stored.sourceEndpoint);
    const focus = new BundleIndex(bundle).resolve(header.focus[0])!;
    assert.equal(focus.id, stored.encounterId);
    assert.equal(focus.status, 'in-progress');
  });

  it('keeps a conversation in order: the full response waits for the interim, through retries', async function () {
    const stored = await env.receive('validation-request_new_999-to-CAS_APP4_VALREQ01');
    env.proxy.setScenario([503, 429, 'timeout'], 'ok', stored.correlationId);
    const interim = await enqueueResponse(env.deps, { messageId: stored.id, kind: 'validation-interim', event: { type: 'validation-picked-up' } });
    const full = await enqueueResponse(env.deps, { messageId: stored.id, kind: 'validation-full', event: { type: 'validation-completed', carePlanStatus: 'completed' } });
    assert.equal((await env.waitFinished(interim.responseId)).state, 'duplicate-delivered', 'the timed-out attempt had reached the receiver');
    assert.equal((await env.waitFinished(full.responseId)).state, 'delivered');
    const seq = env.proxy.requests.filter((r) => r.headers['x-correlation-id'] === stored.correlationId).map((r) => r.headers['x-request-id']);
    const firstFull = seq.indexOf(full.requestId);
    assert.ok(firstFull > 0 && seq.slice(0, firstFull).every((id) => id === interim.requestId), `order: ${seq.join(',')}`);
    assert.equal(seq.slice(0, firstFull).length, 4, '503, 429, timeout, then 409 duplicate');
    const fullBody = JSON.parse(env.proxy.requests.find((r) => r.headers['x-request-id'] === full.requestId)!.body) as Bundle;
    assert.equal((fullBody.entry![0]!.resource as Record<string, any>).reason.coding[0].code, 'update', 'full after interim: reason update');
    assert.deepEqual(r4Errors(fullBody), []);
  });

  it('refreshes an expired token and resends the same request (same X-Request-Id, same body)', async function () {
    const stored = await env.receive('referral-request_new_CAD-out-of-area_APP6_REFREQ04');
    env.proxy.setScenario(['token-expired'], 'ok', stored.correlationId);
    const [queued] = await enqueueResponsesFor(env.deps, { messageId: stored.id, event: { type: 'encounter-status-changed', from: 'planned', to: 'cancelled', reasonCode: 'RRNA' } });
    assert.equal((await env.waitFinished(queued!.responseId)).state, 'delivered');
    const reqs = env.proxy.requests.filter((r) => r.headers['x-correlation-id'] === stored.correlationId);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]!.headers['x-request-id'], reqs[1]!.headers['x-request-id']);
    assert.equal(reqs[0]!.body, reqs[1]!.body);
    assert.notEqual(reqs[0]!.headers.authorization, reqs[1]!.headers.authorization, 'a new token');
    assert.equal(reqs[1]!.headers['use-context'], 'a6t1|referral|servicerequest-response|new');
    assert.deepEqual(r4Errors(JSON.parse(reqs[1]!.body)), []);
  });

  it('sends the APP1 DNA feedback with the booked Appointment marked noshow', async function () {
    const stored = await env.receive('referral-request_new_111-to-ED_APP1_REFREQ01');
    const [queued] = await enqueueResponsesFor(env.deps, { messageId: stored.id, event: { type: 'appointment-no-show' } });
    assert.equal((await env.waitFinished(queued!.responseId)).state, 'delivered');
    const req = env.proxy.requests.find((r) => r.headers['x-request-id'] === queued!.requestId)!;
    const bundle = JSON.parse(req.body) as Bundle;
    assert.deepEqual(checkResponseBundle(bundle, 'referral-dna'), []);
    assert.deepEqual(r4Errors(bundle), []);
    assert.equal(new BundleIndex(bundle).first('ServiceRequest')!.status, 'revoked');
  });

  it('dead-letters a 400 and keeps its OperationOutcome; the lane moves on', async function () {
    const stored = await env.receive('referral-request_new_CAD-out-of-area_APP6_REFREQ04');
    env.proxy.setScenario(['bad-request'], 'ok', stored.correlationId);
    const a = await enqueueResponse(env.deps, { messageId: stored.id, kind: 'referral-status', event: { type: 'encounter-status-changed', from: 'planned', to: 'arrived' } });
    const b = await enqueueResponse(env.deps, { messageId: stored.id, kind: 'referral-status', event: { type: 'encounter-status-changed', from: 'arrived', to: 'in-progress' } });
    const dead = await env.waitFinished(a.responseId);
    assert.equal(dead.state, 'dead-letter');
    assert.equal(dead.lastStatus, 400);
    assert.equal((dead.operationOutcome as { resourceType: string }).resourceType, 'OperationOutcome');
    assert.ok((await env.responses.deadLetters()).includes(a.responseId));
    assert.equal((await env.waitFinished(b.responseId)).state, 'delivered');
  });

  it('enqueueing the same event twice (same eventId) queues one response', async function () {
    const stored = await env.receive('validation-request_new_999-to-CAS_APP4_VALREQ01');
    const event = { type: 'validation-rejected' as const, reasonCode: 'FC' as const, eventId: 'pas-evt-42' };
    const first = await enqueueResponsesFor(env.deps, { messageId: stored.id, event });
    const second = await enqueueResponsesFor(env.deps, { messageId: stored.id, event });
    assert.equal(first[0]!.responseId, second[0]!.responseId);
    assert.equal(second[0]!.created, false);
    await env.waitFinished(first[0]!.responseId);
    assert.equal(env.proxy.requests.filter((r) => r.headers['x-correlation-id'] === stored.correlationId).length, 1);
  });

  it('the sweeper schedules a lane head whose job was never added (crash between the store and the queue)', async function () {
    const stored = await env.receive('validation-request_new_999-to-CAS_APP4_VALREQ01');
    const id = '11111111-2222-4333-8444-555555555555';
    await env.responses.add({
      id, messageId: stored.id, kind: 'validation-interim', event: { type: 'validation-picked-up' }, requestId: '0b0b0b0b-2222-4333-8444-555555555555',
      correlationId: stored.correlationId, recordId: stored.recordId, state: 'queued', createdAt: new Date().toISOString(), attempts: 0,
    });
    assert.ok((await env.worker.sweep()) >= 1);
    assert.equal((await env.waitFinished(id)).state, 'delivered');
  });

  it('refuses a malformed event at enqueue', async function () {
    const stored = await env.receive('validation-request_new_999-to-CAS_APP4_VALREQ01');
    await assert.rejects(enqueueResponse(env.deps, { messageId: stored.id, kind: 'validation-interim', event: { type: 'validation-rejected', reasonCode: 'XYZ' } as never }));
    await assert.rejects(enqueueResponse(env.deps, { messageId: 'nope', kind: 'validation-interim', event: { type: 'validation-picked-up' } }), /not in the store/);
  });
});
