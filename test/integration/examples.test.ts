/*
 * NHS England's example message Bundles against the real receiver (issue 2 "how we will check it", issue 7 §5).
 * Every example — the IG's examples converted to JSON and the message Bundles of the BaRS 1.34.0 package — is posted
 * with a fresh Bundle.id and the destination rewritten to our service id, and must be accepted (200 with receiver ids)
 * or refused with the specific 4xx OperationOutcome the table below expects, for the reason given there. Rows marked
 * `bug` describe required behaviour the receiver does not have yet: they are skipped and listed in the report.
 * The conversations at the end replay the examples in the order a sender would send them (initial → updates →
 * cancellation, slot search → booking → cancellation), with the ids the receiver returned.
 */
import { strict as assert } from 'node:assert';
import path from 'node:path';
import { startHarness, type Harness } from '../helpers/harness.js';
import {
  describeOutcome,
  exampleFiles,
  IG_EXAMPLES_DIR,
  loadJson,
  postMessage,
  prepare,
  resourcesOf,
  waitUntilStoreReady,
  type Posted,
} from '../helpers/bars-examples.js';
import { BARS_PACKAGE, loadBarsProfiles, unpackedPackage, type Bundle, type Resource } from '../helpers/profile-validator.js';

interface Expected {
  readonly status: number;
  /** BaRS code of the OperationOutcome (4xx only). */
  readonly rec?: string;
  /** FHIR issue code (4xx only). */
  readonly issue?: string;
  /** Why this answer is the right one for this example. */
  readonly why: string;
  /** Set when the receiver does not (yet) answer `status`: what it does instead. The row is skipped. */
  readonly bug?: string;
}

const OK_NEW = 'new message of a supported workflow and use case';
const NEVER_SAW = 'update/cancellation of a record this receiver never saw (its id is the sender example\'s, not one we issued) → 404';
const SLOT = 'Slot not offered by this service (its id is the example\'s, not one of our GET /Slot ids): not free here → 409 conflict (BaRS §6: booking-new only when the slot is free, else 409 REC_CONFLICT conflict)';
const RESPONSE_ACCEPTED =
  'async response accepted as a new message (NB spec §6 says 404 when MessageHeader.response.identifier is unknown locally; the receiver keeps no outbound store yet — reported)';
const UNSOLICITED_VALIDATION =
  'validation response to a validation request this receiver never sent (it sends none) → 400 invariant, as TKW UnsolicitedValidationResponse_* expect';
const CAD_RESPONSE_BUG =
  'answers 400 REC_BAD_REQUEST invariant "Unknown workflow: referral response with ServiceRequest.status active": NHS England\'s APP6 response examples put the ServiceRequest, not the responder\'s Encounter, in MessageHeader.focus, and resolveWorkflow() only looks at focus Encounters';

