import { strict as assert } from 'node:assert';
import { BarsError } from '../../src/protocol/bars/errors.js';
import { checkAccess, checkIntegrityHeaders, negotiate, readRequester } from '../../src/protocol/bars/headers.js';
import { barsHeaders, b64 } from '../../src/dev/send.js';

const lower = (h: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

function refusal(fn: () => unknown): BarsError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BarsError, `expected a BarsError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

describe('BaRS request headers', function () {
  it('accepts UUID integrity headers and normalises them to lower case', function () {
    const ids = checkIntegrityHeaders({ 'x-request-id': 'A0C2F6B4-1D2E-4F00-9C1B-0123456789AB', 'x-correlation-id': '0c1b2f3e-4d5a-4b6c-8d7e-9f0a1b2c3d4e' });
    assert.equal(ids.requestId, 'a0c2f6b4-1d2e-4f00-9c1b-0123456789ab');
  });

  it('refuses a missing X-Request-Id as required and a non-UUID X-Correlation-Id as value', function () {
    assert.equal(refusal(() => checkIntegrityHeaders({ 'x-correlation-id': '0c1b2f3e-4d5a-4b6c-8d7e-9f0a1b2c3d4e' })).issue, 'required');
    const e = refusal(() => checkIntegrityHeaders({ 'x-request-id': '0c1b2f3e-4d5a-4b6c-8d7e-9f0a1b2c3d4e', 'x-correlation-id': 'yyyyyyyyyyyyyyy' }));
    assert.equal(e.issue, 'value');
    assert.equal(e.status, 400);
    assert.equal(e.expression, 'X-Correlation-Id');
  });

  it('decodes the NHSD-* headers into the requester', function () {
    const r = readRequester(lower(barsHeaders('2000072489')), true);
    assert.equal(r.odsCode, 'A1001');
    assert.deepEqual(r.softwareIds, ['bars-bridge-send']);
    assert.equal(r.target?.value, '2000072489');
  });

  it('refuses NHSD-End-User-Organisation that is not base64, not JSON, or not an Organization', function () {
    const base = lower(barsHeaders('2000072489'));
    for (const bad of ['%%%not-base64%%%', Buffer.from('{not json').toString('base64'), b64({ resourceType: 'Device' })]) {
      const e = refusal(() => readRequester({ ...base, 'nhsd-end-user-organisation': bad }, true));
      assert.equal(e.status, 400);
      assert.equal(e.expression, 'NHSD-End-User-Organisation');
    }
  });

  it('requires the access-control headers only where asked', function () {
    const base = lower(barsHeaders('2000072489'));
    delete base['nhsd-requesting-software'];
    assert.equal(refusal(() => readRequester(base, true)).issue, 'required');
    assert.doesNotThrow(() => readRequester(base, false));
  });

  it('answers 401 REC_UNAUTHORIZED (never 403) when the ODS code is not allowed', function () {
    const r = readRequester(lower(barsHeaders('2000072489')), true);
    const e = refusal(() => checkAccess(r, { odsCodes: ['Y99'], softwareIds: [] }));
    assert.equal(e.status, 401);
    assert.equal(e.code, 'REC_UNAUTHORIZED');
    assert.doesNotThrow(() => checkAccess(r, { odsCodes: ['A1001'], softwareIds: [] }));
  });

  it('negotiates json or xml, lets _format win, and refuses another major version with 406', function () {
    assert.equal(negotiate('application/fhir+json; version=1.2.0', undefined, 1), 'json');
    assert.equal(negotiate('application/fhir+xml; version=1.0.0', undefined, 1), 'xml');
    assert.equal(negotiate('application/fhir+json; version=1.0.0', 'application/fhir+xml', 1), 'xml');
    assert.equal(negotiate(undefined, undefined, 1), 'json');
    assert.equal(refusal(() => negotiate('application/fhir+json; version=2.0.0', undefined, 1)).status, 406);
    assert.equal(refusal(() => negotiate('text/html', undefined, 1)).status, 406);
  });
});
