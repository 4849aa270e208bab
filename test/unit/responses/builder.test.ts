/* eslint-disable @typescript-eslint/no-explicit-any -- FHIR JSON read loosely in assertions */
import { strict as assert } from 'node:assert';
import { BundleIndex } from '../../../src/protocol/bars/bundle.js';
import { definitionByUrl } from '../../../src/protocol/bars/definitions.js';
import type { Bundle, Resource } from '../../../src/protocol/bars/types.js';
import { buildResponse, ResponseBuildError, REJECTED_REASONS_SYSTEM } from '../../../src/flows/responses/builder.js';
import { checkResponseBundle } from '../../../src/flows/responses/check.js';
import { RESPONSE_DEFINITIONS } from '../../../src/flows/responses/definitions.js';
import type { ResponseEvent, ResponseKind } from '../../../src/protocol/bars/response-events.js';
import { example, OUR_ID, SERVICE, storedFrom } from './stored.js';

type Header = Record<string, any>;
const headerOf = (b: Bundle): Header => b.entry![0]!.resource as Header;
const counts = (b: Bundle): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const e of b.entry!) {out[e.resource!.resourceType] = (out[e.resource!.resourceType] ?? 0) + 1;}
  return out;
};
const focusOf = (b: Bundle): Resource => new BundleIndex(b).resolve(headerOf(b).focus[0])!;
// REFRESP02/03 cite `…-servicerequest-request-response-short` for the referral-short definition (spec §13.7).
// (src/protocol/bars/definitions.ts has this alias but lower-cases the URL before looking it up, so it never matches.)
const canonical = (url: string): string | undefined =>
  definitionByUrl(url.replace('bars-message-servicerequest-request-response-short', 'bars-message-servicerequest-response-referral-short'))?.url;

interface Case {
  readonly title: string;
  readonly nhsExample: string;
  readonly request: string;
  readonly workflow: 'referral-new' | 'validation-new';
  readonly useCase: string;
  readonly kind: ResponseKind;
  readonly event: ResponseEvent;
  readonly previous?: ResponseKind[];
  readonly appointment?: Resource;
  /** Where the example contradicts the guide's text, the guide wins; named here so the deviation is visible. */
  readonly exampleFocusDeviates?: string;
}

const CASES: Case[] = [
  {
    title: 'APP1 safeguarding DNA feedback (REFRESP01)',
    nhsExample: 'async-response_safeguarding-DNA_ED-to-111_APP1_REFRESP01',
    request: 'referral-request_new_111-to-ED_APP1_REFREQ01',
    workflow: 'referral-new',
    useCase: 'a1t1',
    kind: 'referral-dna',
    event: { type: 'appointment-no-show' },
    appointment: { resourceType: 'Appointment', id: '3cac9cde-a262-42b3-bcf1-215ab79c3e37', status: 'booked', participant: [{ status: 'accepted' }] },
  },
  {
    title: 'APP6 CAD mutual aid rejection (REFRESP02)',
    nhsExample: 'async-response_mutual-aid-rejection_APP6_REFRESP02',
    request: 'referral-request_new_CAD-out-of-area_APP6_REFREQ04',
    workflow: 'referral-new',
    useCase: 'a6t3',
    kind: 'referral-status',
    event: { type: 'encounter-status-changed', from: 'planned', to: 'cancelled', reasonCode: 'RRNA', reasonText: 'We have a paramedic but not available for 30 mins' },
  },
  {
    title: 'APP6 CAD status update (REFRESP03)',
    nhsExample: 'async-response_status-update_CAD-out-of-area_APP6_REFRESP03',
    request: 'referral-request_new_CAD-out-of-area_APP6_REFREQ04',
    workflow: 'referral-new',
    useCase: 'a6t1',
    kind: 'referral-status',
    event: { type: 'encounter-status-changed', from: 'unknown', to: 'planned' },
    exampleFocusDeviates:
      'REFRESP03 focuses the ServiceRequest; APP6 Payloads-for-Responses says focus = the Receiver\'s current Encounter (as REFRESP02 does)',
  },
  {
    title: 'APP4 interim validation response, in progress (VALRESP01A)',
    nhsExample: 'async-response_validation-interim_in-progress_APP4_VALRESP01A',
    request: 'validation-request_new_999-to-CAS_APP4_VALREQ01',
    workflow: 'validation-new',
    useCase: 'a4t1',
    kind: 'validation-interim',
    event: { type: 'validation-picked-up' },
  },
  {
    // The PAS path: REF^I13 / A04 move our Encounter planned → in-progress (mappings/pas-events/rules.yaml), and the
    // response rule validation-encounter-in-progress answers with the interim response: same content as VALRESP01A.
    title: 'APP4 interim validation response from a PAS Encounter change planned → in-progress (VALRESP01A)',
    nhsExample: 'async-response_validation-interim_in-progress_APP4_VALRESP01A',
    request: 'validation-request_new_999-to-CAS_APP4_VALREQ01',
    workflow: 'validation-new',
    useCase: 'a4t1',
    kind: 'validation-interim',
    event: { type: 'encounter-status-changed', from: 'planned', to: 'in-progress' },
  },
  {
    title: 'APP4 interim validation response, rejected (VALRESP04)',
    nhsExample: 'async-response_validation-interim_rejected_APP4_VALRESP04',
    request: 'validation-request_new_999-to-CAS_APP4_VALREQ01',
    workflow: 'validation-new',
    useCase: 'a4t1',
    kind: 'validation-interim',
    event: { type: 'validation-rejected', reasonCode: 'FC', reasonText: 'We were unable to contact the patient' },
  },
  {
    title: 'APP4 full validation response after an interim (VALRESP01B)',
    nhsExample: 'async-response_validation-full_finished_APP4_VALRESP01B',
    request: 'validation-request_new_999-to-CAS_APP4_VALREQ01',
    workflow: 'validation-new',
    useCase: 'a4t1',
    kind: 'validation-full',
    event: { type: 'validation-completed', carePlanStatus: 'active' },
    previous: ['validation-interim'],
  },
  {
    title: 'APP4 full validation response from a PAS Encounter change in-progress → finished (VALRESP01B)',
    nhsExample: 'async-response_validation-full_finished_APP4_VALRESP01B',
    request: 'validation-request_new_999-to-CAS_APP4_VALREQ01',
    workflow: 'validation-new',
    useCase: 'a4t1',
    kind: 'validation-full',
    event: { type: 'encounter-status-changed', from: 'in-progress', to: 'finished' },
    previous: ['validation-interim'],
  },
];