const EXPECTED: Record<string, Expected> = {
  // --- IG examples (XML in the IG, converted to JSON) ---
  'ig/async-response_mutual-aid-rejection_APP6_REFRESP02.json': { status: 200, why: `APP6 mutual-aid rejection (focus Encounter cancelled); ${RESPONSE_ACCEPTED}` },
  'ig/async-response_safeguarding-DNA_ED-to-111_APP1_REFRESP01.json': { status: 200, why: `APP1 safeguarding DNA response (SR revoked); ${RESPONSE_ACCEPTED}` },
  'ig/async-response_status-update_CAD-out-of-area_APP6_REFRESP03.json': { status: 200, why: 'APP6 CAD out-of-area status update', bug: CAD_RESPONSE_BUG },
  'ig/async-response_validation-full_finished_APP4_VALRESP01B.json': { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: UNSOLICITED_VALIDATION },
  'ig/async-response_validation-interim_in-progress_APP4_VALRESP01A.json': { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: UNSOLICITED_VALIDATION },
  'ig/async-response_validation-interim_rejected_APP4_VALRESP04.json': { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: UNSOLICITED_VALIDATION },
  'ig/booking-cancel_BOOKREQ02.json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `booking cancellation: ${NEVER_SAW}` },
  'ig/booking-request_new_BOOKREQ01.json': { status: 409, rec: 'REC_CONFLICT', issue: 'conflict', why: SLOT },
  'ig/referral-cancel_entered-in-error_SERVREQ02.json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `cancellation (entered-in-error): ${NEVER_SAW}` },
  'ig/referral-cancel_revoked_SERVREQ01.json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `cancellation (revoked): ${NEVER_SAW}` },
  'ig/referral-request_new_111-to-ED_APP1_REFREQ01.json': { status: 200, why: OK_NEW },
  'ig/referral-request_new_999-to-CAS_APP3_REFREQ02.json': { status: 200, why: OK_NEW },
  'ig/referral-request_new_CAD-out-of-area_APP6_REFREQ04.json': { status: 200, why: OK_NEW },
  'ig/referral-request_new_GP-to-pharmacy_APP5_REFREQ03.json': { status: 200, why: OK_NEW },
  'ig/referral-request_update_CAD-out-of-area_APP6_REFREQ8B.json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `referral update: ${NEVER_SAW}` },
  // The IG's slot searchset (type searchset) is not a message: see the last test of the table.
  'ig/validation-request_new_999-to-CAS_APP4_VALREQ01.json': { status: 200, why: OK_NEW },
  'ig/validation-request_update_APP4_VALREQ02.json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `validation update: ${NEVER_SAW}` },
  'ig/validation_sync-http-200-ack_planned-encounter_APP4_VALRESP01.json': {
    status: 200,
    why: 'a receiver\'s 200 acknowledgement posted back as a request: it is a well-formed new validation request (its extra planned Encounter is within the definition)',
  },

  // --- BaRS 1.34.0 package examples (message Bundles) ---
  'pkg/BOOKREQ01 - Booking Request New Full.json': { status: 409, rec: 'REC_CONFLICT', issue: 'conflict', why: SLOT },
  'pkg/BOOKREQ02 - Booking Request Cancelled.json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `booking cancellation: ${NEVER_SAW}` },
  'pkg/REFREQ01 - Referral Service Request New Full - 111 to ED.json': { status: 200, why: OK_NEW },
  'pkg/REFREQ02 - Referral Service Request New Full - 999 to CAS.json': { status: 200, why: OK_NEW },
  'pkg/REFREQ03 - Referral Service Request New Full - GP to CPCS - Minor Illness.json': { status: 200, why: OK_NEW },
  'pkg/REFREQ04 - Referral Service Request - CAD Out of Area.json': { status: 200, why: OK_NEW },
  'pkg/REFREQ05 - Referral Service Request - CAD Mutal Aid Request.json': { status: 200, why: OK_NEW },
  'pkg/REFREQ06 - Referral Service Request New Full - GP to BP - ABPM.json': { status: 200, why: OK_NEW },
  'pkg/REFREQ07 - Referral Service Request New Full - GP to OC.json': { status: 200, why: OK_NEW },
  'pkg/REFREQ8A - Referral Service Request - CAD Out of Area C1(1 of 4 - Initial).json': { status: 200, why: OK_NEW },
  'pkg/REFREQ8B - Referral Service Request - CAD Out of Area C1(2 of 4 - Update).json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `referral update: ${NEVER_SAW}` },
  'pkg/REFREQ8C - Referral Service Request - CAD Out of Area C1(3 of 4 - Update).json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `referral update: ${NEVER_SAW}` },
  'pkg/REFREQ8D - Referral Service Request - CAD Out of Area C1(4 of 4 - Final Update).json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `referral update: ${NEVER_SAW}` },
  'pkg/REFREQ9A - Referral Service Request - CAD Out of Area C2(1 of 3 - Initial).json': { status: 200, why: OK_NEW },
  'pkg/REFREQ9A - Referral Service Request - CAD Out of Area C2(2 of 3 - Update).json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `referral update: ${NEVER_SAW}` },
  'pkg/REFREQ9A - Referral Service Request - CAD Out of Area C2(3 of 3 - Final Update).json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `referral update: ${NEVER_SAW}` },
  'pkg/REFRESP01 - Referral Service Request Response New Full - ED to 111 Safeguarding DNA Feedback.json': { status: 200, why: `APP1 safeguarding DNA response; ${RESPONSE_ACCEPTED}` },
  'pkg/REFRESP02- Referral Service Request Reponse Short - CAD Mutual Aid Rejection.json': { status: 200, why: 'APP6 mutual-aid rejection (short response)', bug: CAD_RESPONSE_BUG },
  'pkg/REFRESP03 - Referral Service Request Response - CAD Out of Area Response.json': { status: 200, why: 'APP6 CAD out-of-area response', bug: CAD_RESPONSE_BUG },
  'pkg/SERVREQ01 - Service Request Update - Revoked.json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `cancellation (revoked): ${NEVER_SAW}` },
  'pkg/SERVREQ02 - Service Request Delete - Entered in error.json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `cancellation (entered-in-error, reason delete): ${NEVER_SAW}` },
  'pkg/VALREQ01 - Validation Service Request New Full - 999 to CAS.json': { status: 200, why: OK_NEW },
  'pkg/VALREQ02 - Validation Service Request Update Full - 999 to CAS Lower Priority.json': { status: 404, rec: 'REC_NOT_FOUND', issue: 'not-found', why: `validation update: ${NEVER_SAW}` },
  'pkg/VALREQ03 - Validation Service Request New Full AMPDS - 999 to CAS.json': { status: 200, why: OK_NEW },
  'pkg/VALRESP01 - Validation Response HTTP Response Acknowledgment - CAS to 999 Planned (0 of 2).json': {
    status: 200,
    why: 'a receiver\'s 200 acknowledgement posted back as a request: a well-formed new validation request',
  },
  'pkg/VALRESP01A - Validation Response New Interim - CAS to 999 In-progress (1 of 2).json': { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: UNSOLICITED_VALIDATION },
  'pkg/VALRESP01B - Validation Response Update Full - CAS to 999 Finished (2 of 2).json': { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: UNSOLICITED_VALIDATION },
  'pkg/VALRESP02 - Validation Response New Full - CAS to 999 Finished.json': { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: UNSOLICITED_VALIDATION },
  'pkg/VALRESP03 - Validation Response New Full - CAS to 999 Finished Inc New CADid Cat 1-2.json': { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: UNSOLICITED_VALIDATION },
  'pkg/VALRESP04 - Validation Response Interim - Reject Validation Request.json': { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: UNSOLICITED_VALIDATION },
  'pkg/VALRESP05 - Validation Response - Falls to 999 Finished copy.json': { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: UNSOLICITED_VALIDATION },
};

