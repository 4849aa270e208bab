/*
 * Input typing (issue 14 item 4), the probes of the issue one by one: a primitive of the wrong JSON type anywhere in
 * the Bundle or in an NHSD-* header is 400 REC_BAD_REQUEST with an OperationOutcome naming the element — never 500;
 * an id used in a Redis key must be a FHIR id; `__proto__`, `constructor` and `prototype` are refused, never stored or
 * echoed. None of this counts towards the `listener_errors` alert (no 5xx on the request metrics).
 */
import { strict as assert } from 'node:assert';
import http from 'node:http';
import { startHarness, type Harness } from '../helpers/harness.js';
import { IG_EXAMPLES_DIR, loadJson, postMessage, prepare, waitUntilStoreReady, type Posted } from '../helpers/bars-examples.js';
import type { Bundle, Resource } from '../helpers/profile-validator.js';
import { b64 } from '../../src/dev/send.js';

const REFERRAL = loadJson(`${IG_EXAMPLES_DIR}/referral-request_new_111-to-ED_APP1_REFREQ01.json`);

const of = (bundle: Bundle, type: string): Record<string, unknown> => bundle.entry!.find((e) => e.resource?.resourceType === type)!.resource! as Record<string, unknown>;

/** REFREQ01 with one change made to its Patient (or another resource). */
function referralWith(change: (b: Bundle) => void): Bundle {
  const bundle = prepare(REFERRAL);
  change(bundle);
  return bundle;
}

function assertRefused(p: Posted, element: RegExp | string, label: string): void {
  const detail = `${label}: ${p.res.status} ${p.res.body.slice(0, 400)}`;
  assert.equal(p.res.status, 400, detail);
  const issue = p.outcome?.issue?.[0];
  assert.equal(issue?.details?.coding?.[0]?.code, 'REC_BAD_REQUEST', detail);
  const named = `${issue?.diagnostics ?? ''} ${(issue?.expression ?? []).join(' ')}`;
  if (typeof element === 'string') {
    assert.ok(named.includes(element), `names ${element} — ${detail}`);
  } else {
    assert.match(named, element, detail);
  }
}

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

describe('input typing', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async function () {
    h = await startHarness();
    await waitUntilStoreReady(h);
  });
  after(async function () {
    await h?.close();
  });

  it('Patient.name[0].family = 123 → 400 naming Patient.name[0].family', async function () {
    const p = await postMessage(h, referralWith((b) => ((of(b, 'Patient').name as Array<Record<string, unknown>>)[0]!.family = 123)));
    assertRefused(p, 'Patient.name[0].family', 'family 123');
  });

  it('a numeric NHS number (Patient.identifier.value) → 400 naming it', async function () {
    const p = await postMessage(h, referralWith((b) => ((of(b, 'Patient').identifier as Array<Record<string, unknown>>)[0]!.value = 9000000009)));
    assertRefused(p, 'Patient.identifier[0].value', 'numeric NHS number');
  });

  it('identifier.system null or numeric → 400 naming it', async function () {
    for (const system of [null, 42]) {
      const p = await postMessage(h, referralWith((b) => ((of(b, 'Patient').identifier as Array<Record<string, unknown>>)[0]!.system = system)));
      assertRefused(p, 'Patient.identifier[0].system', `system ${String(system)}`);
    }
  });

  it('address.postalCode = {} (and {"a":1}) → 400 naming it', async function () {
    for (const postalCode of [{}, { a: 1 }]) {
      const p = await postMessage(h, referralWith((b) => ((of(b, 'Patient').address as Array<Record<string, unknown>>)[0]!.postalCode = postalCode)));
      assertRefused(p, 'Patient.address[0].postalCode', `postalCode ${JSON.stringify(postalCode)}`);
    }
  });

  it('a numeric or null system or value in an NHSD-* header JSON → 400 naming the header', async function () {
    const cases: Array<[string, unknown]> = [
      ['NHSD-End-User-Organisation', { resourceType: 'Organization', identifier: [{ system: 42, value: 'A1001' }] }],
      ['NHSD-End-User-Organisation', { resourceType: 'Organization', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 1001 }] }],
      ['NHSD-End-User-Organisation', { resourceType: 'Organization', identifier: [{ system: null, value: 'A1001' }] }],
      ['NHSD-Target-Identifier', { system: 7, value: '2000072489' }],
      ['NHSD-Requesting-Software', { resourceType: 'Device', identifier: [{ system: 1, value: 'x' }] }],
      ['NHSD-Requesting-Practitioner', { resourceType: 'PractitionerRole', identifier: [{ system: ['x'], value: 'y' }] }],
    ];
    for (const [header, value] of cases) {
      const p = await postMessage(h, prepare(REFERRAL), { [header]: b64(value) });
      assertRefused(p, header, `${header} ${JSON.stringify(value)}`);
    }
  });

  it('an update naming ServiceRequest `<id>:versions` (a Redis key of another type) → 400, not WRONGTYPE 500', async function () {
    const first = await postMessage(h, prepare(REFERRAL));
    assert.equal(first.res.status, 200, first.res.body.slice(0, 300));
    const srId = (of(first.bundle!, 'ServiceRequest').id as string);
    for (const id of [`${srId}:versions`, `${srId} `, 'x'.repeat(65), 'a/b']) {
      const update = referralWith((b) => {
        const header = b.entry![0]!.resource! as Resource & { reason: { coding: Array<{ code: string }> } };
        header.reason.coding[0]!.code = 'update';
        of(b, 'ServiceRequest').id = id;
      });
      const p = await postMessage(h, update);
      assertRefused(p, 'ServiceRequest.id', `id ${JSON.stringify(id)}`);
    }
  });

  it('__proto__, constructor and prototype keys in the Bundle or a header → 400, never stored or echoed', async function () {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const text = JSON.stringify(prepare(REFERRAL)).replace('"patientInstruction":', `"${key}":{"polluted":"yes"},"patientInstruction":`);
      const p = await postMessage(h, text);
      assertRefused(p, `ServiceRequest.${key}`, key);
      assert.doesNotMatch(p.res.body, /polluted/);
      const header = `{"${key}":{"polluted":"yes"},"resourceType":"Organization","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"A1001"}]}`;
      const q = await postMessage(h, prepare(REFERRAL), { 'NHSD-End-User-Organisation': Buffer.from(header).toString('base64') });
      assertRefused(q, 'NHSD-End-User-Organisation', `${key} in header`);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    // Nothing stored: no stored message or record holds the key.
    assert.deepEqual(await searchStored(h), []);
  });

  it('none of these refusals counts as a listener error (no 5xx on bars_bridge_requests_total)', async function () {
    const text = await metrics(h.running.adminPort!);
    const lines = text.split('\n').filter((l) => l.startsWith('bars_bridge_requests_total{'));
    assert.ok(lines.some((l) => /status="400"/.test(l)), 'the refusals were counted');
    assert.deepEqual(lines.filter((l) => /status="5\d\d"/.test(l)), []);
  });
});

/** Stored messages whose text contains `polluted` (none expected). */
async function searchStored(h: Harness): Promise<string[]> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(process.env.TEST_REDIS_URL!);
  try {
    const keys = await redis.keys(`${h.config.redis.prefix}:msg:*`);
    const out: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'string' && ((await redis.get(key)) ?? '').includes('polluted')) {
        out.push(key);
      }
    }
    return out;
  } finally {
    redis.disconnect();
  }
}