describe('responses: builder vs the NHS examples', function () {
  for (const c of CASES) {
    describe(c.title, function () {
      const original = storedFrom(c.request, c.workflow, c.useCase);
      const nhs = example(c.nhsExample);
      const ours = buildResponse({ kind: c.kind, event: c.event, original, previous: c.previous ?? [], appointment: c.appointment, service: SERVICE, now: new Date('2026-02-02T12:00:00Z') });
      const oh = headerOf(ours);
      const nh = headerOf(nhs);

      it('passes the structural and cardinality check', function () {
        assert.deepEqual(checkResponseBundle(ours, c.kind), []);
      });
      it('the NHS example itself passes the cardinality check (the check is not stricter than the standard)', function () {
        const problems = checkResponseBundle(nhs, c.kind).filter(
          (p) => !/definition must be|profile must include|fullUrl|resource.id|sender must resolve|receiver must resolve|does not resolve/.test(p) && !(c.exampleFocusDeviates && /focus/.test(p)),
        );
        assert.deepEqual(problems, []);
      });
      it('eventCoding, reason and definition as in the example', function () {
        assert.deepEqual(oh.eventCoding, { system: nh.eventCoding.system, code: nh.eventCoding.code });
        assert.deepEqual(oh.reason, nh.reason);
        assert.equal(oh.definition, canonical(nh.definition));
        assert.equal(oh.definition, RESPONSE_DEFINITIONS[c.kind].url);
      });
      it('response = {original Bundle.id, ok}', function () {
        assert.deepEqual(oh.response, { identifier: original.bundleId, code: 'ok' });
        assert.equal(nh.response.code, 'ok');
      });
      it('destination = original source endpoint; source = our DoS service', function () {
        assert.equal(oh.destination[0].endpoint, original.sourceEndpoint);
        assert.equal(oh.source.endpoint, `https://fhir.nhs.uk/Id/dos-service-id|${OUR_ID}`);
        const index = new BundleIndex(ours);
        // The organisation we answer is the original sender; we are the original receiver.
        const origHeader = headerOf(original.bundle);
        const origIndex = new BundleIndex(original.bundle);
        assert.equal(index.resolve(oh.destination[0].receiver)!.id, origIndex.resolve(origHeader.sender)!.id);
        assert.equal(index.resolve(oh.sender)!.id, origIndex.resolve(origHeader.destination[0].receiver)!.id);
      });
      it('focus points at the same resource type with the same status as the example', function () {
        const of = focusOf(ours);
        const nhsIndex = new BundleIndex(nhs);
        // For a deviating example, compare with the Encounter the guide says the focus is (the receiver's: 2nd one).
        const nf = c.exampleFocusDeviates ? nhsIndex.all('Encounter')[1]! : nhsIndex.resolve(nh.focus[0])!;
        assert.equal(of.resourceType, nf.resourceType);
        assert.equal(of.status, nf.status);
        if (of.resourceType === 'Encounter') {
          assert.equal(of.id, original.encounterId, 'focus is our Encounter');
          const codings = (x: Resource): unknown => ((x.reasonCode ?? []) as Array<{ coding: Array<{ system: string; code: string }> }>).map((r) => r.coding.map((cd) => `${cd.system}|${cd.code}`));
          assert.deepEqual(codings(of), codings(nf));
        }
      });
      it('resource types and cardinalities the definition fixes match the example', function () {
        const def = RESPONSE_DEFINITIONS[c.kind];
        const oc = counts(ours);
        const nc = counts(nhs);
        for (const [type, card] of Object.entries(def.resources)) {
          if (card.min > 0 || card.max === 1 || type === 'Encounter') {
            if ((nc[type] ?? 0) > 0 || card.min > 0) {
              assert.ok((oc[type] ?? 0) >= card.min && (card.max === undefined || (oc[type] ?? 0) <= card.max), `${type}: ${oc[type]}`);
            }
          }
        }
        assert.equal(oc.Encounter ?? 0, nc.Encounter ?? 0, 'Encounter count');
        assert.equal(oc.ServiceRequest, 1);
        assert.equal(oc.Patient, 1);
        for (const type of ['Appointment', 'CarePlan', 'Location']) {
          assert.equal(oc[type] ?? 0, nc[type] ?? 0, `${type} count`);
        }
        for (const type of Object.keys(oc)) {assert.ok(def.resources[type], `${type} belongs to the definition`);}
      });
      it('statuses of ServiceRequest, Appointment and CarePlan as in the example', function () {
        for (const type of ['ServiceRequest', 'Appointment', 'CarePlan']) {
          const o = new BundleIndex(ours).first(type);
          const n = new BundleIndex(nhs).first(type);
          assert.equal(o?.status, n?.status, type);
        }
      });
      it('Bundle: message, BARSBundleMessage profile, Application version of the original, new id', function () {
        assert.equal(ours.type, 'message');
        assert.equal(ours.meta!.versionId, original.bundle.meta!.versionId);
        assert.notEqual(ours.id, original.bundleId);
        assert.deepEqual(ours.meta!.profile, nhs.meta!.profile);
        assert.deepEqual(oh.meta.profile, ['https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response']);
      });
    });
  }

  it('rejection text and code travel on our Encounter (RRNA, REFRESP02)', function () {
    const original = storedFrom('referral-request_new_CAD-out-of-area_APP6_REFREQ04', 'referral-new', 'a6t3');
    const b = buildResponse({ kind: 'referral-status', event: { type: 'encounter-status-changed', from: 'planned', to: 'cancelled', reasonCode: 'RRNA', reasonText: 'later' }, original, previous: [], service: SERVICE, now: new Date() });
    assert.deepEqual(focusOf(b).reasonCode, [{ coding: [{ system: REJECTED_REASONS_SYSTEM, code: 'RRNA', display: 'Requested resource not available within timescale' }], text: 'later' }]);
  });

  it('a full validation response without an earlier interim has reason new', function () {
    const original = storedFrom('validation-request_new_999-to-CAS_APP4_VALREQ01', 'validation-new', 'a4t1');
    const b = buildResponse({ kind: 'validation-full', event: { type: 'validation-completed', carePlanStatus: 'completed' }, original, previous: [], service: SERVICE, now: new Date() });
    assert.equal(headerOf(b).reason.coding[0].code, 'new');
    assert.equal(new BundleIndex(b).first('CarePlan')!.status, 'completed');
  });

  it('delivery failure: APP4 interim response with Encounter cancelled + OTH', function () {
    const original = storedFrom('validation-request_new_999-to-CAS_APP4_VALREQ01', 'validation-new', 'a4t1');
    const b = buildResponse({ kind: 'validation-interim', event: { type: 'delivery-failed' }, original, previous: [], service: SERVICE, now: new Date() });
    const f = focusOf(b) as Record<string, any>;
    assert.equal(f.status, 'cancelled');
    assert.equal(f.reasonCode[0].coding[0].code, 'OTH');
    assert.deepEqual(checkResponseBundle(b, 'validation-interim'), []);
  });

  it('leaves no reference to an entry it did not carry', function () {
    const original = storedFrom('referral-request_new_CAD-out-of-area_APP6_REFREQ04', 'referral-new', 'a6t1');
    const b = buildResponse({ kind: 'referral-status', event: { type: 'encounter-status-changed', from: 'planned', to: 'in-progress' }, original, previous: [], service: SERVICE, now: new Date() });
    assert.ok(!checkResponseBundle(b, 'referral-status').some((p) => p.includes('does not resolve')));
  });

  it('fails to build (permanently) without a source endpoint to answer', function () {
    const original = { ...storedFrom('validation-request_new_999-to-CAS_APP4_VALREQ01', 'validation-new', 'a4t1'), sourceEndpoint: undefined };
    assert.throws(() => buildResponse({ kind: 'validation-interim', event: { type: 'validation-picked-up' }, original, previous: [], service: SERVICE, now: new Date() }), ResponseBuildError);
  });

  it('fills what the definition requires and the request lacked (Consent, HealthcareService, PractitionerRole)', function () {
    const original = storedFrom('referral-request_new_111-to-ED_APP1_REFREQ01', 'referral-new', 'a1t1');
    original.bundle.entry = original.bundle.entry!.filter((e) => !['Consent', 'HealthcareService', 'Practitioner', 'PractitionerRole'].includes(e.resource!.resourceType));
    const b = buildResponse({ kind: 'referral-dna', event: { type: 'appointment-no-show' }, original, previous: [], service: SERVICE, now: new Date() });
    assert.deepEqual(checkResponseBundle(b, 'referral-dna'), []);
    const hs = new BundleIndex(b).first('HealthcareService') as Record<string, any>;
    assert.equal(hs.identifier[0].value, OUR_ID);
  });
});