type WithStatus = Resource & { status?: string; identifier?: Array<{ system?: string; value?: string }> };

function rootType(bundle: Bundle): 'ServiceRequest' | 'Appointment' {
  const header = bundle.entry?.[0]?.resource as Resource & { eventCoding?: { code?: string } };
  return header.eventCoding?.code === 'booking-request' ? 'Appointment' : 'ServiceRequest';
}

function assertAccepted(p: Posted, sent: Bundle, label: string): void {
  assert.equal(p.res.status, 200, `${label}: ${describeOutcome(p)}`);
  assert.equal(p.res.headers['x-request-id'], p.requestId, `${label}: X-Request-Id echoed`);
  const body = p.bundle;
  assert.ok(body, `${label}: 200 body is a Bundle`);
  assert.equal(body.type, 'message');
  const resources = resourcesOf(body);
  assert.ok(resources.length >= (sent.entry?.length ?? 0), `${label}: no entry lost`);
  for (const r of resources) {
    assert.match(r.id ?? '', /^[0-9a-f-]{36}$/, `${label}: ${r.resourceType} has a receiver-assigned id`);
  }
  const type = rootType(sent);
  const root = resources.find((r) => r.resourceType === type);
  assert.ok(root?.id, `${label}: ${type} with our id`);
  const header = sent.entry![0]!.resource as Resource & { eventCoding?: { code?: string } };
  if (header.eventCoding?.code === 'servicerequest-request') {
    const encounters = resources.filter((r) => r.resourceType === 'Encounter') as WithStatus[];
    const ours = encounters.find((e) => (e.status === 'planned' || e.status === 'cancelled') && e.identifier?.some((i) => /^BB-/.test(i.value ?? '')));
    assert.ok(ours, `${label}: the receiver's planned Encounter with its human-readable reference`);
  }
}

