/*
 * What the receiver sends back is valid FHIR against the published profiles (issue 2 "how we will check it",
 * issue 7 §5): every 200 body of `$process-message` for the NHS examples it accepts validates against
 * BARSBundleMessage and, entry by entry, against the BaRS/UK Core profiles each entry claims in meta.profile; the reads
 * of the records it creates validate against theirs; /metadata, /MessageDefinition and /Slot validate as base R4, and
 * the OperationOutcomes of refusals against UKCore-OperationOutcome. Validator: Medplum with the NHS packages
 * (test/helpers/profile-validator.ts); terminology is not checked.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Fhir } from 'fhir';
import { startHarness, TEST_SERVICE_ID, type Harness } from '../helpers/harness.js';
import {
  describeOutcome,
  exampleFiles,
  loadJson,
  postMessage,
  prepare,
  resourcesOf,
  waitUntilStoreReady,
  type Posted,
} from '../helpers/bars-examples.js';
import { IG_XML_DIR } from '../external/nhs-material.js';
import {
  loadBarsProfiles,
  validateAgainst,
  validateBarsBundle,
  ownErrors,
  validateResourceProfiles,
  type Bundle,
  type Resource,
} from '../helpers/profile-validator.js';

describe('profile validation of what the receiver returns (BaRS 1.34.0 / UK Core STU1 0.5.1)', function () {
  this.timeout(60_000);
  let h: Harness;
  const accepted: Array<{ key: string; sent: Bundle; posted: Posted }> = [];
  const refused: string[] = [];

  before(async function () {
    this.timeout(60_000);
    loadBarsProfiles(); // before the receiver starts: loading blocks the event loop for seconds
    h = await startHarness();
    await waitUntilStoreReady(h);
    for (const { key, file } of exampleFiles()) {
      const sent = prepare(loadJson(file));
      const posted = await postMessage(h, sent);
      if (posted.res.status === 200) {
        accepted.push({ key, sent, posted });
      } else {
        refused.push(`${key}: ${describeOutcome(posted)}`);
      }
    }
  });
  after(async function () {
    await h?.close();
  });

  it('the validator is not vacuous: it finds the defects of a broken message', function () {
    const good = prepare(loadJson(exampleFiles().find((f) => f.key.includes('REFREQ01'))!.file));
    assert.deepEqual(validateBarsBundle(good), []);
    const bad = structuredClone(good);
    delete bad.timestamp;
    delete (bad.entry![0]!.resource as Record<string, unknown>).eventCoding;
    const sr = resourcesOf(bad).find((r) => r.resourceType === 'ServiceRequest')!;
    delete sr.subject;
    const errors = validateBarsBundle(bad);
    assert.ok(errors.some((e) => e.includes('Bundle.timestamp')), errors.join('\n'));
    assert.ok(errors.some((e) => /MessageHeader\.event/.test(e)), errors.join('\n'));
    assert.ok(errors.some((e) => e.includes('ServiceRequest.subject')), errors.join('\n'));
  });

  it('accepts enough examples for this to mean something (≥ 20 accepted 200 bodies)', function () {
    assert.ok(accepted.length >= 20, `only ${accepted.length} accepted; refused:\n${refused.join('\n')}`);
  });

  it('every 200 body of $process-message validates against BARSBundleMessage and each entry\'s profiles', function () {
    const failures: string[] = [];
    for (const { key, sent, posted } of accepted) {
      const errors = ownErrors(validateBarsBundle(posted.bundle!), () => validateBarsBundle(sent));
      if (errors.length > 0) {
        failures.push(`${key}:\n    ${errors.join('\n    ')}`);
      }
    }
    assert.deepEqual(failures, [], failures.join('\n'));
  });

  it('the planned Encounter we add validates against UKCore-Encounter with zero errors', function () {
    let seen = 0;
    for (const { key, posted } of accepted) {
      for (const enc of resourcesOf(posted.bundle).filter((r) => r.resourceType === 'Encounter' && r.status === 'planned')) {
        if (!(enc.identifier as Array<{ value?: string }> | undefined)?.some((i) => /^BB-/.test(i.value ?? ''))) {
          continue;
        }
        seen++;
        assert.deepEqual(enc.meta?.profile, ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Encounter'], key);
        assert.deepEqual(validateResourceProfiles(enc), [], key);
        assert.deepEqual(validateAgainst(enc, undefined), [], `${key} (base R4)`);
      }
    }
    assert.ok(seen >= 15, `planned Encounters seen: ${seen}`);
  });

  it('GET /ServiceRequest/{id} of every accepted ServiceRequest validates against its profiles', async function () {
    const failures: string[] = [];
    let reads = 0;
    for (const { key, sent, posted } of accepted) {
      const sr = resourcesOf(posted.bundle).find((r) => r.resourceType === 'ServiceRequest')!;
      const read = await h.send('GET', `/ServiceRequest/${sr.id}`, h.headers());
      assert.equal(read.status, 200, `${key}: ${read.body}`);
      const resource = JSON.parse(read.body) as Resource;
      assert.equal(resource.resourceType, 'ServiceRequest');
      reads++;
      const request = (): string[] => validateResourceProfiles(resourcesOf(sent).find((r) => r.resourceType === 'ServiceRequest')!);
      const errors = ownErrors(validateResourceProfiles(resource), request);
      if (errors.length > 0) {
        failures.push(`${key}: ${errors.join('; ')}`);
      }
    }
    assert.ok(reads >= 20);
    assert.deepEqual(failures, [], failures.join('\n'));
  });

  it('a booking: the 200 body and GET /Appointment/{id} validate; so does the /Slot searchset (base R4)', async function () {
    const from = new Date(Date.now() + 2 * 24 * 3600_000);
    from.setUTCMinutes(0, 0, 0);
    const to = new Date(from.getTime() + 24 * 3600_000);
    const iso = (d: Date): string => encodeURIComponent(d.toISOString().replace(/\.\d{3}Z$/, '+00:00'));
    const service = h.config.slots[0]!.healthcareService;
    const search = await h.send(
      'GET',
      `/Slot?status=free&start=ge${iso(from)}&start=le${iso(to)}&Schedule.actor:HealthcareService=${service}&_include=Slot:schedule&_include=Schedule:actor:HealthcareService`,
      h.headers(),
    );
    assert.equal(search.status, 200, search.body);
    const searchset = JSON.parse(search.body) as Bundle;
    assert.deepEqual(validateAgainst(searchset, undefined), []);
    const offered = resourcesOf(searchset).find((r) => r.resourceType === 'Slot') as Resource & { start: string; end: string };

    const booking = prepare(loadJson(exampleFiles().find((f) => f.key === 'pkg/BOOKREQ01 - Booking Request New Full.json')!.file));
    const slot = resourcesOf(booking).find((r) => r.resourceType === 'Slot')!;
    const appointment = resourcesOf(booking).find((r) => r.resourceType === 'Appointment')!;
    slot.id = offered.id;
    slot.start = appointment.start = offered.start;
    slot.end = appointment.end = offered.end;
    const posted = await postMessage(h, booking);
    assert.equal(posted.res.status, 200, describeOutcome(posted));
    assert.deepEqual(ownErrors(validateBarsBundle(posted.bundle!), () => validateBarsBundle(booking)), []);

    const id = resourcesOf(posted.bundle).find((r) => r.resourceType === 'Appointment')!.id;
    const read = await h.send('GET', `/Appointment/${id}`, h.headers());
    assert.equal(read.status, 200, read.body);
    const resource = JSON.parse(read.body) as Resource;
    assert.equal(resource.resourceType, 'Appointment');
    assert.deepEqual(validateResourceProfiles(resource), []);
    assert.deepEqual(validateAgainst(resource, undefined), []);
  });

  it('the 200 body in FHIR XML, read back, validates the same', async function () {
    const sent = prepare(loadJson(exampleFiles().find((f) => f.key.includes('REFREQ01'))!.file));
    const posted = await postMessage(h, sent, { Accept: 'application/fhir+xml; version=1.2.0' });
    assert.equal(posted.res.status, 200, posted.res.body.slice(0, 300));
    assert.match(String(posted.res.headers['content-type']), /application\/fhir\+xml/);
    // xmlToJson, not xmlToObj: the latter leaves nested numbers as strings (see the XML request test below).
    const bundle = JSON.parse(new Fhir().xmlToJson(posted.res.body)) as Bundle;
    assert.deepEqual(validateBarsBundle(bundle), []);
  });

  /** The IG's own XML of an example (as published, comments included), ready to post. */
  const igXml = (name: string): string =>
    readFileSync(path.join(IG_XML_DIR, name), 'utf8')
      .replace(/(<Bundle[^>]*>\s*<id value=")[^"]*"/, `$1${randomUUID()}"`)
      .replace(/dos-service-id\|\d+/g, `dos-service-id|${TEST_SERVICE_ID}`);

  const stripComments = (xml: string): string => xml.replace(/<!--[\s\S]*?-->/g, '');
  const numberAsString = /Invalid JSON type: expected number, but got string$/;

  it(`an XML request with comments (the IG's REFREQ01 XML as published) gives a 200 JSON body without fhir_comments`, async function () {
    const posted = await postMessage(h, igXml('referral-request_new_111-to-ED_APP1_REFREQ01.xml'), { 'Content-Type': 'application/fhir+xml' });
    assert.equal(posted.res.status, 200, describeOutcome(posted));
    assert.ok(!posted.res.body.includes('fhir_comments'), 'no fhir_comments in the JSON body');
    assert.deepEqual(validateBarsBundle(posted.bundle!).filter((e) => !numberAsString.test(e)), []);
  });

  it(`an XML request (the IG's REFREQ02 XML, comments stripped) gives a 200 JSON body whose numbers are JSON numbers`, async function () {
    const posted = await postMessage(h, stripComments(igXml('referral-request_new_999-to-CAS_APP3_REFREQ02.xml')), { 'Content-Type': 'application/fhir+xml' });
    assert.equal(posted.res.status, 200, describeOutcome(posted));
    assert.deepEqual(validateBarsBundle(posted.bundle!), []);
  });

  it('an XML request (the IG\'s REFREQ02 XML, comments stripped) is accepted and its 200 JSON body has no defect but the number typing above', async function () {
    const posted = await postMessage(h, stripComments(igXml('referral-request_new_999-to-CAS_APP3_REFREQ02.xml')), { 'Content-Type': 'application/fhir+xml' });
    assert.equal(posted.res.status, 200, describeOutcome(posted));
    assert.deepEqual(validateBarsBundle(posted.bundle!).filter((e) => !numberAsString.test(e)), []);
  });

  it('GET /metadata (CapabilityStatement) validates as base R4', async function () {
    const res = await h.send('GET', '/metadata', h.headers());
    assert.equal(res.status, 200, res.body);
    const cs = JSON.parse(res.body) as Resource;
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.deepEqual(validateAgainst(cs, undefined), []);
  });

  it('GET /MessageDefinition searchset validates as base R4 (Bundle and every MessageDefinition)', async function () {
    const res = await h.send('GET', `/MessageDefinition?context=${encodeURIComponent(`https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`)}`, h.headers());
    assert.equal(res.status, 200, res.body);
    const bundle = JSON.parse(res.body) as Bundle;
    assert.equal(bundle.type, 'searchset');
    assert.ok((bundle.entry ?? []).length > 0, 'some definitions');
    assert.deepEqual(validateAgainst(bundle, undefined), []);
    for (const r of resourcesOf(bundle)) {
      assert.deepEqual(validateAgainst(r, undefined), [], r.id);
    }
  });

  it('refusals: each OperationOutcome validates against UKCore-OperationOutcome', async function () {
    const outcomes: Array<{ label: string; body: string }> = [];
    const push = (label: string, r: { body: string }): void => {
      outcomes.push({ label, body: r.body });
    };
    const noRequestId = h.headers();
    delete noRequestId['X-Request-Id'];
    push('400 no X-Request-Id', await h.send('GET', '/metadata', noRequestId));
    push('400 not JSON', (await postMessage(h, '{"resourceType":')).res);
    push('404 unknown record', await h.send('GET', '/ServiceRequest/6e1b8c6e-0000-4000-8000-000000000000', h.headers()));
    push('405', await h.send('DELETE', '/metadata', h.headers()));
    push('406', await h.send('GET', '/metadata', { ...h.headers(), Accept: 'application/fhir+json; version=9.0.0' }));
    push('415', (await postMessage(h, '<x/>', { 'Content-Type': 'text/plain' })).res);
    push('409 slot', (await postMessage(h, prepare(loadJson(exampleFiles().find((f) => f.key === 'pkg/BOOKREQ01 - Booking Request New Full.json')!.file)))).res);
    push('501', await h.send('PUT', '/ServiceRequest/6e1b8c6e-0000-4000-8000-000000000000', h.headers(), '{}'));
    for (const { label, body } of outcomes) {
      const oo = JSON.parse(body) as Resource;
      assert.equal(oo.resourceType, 'OperationOutcome', label);
      assert.ok(oo.meta?.profile?.includes('https://fhir.hl7.org.uk/StructureDefinition/UKCore-OperationOutcome'), `${label}: claims UKCore-OperationOutcome`);
      assert.deepEqual(validateResourceProfiles(oo), [], label);
    }
  });
});
