import { strict as assert } from 'node:assert';
import { classifyResponse, targetIdentifierHeader } from '../../../src/flows/responses/proxy-client.js';

const ids = { requestId: '0a7d9a4e-1111-4111-8111-111111111111', correlationId: '0a7d9a4e-2222-4222-8222-222222222222' };
const echo = { 'x-request-id': ids.requestId, 'x-correlation-id': ids.correlationId };
const oo = (code: string): string => JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code }] });
const res = (status: number, body = '', headers: Record<string, string> = echo) => ({ status, headers, body });

describe('responses: classification of proxy answers (sender retry rules)', function () {
  const table: Array<[string, ReturnType<typeof res>, string]> = [
    ['200 with integrity headers', res(200, '{}'), 'delivered'],
    ['200 without integrity headers', res(200, '{}', {}), 'retry'],
    ['200 with a different X-Request-Id', res(200, '{}', { ...echo, 'x-request-id': 'x' }), 'retry'],
    ['409 duplicate', res(409, oo('duplicate')), 'duplicate-delivered'],
    ['409 duplicate even without integrity headers', res(409, oo('duplicate'), {}), 'duplicate-delivered'],
    ['409 conflict', res(409, oo('conflict')), 'dead-letter'],
    ['408 REC_TIMEOUT', res(408, oo('timeout')), 'retry'],
    ['425 REC_TOO_EARLY', res(425, oo('duplicate')), 'retry'],
    ['429', res(429, oo('throttled')), 'retry'],
    ['503', res(503, oo('transient')), 'retry'],
    ['504', res(504, oo('timeout')), 'retry'],
    ['401 after the refresh', res(401, oo('security')), 'retry'],
    ['403 SEND_FORBIDDEN', res(403, oo('forbidden')), 'retry'],
    ['400 with OperationOutcome', res(400, oo('invalid')), 'dead-letter'],
    ['404 PROXY_NOT_FOUND', res(404, oo('not-found')), 'dead-letter'],
    ['422', res(422, oo('not-supported')), 'dead-letter'],
    ['400 without OperationOutcome', res(400, ''), 'retry'],
    ['500 without OperationOutcome', res(500, ''), 'retry'],
    ['500 transient', res(500, oo('transient')), 'retry'],
    ['500 no-store', res(500, oo('no-store')), 'retry'],
    ['500 exception', res(500, oo('exception')), 'dead-letter'],
  ];
  for (const [title, r, expected] of table) {
    it(`${title} → ${expected}`, function () {
      assert.equal(classifyResponse(r, ids).outcome, expected);
    });
  }
  it('keeps the OperationOutcome of an error', function () {
    const r = classifyResponse(res(400, oo('invalid')), ids);
    assert.deepEqual(r.operationOutcome, JSON.parse(oo('invalid')));
  });
  it('honours Retry-After', function () {
    assert.equal(classifyResponse(res(429, oo('throttled'), { ...echo, 'retry-after': '3' }), ids).retryAfterMs, 3000);
  });
  it('NHSD-Target-Identifier is base64 JSON {system, value} of the endpoint', function () {
    const h = targetIdentifierHeader('https://fhir.nhs.uk/Id/dos-service-id|2222222222');
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64').toString()), { system: 'https://fhir.nhs.uk/Id/dos-service-id', value: '2222222222' });
    assert.throws(() => targetIdentifierHeader('no-bar'));
  });
});
