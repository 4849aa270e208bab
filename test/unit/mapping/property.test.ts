/*
 * Property tests over generated patients: names with HL7 delimiters (| ^ ~ \ &) and non-ASCII letters, instants
 * with non-UTC offsets, optional data missing. The REF^I12 output always passes its own checks, parses with an
 * independent parser, and reads back the generated values.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Hl7Message } from '@medplum/core';
import type { Bundle } from '../../../src/protocol/bars/types.js';
import { fhirToHl7Ts } from '../../../src/mapping/datetime.js';
import { loadMappings, renderMessage } from '../../../src/mapping/index.js';
import { storedMessageFromBundle } from '../../../src/mapping/stored-message.js';

const unescape = (s: string): string => s.replace(/\\([FSTRE])\\/g, (_, c: string) => ({ F: '|', S: '^', T: '&', R: '~', E: '\\' })[c] as string);

const nameChar = fc.constantFrom(...'abcXYZ éßØ\'-|^~\\&'.split(''));
const name = fc.array(nameChar, { minLength: 1, maxLength: 30 }).map((a) => a.join('')).filter((s) => s.trim() === s && s.trim() !== '');
const offset = fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 14 }), fc.constantFrom(0, 30, 45)).map(
  ([sign, h, m]) => `${sign}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`,
);
const instant = fc
  .tuple(fc.date({ min: new Date('1990-01-01'), max: new Date('2039-12-31'), noInvalidDate: true }), offset)
  .map(([d, o]) => d.toISOString().slice(0, 19) + o);

const patientArb = fc.record({
  family: name,
  given: fc.option(name, { nil: undefined }),
  gender: fc.option(fc.constantFrom('male', 'female', 'other', 'unknown'), { nil: undefined }),
  birthDate: fc.option(fc.date({ min: new Date('1900-01-01'), max: new Date('2024-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)), { nil: undefined }),
  street: fc.option(name, { nil: undefined }),
  phone: fc.option(fc.stringMatching(/^0[0-9]{10}$/), { nil: undefined }),
  authoredOn: instant,
  instruction: fc.option(fc.array(nameChar, { minLength: 1, maxLength: 600 }).map((a) => a.join('')), { nil: undefined }),
});

type GeneratedPatient = typeof patientArb extends fc.Arbitrary<infer T> ? T : never;

function bundleFor(p: GeneratedPatient): Bundle {
  const patient = {
    resourceType: 'Patient',
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9000000009' }],
    name: [{ use: 'official', family: p.family, ...(p.given ? { given: [p.given] } : {}) }],
    ...(p.gender ? { gender: p.gender } : {}),
    ...(p.birthDate ? { birthDate: p.birthDate } : {}),
    ...(p.street ? { address: [{ use: 'home', line: [p.street] }] } : {}),
    ...(p.phone ? { telecom: [{ system: 'phone', value: p.phone, use: 'home' }] } : {}),
  };
  return {
    resourceType: 'Bundle',
    id: 'prop',
    type: 'message',
    entry: [
      {
        fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111',
        resource: {
          resourceType: 'MessageHeader',
          eventCoding: { system: 'https://fhir.nhs.uk/CodeSystem/message-events-bars', code: 'servicerequest-request' },
          reason: { coding: [{ code: 'new' }] },
          destination: [{ endpoint: 'https://fhir.nhs.uk/Id/dos-service-id|111111111' }],
          source: { endpoint: 'https://fhir.nhs.uk/Id/dos-service-id|2222222222' },
          focus: [{ reference: 'urn:uuid:22222222-2222-4222-8222-222222222222' }],
        },
      },
      {
        fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222',
        resource: {
          resourceType: 'ServiceRequest',
          status: 'active',
          intent: 'plan',
          category: [{ coding: [{ system: 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars', code: 'a3t1' }] }],
          subject: { reference: 'Patient/p1' },
          authoredOn: p.authoredOn,
          ...(p.instruction ? { patientInstruction: p.instruction } : {}),
        },
      },
      { fullUrl: 'https://example.org/fhir/Patient/p1', resource: { ...patient, id: 'p1' } },
    ],
  };
}

describe('mapping properties (fast-check)', function () {
  this.timeout(60_000);
  const registry = loadMappings('mappings');
  const mapping = registry.get('referral-new.ref-i12')!;

  it('REF^I12 for any generated patient parses independently and round-trips the values', function () {
    fc.assert(
      fc.property(patientArb, (p) => {
        const msg = storedMessageFromBundle(bundleFor(p));
        const text = renderMessage(mapping, msg, { now: new Date('2024-01-01T00:00:00Z'), controlId: 'P1' }).text;
        const parsed = Hl7Message.parse(text);
        const pid = parsed.getSegment('PID')!;
        assert.equal(unescape(pid.getComponent(5, 1)), p.family);
        assert.equal(unescape(pid.getComponent(5, 2)), p.given ?? '');
        assert.equal(pid.getComponent(7, 1), p.birthDate?.replace(/-/g, '') ?? '');
        assert.equal(pid.getComponent(8, 1), p.gender ? { male: 'M', female: 'F', other: 'O', unknown: 'U' }[p.gender] : '');
        assert.equal(unescape(pid.getComponent(11, 1)), p.street ?? '');
        // RF1-9 Process Date keeps the sender's offset.
        const rf1 = parsed.getSegment('RF1')!;
        assert.equal(rf1.getComponent(9, 1), fhirToHl7Ts(p.authoredOn));
        assert.match(rf1.getComponent(9, 1), /^\d{14}[+-]\d{4}$/);
        // Long instructions are continued over NTE segments, never cut: the pieces join back to the whole.
        if (p.instruction) {
          const ntes = parsed.segments.filter((s) => s.name === 'NTE').map((s) => unescape(s.getField(3).toString()));
          assert.ok(ntes.join('').includes(p.instruction), 'instruction continued in NTEs');
        }
      }),
      { numRuns: 200 },
    );
  });

  it('fhirToHl7Ts keeps the offset of any instant', function () {
    fc.assert(
      fc.property(instant, (v) => {
        const ts = fhirToHl7Ts(v);
        assert.equal(ts.slice(-5), v.slice(-6).replace(':', ''));
        assert.equal(ts.slice(0, 14), v.slice(0, 19).replace(/[-T:]/g, ''));
      }),
    );
  });
});