function assertRefused(p: Posted, expected: Expected, label: string): void {
  assert.equal(p.res.status, expected.status, `${label}: ${describeOutcome(p)}`);
  assert.equal(p.res.headers['x-request-id'], p.requestId, `${label}: X-Request-Id echoed`);
  assert.ok(p.outcome, `${label}: OperationOutcome body`);
  const issue = p.outcome.issue?.[0];
  assert.equal(issue?.severity, 'error');
  assert.equal(issue?.details?.coding?.[0]?.code, expected.rec, `${label}: ${describeOutcome(p)}`);
  assert.equal(issue?.code, expected.issue, `${label}: ${describeOutcome(p)}`);
  assert.ok((issue?.diagnostics ?? '').length > 10, `${label}: diagnostics say why`);
  assert.doesNotMatch(p.res.body, /\n\s+at |node_modules|\.ts:\d+/, `${label}: no stack trace`);
}

describe('NHS example bundles against the receiver', function () {
  this.timeout(60_000);
  let h: Harness;
  const files = (() => {
    loadBarsProfiles();
    return exampleFiles();
  })();

  before(async function () {
    h = await startHarness();
    await waitUntilStoreReady(h);
  });
  after(async function () {
    await h?.close();
  });

  it('has an expected outcome for every example message Bundle, and no stale rows', function () {
    const keys = new Set(files.map((f) => f.key));
    assert.deepEqual(files.map((f) => f.key).filter((k) => !EXPECTED[k]), [], 'examples without a row');
    assert.deepEqual(Object.keys(EXPECTED).filter((k) => !keys.has(k)), [], 'rows without an example');
  });

  describe('each example posted on its own', function () {
    for (const { key, file } of files) {
      const expected = EXPECTED[key];
      if (!expected) {
        continue;
      }
      const title = `${key} → ${expected.status}${expected.rec ? ` ${expected.rec}` : ''} (${expected.why})`;
      it(title, async function () {
        const sent = prepare(loadJson(file));
        const p = await postMessage(h, sent);
        if (expected.status === 200) {
          assertAccepted(p, sent, key);
        } else {
          assertRefused(p, expected, key);
        }
      });
    }
  });

  it('refuses the IG slot searchset (not a message Bundle) with 400 REC_BAD_REQUEST value at Bundle.type', async function () {
    const p = await postMessage(h, prepare(loadJson(path.join(IG_EXAMPLES_DIR, 'slot-searchset-response_BOOKREQRESP01.json'))));
    assertRefused(p, { status: 400, rec: 'REC_BAD_REQUEST', issue: 'value', why: '' }, 'BOOKREQRESP01');
    assert.deepEqual(p.outcome!.issue![0]!.expression, ['Bundle.type']);
  });

  describe('conversations: examples in the order a sender sends them, with the ids we returned', function () {
    const pkg = (name: string): string => path.join(unpackedPackage(BARS_PACKAGE), 'examples', name);
    const first = (b: Bundle | undefined, type: string): Resource => {
      const r = resourcesOf(b).find((x) => x.resourceType === type);
      assert.ok(r, `${type} in the bundle`);
      return r;
    };

    /**
     * Posts each step with the root (and Patient) ids the receiver returned for the first step. `published`: every
     * step keeps the Bundle.id NHS England published (the CAD conversations retain one Bundle.id across the initial
     * referral and its updates); otherwise each step gets a fresh one.
     */
    async function conversation(steps: string[], options: { published?: boolean } = {}): Promise<Posted[]> {
      const out: Posted[] = [];
      let ids: { root: string; patient?: string } | undefined;
      for (const step of steps) {
        const original = loadJson(pkg(step));
        const sent = prepare(original);
        if (options.published) {
          sent.id = original.id;
        }
        const type = rootType(sent);
        if (ids) {
          first(sent, type).id = ids.root;
          const patient = resourcesOf(sent).find((r) => r.resourceType === 'Patient');
          if (patient && ids.patient) {
            patient.id = ids.patient;
          }
        }
        const p = await postMessage(h, sent);
        out.push(p);
        if (!ids && p.bundle) {
          ids = { root: first(p.bundle, type).id!, patient: resourcesOf(p.bundle).find((r) => r.resourceType === 'Patient')?.id };
        }
      }
      return out;
    }

    const VALREQ01 = 'VALREQ01 - Validation Service Request New Full - 999 to CAS.json';
    const VALREQ02 = 'VALREQ02 - Validation Service Request Update Full - 999 to CAS Lower Priority.json';
    const SERVREQ01 = 'SERVREQ01 - Service Request Update - Revoked.json';
    const SERVREQ02 = 'SERVREQ02 - Service Request Delete - Entered in error.json';

    it('VALREQ01 → VALREQ02 (update): 200, 200; the read shows the update', async function () {
      const [a, b] = await conversation([VALREQ01, VALREQ02]);
      assert.equal(a!.res.status, 200, describeOutcome(a!));
      assert.equal(b!.res.status, 200, describeOutcome(b!));
      const id = first(a!.bundle, 'ServiceRequest').id!;
      assert.equal(first(b!.bundle, 'ServiceRequest').id, id, 'same ServiceRequest id after the update');
      const read = await h.send('GET', `/ServiceRequest/${id}`, h.headers());
      assert.equal(read.status, 200, read.body);
      const current = JSON.parse(read.body) as { meta: { versionId: string }; occurrencePeriod: { end: string } };
      assert.equal(current.meta.versionId, '2');
      assert.equal(current.occurrencePeriod.end, '2021-11-26T15:45:00+00:00', 'the lower-priority update is what we hold');
    });

    it('VALREQ01 → SERVREQ01 (revoked): 200, 200 with the Encounter cancelled; then SERVREQ02 on it → 422 (not current)', async function () {
      const [a, b, c] = await conversation([VALREQ01, SERVREQ01, SERVREQ02]);
      assert.equal(a!.res.status, 200, describeOutcome(a!));
      assert.equal(b!.res.status, 200, describeOutcome(b!));
      const enc = resourcesOf(b!.bundle).filter((r) => r.resourceType === 'Encounter') as WithStatus[];
      assert.ok(enc.some((e) => e.status === 'cancelled'), 'our Encounter is cancelled');
      assert.equal(c!.res.status, 422, describeOutcome(c!));
      assert.equal(c!.outcome?.issue?.[0]?.details?.coding?.[0]?.code, 'REC_UNPROCESSABLE_ENTITY');
    });

    it('VALREQ01 → SERVREQ02 (entered-in-error, reason delete): 200, 200', async function () {
      const [a, b] = await conversation([VALREQ01, SERVREQ02]);
      assert.equal(a!.res.status, 200, describeOutcome(a!));
      assert.equal(b!.res.status, 200, describeOutcome(b!));
    });

    it('VALREQ01 → VALREQ02 → SERVREQ01: the cancellation is older (15:02) than the update we hold (15:05) → 409 REC_CONFLICT conflict (example timestamps, not a receiver defect)', async function () {
      const [, , c] = await conversation([VALREQ01, VALREQ02, SERVREQ01]);
      assert.equal(c!.res.status, 409, describeOutcome(c!));
      assert.equal(c!.outcome?.issue?.[0]?.code, 'conflict');
    });

    const REFREQ9A = [
      'REFREQ9A - Referral Service Request - CAD Out of Area C2(1 of 3 - Initial).json',
      'REFREQ9A - Referral Service Request - CAD Out of Area C2(2 of 3 - Update).json',
      'REFREQ9A - Referral Service Request - CAD Out of Area C2(3 of 3 - Final Update).json',
    ];
    const REFREQ8 = [
      'REFREQ8A - Referral Service Request - CAD Out of Area C1(1 of 4 - Initial).json',
      'REFREQ8B - Referral Service Request - CAD Out of Area C1(2 of 4 - Update).json',
      'REFREQ8C - Referral Service Request - CAD Out of Area C1(3 of 4 - Update).json',
      'REFREQ8D - Referral Service Request - CAD Out of Area C1(4 of 4 - Final Update).json',
    ];

    it('the CAD conversations as published share one Bundle.id per conversation (what the next two tests rely on)', function () {
      for (const steps of [REFREQ9A, REFREQ8]) {
        const ids = new Set(steps.map((step) => loadJson(pkg(step)).id));
        assert.equal(ids.size, 1, steps[0]);
      }
    });

    it('REFREQ9A C2 initial → update → final update (APP6 CAD), with the published Bundle.id: 200 ×3', async function () {
      const steps = await conversation(REFREQ9A, { published: true });
      for (const s of steps) {
        assert.equal(s.res.status, 200, describeOutcome(s));
      }
    });

    it('REFREQ8A C1 initial (patient not yet identified) → 8B → 8C → 8D, with the published Bundle.id: 200 ×4', async function () {
      const steps = await conversation(REFREQ8, { published: true });
      for (const s of steps) {
        assert.equal(s.res.status, 200, describeOutcome(s));
      }
    });

    it('a retained Bundle.id is refused anywhere else: on a new referral (400 invariant Bundle.id), and on an update of another record', async function () {
      const [initial] = await conversation(REFREQ9A.slice(0, 1));
      assert.equal(initial!.res.status, 200, describeOutcome(initial!));
      const usedId = initial!.bundle!.id!;
      // A new message reusing it.
      const again = prepare(loadJson(pkg(REFREQ9A[0]!)));
      again.id = usedId;
      const refusedNew = await postMessage(h, again);
      assertRefused(refusedNew, { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: '' }, 'new message with a used Bundle.id');
      assert.deepEqual(refusedNew.outcome!.issue![0]!.expression, ['Bundle.id']);
      // An update of a different record reusing it.
      const [other] = await conversation(REFREQ9A.slice(0, 1));
      const update = prepare(loadJson(pkg(REFREQ9A[1]!)));
      update.id = usedId;
      first(update, 'ServiceRequest').id = first(other!.bundle, 'ServiceRequest').id;
      const refusedUpdate = await postMessage(h, update);
      assertRefused(refusedUpdate, { status: 400, rec: 'REC_BAD_REQUEST', issue: 'invariant', why: '' }, 'update of another record with a used Bundle.id');
    });

    it('GET /Slot → BOOKREQ01 on an offered slot → 200 (Appointment.created set); the same slot again → 409 conflict; BOOKREQ02 cancels → 200; the slot is free again', async function () {
      const from = new Date(Date.now() + 24 * 3600_000);
      from.setUTCMinutes(0, 0, 0);
      const to = new Date(from.getTime() + 24 * 3600_000);
      const iso = (d: Date): string => encodeURIComponent(d.toISOString().replace(/\.\d{3}Z$/, '+00:00'));
      const service = h.config.slots[0]!.healthcareService;
      const slotQuery = `/Slot?status=free&start=ge${iso(from)}&start=le${iso(to)}&Schedule.actor:HealthcareService=${service}&_include=Slot:schedule&_include=Schedule:actor:HealthcareService`;
      const search = await h.send('GET', slotQuery, h.headers());
      assert.equal(search.status, 200, search.body);
      const offered = resourcesOf(JSON.parse(search.body) as Bundle).find((r) => r.resourceType === 'Slot') as Resource & { start: string; end: string };
      assert.ok(offered, 'a free slot');

      const book = (): Bundle => {
        const b = prepare(loadJson(pkg('BOOKREQ01 - Booking Request New Full.json')));
        const slot = first(b, 'Slot') as Resource & { start?: string; end?: string };
        const appointment = first(b, 'Appointment') as Resource & { start?: string; end?: string };
        slot.id = offered.id;
        slot.start = appointment.start = offered.start;
        slot.end = appointment.end = offered.end;
        return b;
      };
      const booked = await postMessage(h, book());
      assertAccepted(booked, book(), 'BOOKREQ01');
      const appointment = first(booked.bundle, 'Appointment') as Resource & { created?: string };
      assert.ok(appointment.created, 'Appointment.created set by the receiver');

      const again = await postMessage(h, book());
      assert.equal(again.res.status, 409, describeOutcome(again));
      assert.equal(again.outcome?.issue?.[0]?.code, 'conflict');

      const cancel = prepare(loadJson(pkg('BOOKREQ02 - Booking Request Cancelled.json')));
      first(cancel, 'Appointment').id = appointment.id;
      const patient = resourcesOf(cancel).find((r) => r.resourceType === 'Patient');
      if (patient) {
        patient.id = first(booked.bundle, 'Patient').id;
      }
      const cancelled = await postMessage(h, cancel);
      assert.equal(cancelled.res.status, 200, describeOutcome(cancelled));
      const read = await h.send('GET', `/Appointment/${appointment.id}`, h.headers());
      assert.equal(read.status, 200, read.body);
      assert.equal((JSON.parse(read.body) as { status: string }).status, 'cancelled');

      const rebook = await postMessage(h, book());
      assert.equal(rebook.res.status, 200, `the cancelled slot is free again: ${describeOutcome(rebook)}`);
    });
  });
});
