/*
 * An oracle for the mappings that is not the engine: for NHS England's example Bundles (111→ED referral REFREQ01
 * with allergies, a related person and observations; 999→CAS REFREQ02 with a quantity; a booking BOOKREQ01; a
 * booking cancellation BOOKREQ02; a referral cancellation SERVREQ01) each rendered segment is checked field by field
 * against a table written by hand from the Bundle and the field definitions of HL7 v2.4 (chapters 2, 3, 7, 10, 11)
 * and the HSCIC ITK HL7 v2 Message Specifications v1.0.15 / Reference Tables v1.0.14 — field number, name,
 * the expected wire text (escaped as on the wire), and where in the Bundle it comes from. A field that is populated
 * but not in the table fails too, so the table is the whole segment. Where the right value is debatable, the
 * reasoning is a comment at the row. The golden files (mappings/tests) are snapshots the engine wrote; this table
 * is what they are checked against by a person.
 *
 * The input of each case is the golden case's StoredMessage (mappings/tests/<mapping>/<case>.json): the NHS example
 * Bundle verbatim, with the receiver's ids (reference BB-000001, record id …a1) and received-at 2024-03-01T09:30:00Z.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GOLDEN_CONTROL_ID, GOLDEN_NOW } from '../../../src/mapping/golden.js';
import { loadMappings, renderMessage } from '../../../src/mapping/index.js';
import type { StoredMessage } from '../../../src/protocol/bars/types.js';
import { ITK_ADT_A05_EXAMPLE } from '../../external/nhs-material.js';

/** One row of the oracle: HL7 field number and name, the wire text expected, and its source in the Bundle. */
interface Row {
  readonly n: number;
  readonly name: string;
  readonly value: string | RegExp;
  readonly source: string;
}

type Fields = readonly string[];

const registry = loadMappings('mappings');

function load(mappingId: string, name: string): StoredMessage {
  return JSON.parse(readFileSync(`mappings/tests/${mappingId}/${name}.json`, 'utf8')) as StoredMessage;
}

function render(mappingId: string, msg: StoredMessage): string {
  const mapping = registry.get(mappingId);
  assert.ok(mapping, mappingId);
  return renderMessage(mapping, msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID }).text;
}

/** ER7 split by hand: segments on CR, fields on `|`; `fields[n]` is field n (MSH-1 is the `|` itself). */
function segmentsOf(er7: string): Fields[] {
  return er7
    .split('\r')
    .filter(Boolean)
    .map((line) => {
      const raw = line.split('|');
      return raw[0] === 'MSH' ? ['MSH', '|', ...raw.slice(1)] : raw;
    });
}

/** Checks one segment against its table: every row, and no populated field outside the table. */
function check(label: string, seg: Fields | undefined, rows: readonly Row[]): void {
  assert.ok(seg, `${label}: segment missing`);
  const problems: string[] = [];
  for (const r of rows) {
    const got = seg[r.n] ?? '';
    const ok = typeof r.value === 'string' ? got === r.value : r.value.test(got);
    if (!ok) {problems.push(`${label}-${r.n} ${r.name} (from ${r.source}): expected ${String(r.value)} got ${JSON.stringify(got)}`);}
  }
  for (let n = 1; n < seg.length; n++) {
    if ((seg[n] ?? '') !== '' && !rows.some((r) => r.n === n) && !(seg[0] === 'MSH' && n <= 2)) {
      problems.push(`${label}-${n} is populated (${JSON.stringify(seg[n])}) but the oracle has no row for it`);
    }
  }
  assert.deepEqual(problems, []);
}

const types = (segs: readonly Fields[]): string[] => segs.map((s) => s[0]);
const all = (segs: readonly Fields[], type: string): Fields[] => segs.filter((s) => s[0] === type);

// ---------------------------------------------------------------------------------------------------------------
// Shared expectations
// ---------------------------------------------------------------------------------------------------------------

/** MSH per ITK §5.1 (MSH-7/10 are the golden clock and control id; MSH-9 per message). */
const msh = (messageType: string): Row[] => [
  { n: 1, name: 'Field Separator', value: '|', source: 'HL7 §2.16.9.1' },
  { n: 2, name: 'Encoding Characters', value: '^~\\&', source: 'HL7 §2.16.9.2' },
  { n: 3, name: 'Sending Application', value: 'BARS-BRIDGE', source: 'constant (ITK §5.1: R)' },
  { n: 4, name: 'Sending Facility', value: '111111111', source: 'MessageHeader.destination.endpoint (the DoS service the message was sent to)' },
  { n: 5, name: 'Receiving Application', value: 'PAS', source: 'mappings/destinations.yaml' },
  { n: 6, name: 'Receiving Facility', value: 'RYE', source: 'mappings/destinations.yaml (ODS code, ITK §5.1)' },
  { n: 7, name: 'Date/Time Of Message', value: '20240301093005+0000', source: 'render clock' },
  { n: 9, name: 'Message Type', value: messageType, source: 'mapping output' },
  { n: 10, name: 'Message Control ID', value: 'GOLDEN0001', source: 'caller' },
  { n: 11, name: 'Processing ID', value: 'P', source: 'constant, Table 0103 production' },
  { n: 12, name: 'Version ID', value: '2.4', source: 'constant' },
  { n: 17, name: 'Country Code', value: 'GBR', source: 'ITK §5.1 (ISO 3166-1 alpha-3)' },
  { n: 18, name: 'Character Set', value: 'UNICODE', source: 'ITK Reference Tables 4.44 (Table 0211)' },
  { n: 19, name: 'Principal Language Of Message', value: 'EN', source: 'ITK §5.1' },
  // The ITK example messages write `iTKv1.0` (see the ITK test below); the specification's text says ITKv1.0.
  { n: 21, name: 'Message Profile Identifier', value: 'ITKv1.0', source: 'ITK §5.1 (R)' },
];

/** PID of Julie Jones (REFREQ01, REFREQ02, SERVREQ01/02: the same Patient resource). */
const pidJulieJones = (withTelecom: boolean): Row[] => [
  { n: 1, name: 'Set ID - PID', value: '1', source: 'constant' },
  // ITK §5.3.1: the NHS number with assigning authority NHS; CX-5 identifier type NH (Table 0203 "National Health
  // Plan Identifier"). The ITK example writes `3333333333^^^NHS` without CX-5: both read the same; we keep NH.
  { n: 3, name: 'Patient Identifier List', value: '3478526985^^^NHS^NH', source: "Patient.identifier[system nhs-number].value" },
  // XPN: 1 family, 2 given, 3 further given, 4 suffix, 5 prefix, 6 degree, 7 name type L (Table 0200 legal; ITK §5.3.2).
  { n: 5, name: 'Patient Name', value: 'Jones^Julie^^^Mrs^^L', source: "Patient.name[use official]: family, given[0], prefix[0]" },
  { n: 7, name: 'Date/Time Of Birth', value: '19590504', source: 'Patient.birthDate 1959-05-04 (a date, written to the day)' },
  { n: 8, name: 'Administrative Sex', value: 'F', source: 'Patient.gender female (Table 0001)' },
  // XAD: 1 street, 2 other designation, 3 city, 4 state/province (county), 5 postcode, 6 country, 7 type H home (Table 0190).
  { n: 11, name: 'Patient Address', value: '22 Brightside Crescent^^Overtown^West Yorkshire^LS10 4YU^^H', source: 'Patient.address: line[0], city, district, postalCode, use home' },
  // XTN: 1 number, 2 use (Table 0201), 3 equipment (Table 0202), 4 e-mail. BaRS keeps the patient's own numbers in a
  // contact with relationship ONESELF. A mobile has no Table 0201 use of its own: ORN (other residence) with
  // equipment CP (cellular phone) says "another number of the patient's, a mobile"; e-mail is NET/Internet with
  // the address in XTN-4 (HL7 §2.8.49), not XTN-1.
  ...(withTelecom
    ? [{ n: 13, name: 'Phone Number - Home', value: '01138698975^PRN^PH~07736312544^ORN^CP~^NET^Internet^jjones@hotmail.co.uk', source: 'Patient.contact[ONESELF].telecom: home phone, mobile, e-mail' }]
    : []),
  { n: 22, name: 'Ethnic Group', value: 'A', source: 'Patient.extension[UKCore-EthnicCategory] code A (NHS Data Dictionary ethnic category; ITK)' },
  // ITK Reference Tables 4.72 (Table 0445 Identity Reliability Code): NSTS01 "number present and verified".
  { n: 32, name: 'Identity Reliability Code', value: 'NSTS01', source: 'NHS number extension NHSNumberVerificationStatus number-present-and-verified' },
];

// ---------------------------------------------------------------------------------------------------------------

describe('segment expectations: rendered HL7 v2.4 and CSV against a hand-written oracle', function () {
  describe('REFREQ01 111 → ED, REF^I12 (allergy, related person, observations, flags, notes)', function () {
    const segs = segmentsOf(render('referral-new.ref-i12', load('referral-new.ref-i12', 'REFREQ01-111-to-ED')));

    it('segments in REF_I12 order (HL7 v2.4 §11.3.1): RF1, PROVIDER_CONTACT, PID, NK1, AL1, OBSERVATION, PV1, NTE, ZU1', function () {
      assert.deepEqual(types(segs), [
        'MSH', 'RF1', 'PRD', 'PRD', 'PID', 'NK1', 'AL1', 'OBR', 'OBX', 'OBX', 'PV1',
        'NTE', 'NTE', 'NTE', // three active Flags
        'NTE', // patient instruction
        'NTE', 'NTE', 'NTE', 'NTE', // four coded CarePlan outcomes
        'NTE', 'NTE', 'NTE', 'NTE', 'NTE', // the assessment narrative (1137 characters) in five pieces of at most 240
        'ZU1',
      ]);
    });

    it('MSH', function () {
      check('MSH', segs[0], msh('REF^I12^REF_I12'));
    });

    it('RF1 Referral Information', function () {
      check('RF1', all(segs, 'RF1')[0], [
        // Table 0283 (A accepted, P pending, R rejected, E expired): a new referral is pending until the PAS acts.
        { n: 1, name: 'Referral Status', value: 'P', source: 'ServiceRequest.status active' },
        // RF1-3 Referral Type is user-defined Table 0281 (Lab, Rad, Med, …); none fits a BaRS transfer of care, so the
        // BaRS message category travels as a local code with its text (CE allows a local coding system).
        { n: 3, name: 'Referral Type', value: 'referral^Transfer of Care', source: 'ServiceRequest.category[message-category-servicerequest] referral' },
        // Table 0284 Referral Category: E emergency for use case a1t1 (111 → ED).
        { n: 5, name: 'Referral Category', value: 'E', source: 'use case a1t1 (mappings/tables/usecase-referral-category.yaml)' },
        { n: 6, name: 'Originating Referral Identifier', value: 'BB-000001^BARS-BRIDGE', source: "the receiver's reference (planned Encounter identifier)" },
        // RF1-7 Effective Date: when the referral takes effect = when the patient is expected (occurrencePeriod.start).
        { n: 7, name: 'Effective Date', value: '20211013162027+0700', source: 'ServiceRequest.occurrencePeriod.start 2021-10-13T16:20:27+07:00 (offset kept)' },
        { n: 9, name: 'Process Date', value: '20211011152330+0000', source: 'ServiceRequest.authoredOn' },
        // RF1-10 Referral Reason is user-defined Table 0336 (S second opinion, P patient preference, O provider ordered,
        // W work load): the BaRS use case says why better than any of them, as a local code BARS-UC.
        { n: 10, name: 'Referral Reason', value: 'a1t1^111 to ED^BARS-UC', source: 'ServiceRequest.category[usecases-categories-bars]' },
        { n: 11, name: 'External Referral Identifier', value: 'sender1234^RND', source: "Encounter.identifier (sender's case number) ^ sender Organization ODS code" },
      ]);
    });

    it('PRD Provider Data: the referrer (RP) and the service referred to (RT)', function () {
      const [rp, rt] = all(segs, 'PRD');
      check('PRD(RP)', rp, [
        { n: 1, name: 'Provider Role', value: 'RP^Referring provider', source: 'Table 0286 RP' },
        { n: 2, name: 'Provider Name', value: 'BLAKE^Marcy', source: 'ServiceRequest.requester → Practitioner.name' },
        { n: 5, name: 'Provider Communication Information', value: '0205568263', source: 'Practitioner.telecom[phone]' },
        // PI: 1 ID number, 2 type of ID number (IS); SDS role profile id.
        { n: 7, name: 'Provider Identifiers', value: 'PT2489^SDS', source: 'Practitioner.identifier[sds-role-profile-id]' },
      ]);
      check('PRD(RT)', rt, [
        { n: 1, name: 'Provider Role', value: 'RT^Referred to provider', source: 'Table 0286 RT' },
        { n: 7, name: 'Provider Identifiers', value: '111111111^DOS', source: 'MessageHeader.destination.endpoint (DoS service id)' },
      ]);
    });

    it('PID Patient Identification (ITK §5.3)', function () {
      check('PID', all(segs, 'PID')[0], pidJulieJones(true));
    });

    it('NK1 Next of Kin: the emergency contact, not the patient themself (ITK §5.5)', function () {
      const nk1 = all(segs, 'NK1');
      assert.equal(nk1.length, 1, 'the ONESELF contact is the patient, not a next of kin');
      check('NK1', nk1[0], [
        { n: 1, name: 'Set ID - NK1', value: '1', source: 'position' },
        { n: 2, name: 'Name', value: 'Grayson^Jack', source: 'Patient.contact[1].name' },
        // XTN-2 ORN / XTN-3 CP: a mobile (see PID-13).
        { n: 5, name: 'Phone Number', value: '0789 1234567^ORN^CP', source: 'Patient.contact[1].telecom mobile' },
        // NK1-3 Relationship (Table 0063) stays empty: the Bundle codes the contact role (v2 Table 0131 "C Emergency
        // Contact"), which is NK1-7 Contact Role, not a family relationship.
        { n: 7, name: 'Contact Role', value: 'C^Emergency Contact', source: 'Patient.contact[1].relationship[v2-0131] C' },
        { n: 15, name: 'Administrative Sex', value: 'M', source: 'Patient.contact[1].gender male' },
      ]);
    });

    it('AL1 Patient Allergy Information (ITK §5.8)', function () {
      check('AL1', all(segs, 'AL1')[0], [
        { n: 1, name: 'Set ID - AL1', value: '1', source: 'position' },
        { n: 2, name: 'Allergen Type Code', value: 'DA', source: 'AllergyIntolerance.category medication → Table 0127 DA drug allergy' },
        { n: 3, name: 'Allergen Code/Mnemonic/Description', value: '372687004^Amoxicillin^SCT', source: 'AllergyIntolerance.code (SNOMED CT)' },
        { n: 4, name: 'Allergy Severity Code', value: 'MI', source: 'AllergyIntolerance.reaction.severity mild → Table 0128 MI' },
        // AL1-5 Allergy Reaction is ST(15) in v2.4: "Urticarial rash" is exactly 15 but SNOMED terms in general are
        // longer, so reactions are not mapped (a cut term would misstate the reaction). AL1-6 Identification Date
        // (DT) could carry AllergyIntolerance.recordedDate; the mapping does not send it (optional).
      ]);
    });

    it('OBR + OBX: findings stated present have a value type and a value; a bare heading is no OBX', function () {
      check('OBR', all(segs, 'OBR')[0], [
        { n: 1, name: 'Set ID - OBR', value: '1', source: 'constant' },
        // OBR-4 (R) Universal Service Identifier: a local code for "supporting observations" (REF_I12 needs an OBR
        // before any OBX; no order exists).
        { n: 4, name: 'Universal Service Identifier', value: 'BARS-OBS^BaRS supporting observations^L', source: 'constant' },
      ]);
      const obx = all(segs, 'OBX');
      // HL7 v2.4 §7.4.2.2: OBX-2 "must be valued if OBX-11 is not X". The three Observations of REFREQ01 have no
      // value[x]. LivesAlone and Nursing Home are coded findings: the code is what was observed, so OBX-3 is the code
      // and OBX-5 says it is present (CE `Y`, Table 0136). The third has only code.text "Expectations and wishes",
      // no coding, no value, no note: a heading with nothing under it — no OBX (it was `OBX|3||^Expectations and
      // wishes||||||||F`, an observation of nothing).
      assert.equal(obx.length, 2);
      check('OBX(1)', obx[0], [
        { n: 1, name: 'Set ID - OBX', value: '1', source: 'position' },
        { n: 2, name: 'Value Type', value: 'CE', source: 'no value[x], coded code: finding present' },
        // CE-3 is empty: household-composition-bars has no HL7 coding-system name; the code is BaRS's own.
        { n: 3, name: 'Observation Identifier', value: 'LivesAlone^Lives Alone', source: 'Observation.code (household-composition-bars)' },
        { n: 5, name: 'Observation Value', value: 'Y', source: 'present (Table 0136 Y)' },
        { n: 11, name: 'Observation Result Status', value: 'F', source: 'Observation.status final → Table 0085 F' },
        { n: 14, name: 'Date/Time of the Observation', value: '20211023', source: 'Observation.effectiveDateTime 2021-10-23 (a date)' },
      ]);
      check('OBX(2)', obx[1], [
        { n: 1, name: 'Set ID - OBX', value: '2', source: 'position' },
        { n: 2, name: 'Value Type', value: 'CE', source: 'no value[x], coded code: finding present' },
        { n: 3, name: 'Observation Identifier', value: 'N^Nursing Home', source: 'Observation.code (v3-LivingArrangement N)' },
        { n: 5, name: 'Observation Value', value: 'Y', source: 'present (Table 0136 Y)' },
        { n: 11, name: 'Observation Result Status', value: 'F', source: 'Observation.status final' },
        { n: 14, name: 'Date/Time of the Observation', value: '20211023', source: 'Observation.effectiveDateTime' },
      ]);
    });

    it('PV1 Patient Visit (ITK §5.6)', function () {
      check('PV1', all(segs, 'PV1')[0], [
        { n: 1, name: 'Set ID - PV1', value: '1', source: 'constant' },
        { n: 2, name: 'Patient Class', value: 'E', source: 'use case a1t1 → Table 0004 E emergency' },
        { n: 19, name: 'Visit Number', value: 'BB-000001^^^BARS-BRIDGE^VN', source: "the receiver's reference; CX-4 assigning authority, CX-5 VN (Table 0203 visit number)" },
        // PV1-44 Admit Date/Time: for a referral not yet arrived, the expected arrival (the PAS shows it as such).
        { n: 44, name: 'Admit Date/Time', value: '20211013162027+0700', source: 'ServiceRequest.occurrencePeriod.start' },
      ]);
    });

    it('NTE Notes: flags, patient instruction, outcomes; long text continued at word boundaries', function () {
      const nte = all(segs, 'NTE');
      // NTE-2 Source of Comment P (Table 0105 orderer/placer: the referrer wrote it). NTE-3 Comment is FT.
      // NTE-4 Comment Type (Table 0364): PI patient instructions, RE remark; a flag carries its BaRS flag category as
      // a local code: CE-1 the category code, CE-3 the local coding system BARS-FLAG. CE-2 (text) is empty: it was a
      // fixed "BaRS flag", not the text of the code (HL7 v2.4 §2.8.3); the category's text opens NTE-3 instead, which
      // has no length bound, where NTE-4 is CE(250) and the door does not bound Flag.category.display (the corpus
      // property test found a 251-character NTE-4 when the display was put there). Flags are numbered (NTE-1 Set ID); the
      // other notes are not, and continuation NTEs carry only NTE-2 and NTE-3 (they continue the note before them).
      check('NTE(flag 1)', nte[0], [
        { n: 1, name: 'Set ID - NTE', value: '1', source: 'position among active Flags' },
        { n: 2, name: 'Source of Comment', value: 'P', source: 'Table 0105' },
        { n: 3, name: 'Comment', value: 'Safeguarding Concern: Child is cause for safeguarding concern (finding)', source: 'Flag.category.coding.display: Flag.code.coding.display' },
        { n: 4, name: 'Comment Type', value: 'SG^^BARS-FLAG', source: 'Flag.category.coding.code' },
      ]);
      check('NTE(flag 2)', nte[1], [
        { n: 1, name: 'Set ID - NTE', value: '2', source: 'position' },
        { n: 2, name: 'Source of Comment', value: 'P', source: 'Table 0105' },
        { n: 3, name: 'Comment', value: 'Reasonable Adjustment: Adjust for needle phobia', source: 'Flag' },
        { n: 4, name: 'Comment Type', value: 'RA^^BARS-FLAG', source: 'Flag.category.coding' },
      ]);
      check('NTE(flag 3)', nte[2], [
        { n: 1, name: 'Set ID - NTE', value: '3', source: 'position' },
        { n: 2, name: 'Source of Comment', value: 'P', source: 'Table 0105' },
        { n: 3, name: 'Comment', value: 'Rejected Services: Patient Choice in Service Selection', source: 'Flag' },
        { n: 4, name: 'Comment Type', value: 'RS^^BARS-FLAG', source: 'Flag.category.coding' },
      ]);
      check('NTE(patient instruction)', nte[3], [
        { n: 2, name: 'Source of Comment', value: 'P', source: 'Table 0105' },
        { n: 3, name: 'Comment', value: 'ADVICE GIVEN: If there are any new symptoms, or if the condition gets worse, changes or you have any other concerns, call us back.', source: 'ServiceRequest.patientInstruction' },
        { n: 4, name: 'Comment Type', value: 'PI', source: 'Table 0364 PI' },
      ]);
      const outcomes = [
        'Pathways Assessment SD Code: 4389 ED post tonsillectomy bleeding',
        'Pathways Assessment DX Code: DX02 The individual needs to attend an emergency treatment centre within 1 hour.',
        'Presenting Complaint - selected Pathway or Template: PA21 Chest and Upper Back Pain',
        'Pathways Assessment SG Code - Chief Complaint: 1010 Allergic Reaction',
      ];
      outcomes.forEach((text, i) => {
        check(`NTE(outcome ${i + 1})`, nte[4 + i], [
          { n: 2, name: 'Source of Comment', value: 'P', source: 'Table 0105' },
          { n: 3, name: 'Comment', value: text, source: 'CarePlan.activity.outcomeCodeableConcept: text: code display' },
          { n: 4, name: 'Comment Type', value: 'RE', source: 'Table 0364 RE' },
        ]);
      });
      // The assessment narrative (uncoded outcome text). NHS England's example writes "/n" where its author meant a
      // line break; the text is the sender's, carried as written (see the line-break case below for a real one).
      // Pieces of at most 240 characters, each cut after a space where a word starts: never "15 minute|s".
      const narrative = nte.slice(8);
      const pieces = narrative.map((s) => s[3]);
      assert.equal(pieces[0].slice(-16), 'bleeding for 15 ', 'the first piece ends after the space before "minutes"');
      assert.ok(pieces[1].startsWith('minutes/n'), 'the second begins with the word');
      for (const [i, s] of narrative.entries()) {
        check(`NTE(narrative ${i + 1})`, s, [
          { n: 2, name: 'Source of Comment', value: 'P', source: 'Table 0105' },
          { n: 3, name: 'Comment', value: /^\S[^]{0,239}$/, source: 'CarePlan outcome text, a piece of ≤ 240 characters starting with a word' },
          ...(i === 0 ? [{ n: 4, name: 'Comment Type', value: 'RE', source: 'Table 0364 RE (first piece only)' }] : []),
        ]);
        if (i < narrative.length - 1) {assert.match(s[3], /\s$/, `piece ${i + 1} ends at a word boundary`);}
      }
      const bundle = load('referral-new.ref-i12', 'REFREQ01-111-to-ED').bundle;
      const carePlan = bundle.entry!.map((e) => e.resource as { resourceType: string; activity?: Array<{ outcomeCodeableConcept?: Array<{ text?: string; coding?: unknown }> }> }).find((r) => r.resourceType === 'CarePlan')!;
      const text = carePlan.activity!.flatMap((a) => a.outcomeCodeableConcept ?? []).find((c) => !c.coding)!.text!;
      assert.equal(pieces.join(''), text, 'the pieces joined are the narrative exactly');
    });

    it('ZU1 UK Additional Data (ITK §5.12)', function () {
      check('ZU1', all(segs, 'ZU1')[0], [
        { n: 15, name: 'Referral Request Received Date', value: '20240301093000.000+0000', source: 'StoredMessage.receivedAt (when the receiver took the request)' },
        { n: 16, name: 'Referral Date', value: '20211011152330+0000', source: 'ServiceRequest.authoredOn' },
      ]);
    });
  });

  describe('REFREQ01 with the line breaks its author meant: FT carries them as \\X0D0A\\', function () {
    it('NTE-3 writes each line break as \\X0D0A\\ (HL7 v2.4 §2.7.3), no raw CR/LF and no "/n"', function () {
      const msg = load('referral-new.ref-i12', 'REFREQ01-111-to-ED');
      // The example writes "/n" and an 8-space indent where it means a new line; here the Bundle has real ones.
      for (const e of msg.bundle.entry!) {
        const r = e.resource as { resourceType: string; activity?: Array<{ outcomeCodeableConcept?: Array<{ text?: string }> }> };
        if (r.resourceType !== 'CarePlan') {continue;}
        for (const a of r.activity ?? []) {for (const c of a.outcomeCodeableConcept ?? []) {if (c.text) {c.text = c.text.replace(/\/n {8}/g, '\n');}}}
      }
      const nte = all(segmentsOf(render('referral-new.ref-i12', msg)), 'NTE').slice(8);
      const wire = nte.map((s) => s[3]).join('');
      assert.ok(!wire.includes('/n'));
      assert.ok(wire.startsWith('PATHWAYS ASSESSMENT:\\X0D0A\\An injury or health problem was the reason for the contact.\\X0D0A\\Heavy bleeding'), wire.slice(0, 120));
      assert.equal(wire.split('\\X0D0A\\').length, 16, 'the 15 line breaks of the text');
      for (const s of nte.slice(0, -1)) {assert.match(s[3], /(?:\s|\\X0D0A\\)$/, 'each piece ends at a space or a line break');}
    });
  });

  describe('REFREQ02 999 → CAS, REF^I12: an Observation with a quantity', function () {
    it('OBX NM with the unit (HL7 v2.4 §7.4.2.2, §7.4.2.6)', function () {
      const segs = segmentsOf(render('referral-new.ref-i12', load('referral-new.ref-i12', 'REFREQ02-999-to-CAS')));
      const obx = all(segs, 'OBX');
      assert.equal(obx.length, 1);
      check('OBX', obx[0], [
        { n: 1, name: 'Set ID - OBX', value: '1', source: 'position' },
        { n: 2, name: 'Value Type', value: 'NM', source: 'Observation.valueQuantity' },
        // CE with text only: the Bundle codes it by text alone ("Patient Estimate Age"); it has a value, so it is an
        // observation (unlike a bare heading).
        { n: 3, name: 'Observation Identifier', value: '^Patient Estimate Age', source: 'Observation.code.text' },
        { n: 5, name: 'Observation Value', value: '15', source: 'Observation.valueQuantity.value' },
        // OBX-6 Units (CE): the unit text; the UCUM code `week` (ITK: ZU038 UCUM) is not sent, its text is.
        { n: 6, name: 'Units', value: 'weeks', source: 'Observation.valueQuantity.unit' },
        { n: 11, name: 'Observation Result Status', value: 'F', source: 'Observation.status final' },
        { n: 14, name: 'Date/Time of the Observation', value: '20211126150000+0000', source: 'Observation.effectiveDateTime' },
      ]);
    });
  });

  describe('SERVREQ01 referral revoked, REF^I14', function () {
    it('RF1 and PV1 of a cancellation', function () {
      const segs = segmentsOf(render('referral-cancel.ref-i14', load('referral-cancel.ref-i14', 'SERVREQ01-revoked')));
      assert.deepEqual(types(segs), ['MSH', 'RF1', 'PRD', 'PRD', 'PID', 'PV1']);
      check('MSH', segs[0], msh('REF^I14^REF_I12'));
      check('RF1', all(segs, 'RF1')[0], [
        // Debatable: Table 0283 has no "cancelled"; the event I14 says the referral is cancelled, and R (rejected) is
        // the status that keeps a PAS from acting on it. A revoked referral was withdrawn by its sender, not rejected
        // by us — a PAS must read I14 as the cancellation, RF1-1 only as "not to be acted on".
        { n: 1, name: 'Referral Status', value: 'R', source: 'ServiceRequest.status revoked' },
        { n: 3, name: 'Referral Type', value: 'validation^For Validation', source: 'ServiceRequest.category[message-category-servicerequest]' },
        { n: 5, name: 'Referral Category', value: 'E', source: 'use case a4t1' },
        { n: 6, name: 'Originating Referral Identifier', value: 'BB-000001^BARS-BRIDGE', source: "the receiver's reference (matched by the PAS)" },
        { n: 7, name: 'Effective Date', value: '20211126150000+0000', source: 'ServiceRequest.occurrencePeriod.start' },
        { n: 8, name: 'Expiration Date', value: '20211126152000+0000', source: 'ServiceRequest.occurrencePeriod.end' },
        { n: 10, name: 'Referral Reason', value: 'a4t1^999 to CAS Validation^BARS-UC', source: 'use case category' },
        // RF1-9 and RF1-11 are empty: the cancellation Bundle has no authoredOn and no sender Encounter.
      ]);
      check('PID', all(segs, 'PID')[0], pidJulieJones(false));
      check('PV1', all(segs, 'PV1')[0], [
        { n: 1, name: 'Set ID - PV1', value: '1', source: 'constant' },
        { n: 2, name: 'Patient Class', value: 'E', source: 'use case a4t1' },
        { n: 19, name: 'Visit Number', value: 'BB-000001^^^BARS-BRIDGE^VN', source: "the receiver's reference" },
        { n: 44, name: 'Admit Date/Time', value: '20211126150000+0000', source: 'ServiceRequest.occurrencePeriod.start' },
      ]);
    });
  });

  describe('BOOKREQ01 booking, SIU^S12 (HL7 v2.4 chapter 10)', function () {
    const segs = segmentsOf(render('booking-new.siu-s12', load('booking-new.siu-s12', 'BOOKREQ01-booking')));

    it('segments in SIU_S12 order: SCH, PATIENT (PID, PV1), RESOURCES (RGS, SERVICE AIS, PERSONNEL AIP)', function () {
      assert.deepEqual(types(segs), ['MSH', 'SCH', 'PID', 'PV1', 'RGS', 'AIS', 'AIP']);
      check('MSH', segs[0], msh('SIU^S12^SIU_S12'));
    });

    it('SCH Schedule Activity Information', function () {
      check('SCH', all(segs, 'SCH')[0], [
        { n: 1, name: 'Placer Appointment ID', value: '00000000-0000-4000-8000-0000000000a1^BARS-BRIDGE', source: "the receiver's Appointment id (record id)" },
        // SCH-6 Event Reason (R, CE): the BaRS message reason code, local coding system.
        { n: 6, name: 'Event Reason', value: 'new^^BARS-REASON', source: 'MessageHeader.reason new' },
        // SCH-7 Appointment Reason (CE, Table 0276): the Slot's appointment type EMERGENCY. Debatable: CE-2 should be
        // the text of CE-1 ("Emergency appointment"); the mapping puts Appointment.description there, the only place
        // SIU has for the reason in words. Locked in here as the mapping's choice, to revisit with a PAS.
        { n: 7, name: 'Appointment Reason', value: 'EMERGENCY^Reason for calling-', source: 'Slot.appointmentType (v2-0276) ^ Appointment.description' },
        // TQ-4 start, TQ-5 end.
        { n: 11, name: 'Appointment Timing Quantity', value: '^^^20211012123030+0000^20211012124030+0000', source: 'Appointment.start, Appointment.end' },
        // SCH-16 Filler Contact Person (R, XCN): the service booked into, as ID ^ name (XCN-2 holds the name; no person).
        { n: 16, name: 'Filler Contact Person', value: '111111111^Healthcare Service Name', source: 'destination DoS id ^ HealthcareService.name of the Schedule' },
        { n: 20, name: 'Entered by Person', value: '2222222222^My organisation name', source: 'MessageHeader.source.endpoint DoS id ^ source.name' },
        { n: 25, name: 'Filler Status Code', value: 'Booked', source: 'Appointment.status booked → Table 0278 Booked' },
      ]);
    });

    it('PID and PV1 of the booked patient', function () {
      check('PID', all(segs, 'PID')[0], [
        { n: 1, name: 'Set ID - PID', value: '1', source: 'constant' },
        { n: 3, name: 'Patient Identifier List', value: '9476719931^^^NHS^NH', source: 'Patient.identifier[nhs-number]' },
        { n: 5, name: 'Patient Name', value: 'Chalmers^Peter^^^Mr^^L', source: 'Patient.name[official]' },
        { n: 7, name: 'Date/Time Of Birth', value: '19741225', source: 'Patient.birthDate' },
        { n: 8, name: 'Administrative Sex', value: 'M', source: 'Patient.gender male' },
        // Two address lines: line[0] in XAD-1, the rest in XAD-2 (other designation); no district in the Bundle.
        { n: 11, name: 'Patient Address', value: '123 High Street^Leeds^Leeds^^LS1 4HR^^H', source: 'Patient.address: line[0], line[1], city, postalCode, use home' },
        { n: 13, name: 'Phone Number - Home', value: '01138698975^PRN^PH~07736312544^ORN^CP~^NET^Internet^jjones@hotmail.co.uk', source: 'Patient.contact[ONESELF].telecom' },
        { n: 22, name: 'Ethnic Group', value: 'A', source: 'Patient EthnicCategory extension' },
        { n: 32, name: 'Identity Reliability Code', value: 'NSTS01', source: 'NHSNumberVerificationStatus number-present-and-verified' },
      ]);
      // PV1-19 absent: a booking has no reference of ours, and `^^^BARS-BRIDGE^VN` would name no visit.
      check('PV1', all(segs, 'PV1')[0], [
        { n: 1, name: 'Set ID - PV1', value: '1', source: 'constant' },
        { n: 2, name: 'Patient Class', value: 'E', source: 'use case a1t1 → Table 0004 E' },
      ]);
    });

    it('RGS, AIS, AIP', function () {
      check('RGS', all(segs, 'RGS')[0], [{ n: 1, name: 'Set ID - RGS', value: '1', source: 'constant' }]);
      check('AIS', all(segs, 'AIS')[0], [
        { n: 1, name: 'Set ID - AIS', value: '1', source: 'constant' },
        // AIS-3 (R) Universal Service Identifier: the BaRS use case every message of the appointment carries.
        { n: 3, name: 'Universal Service Identifier', value: 'a1t1^111 to ED^BARS-UC', source: 'Appointment.serviceCategory[usecases-categories-bars]' },
        { n: 4, name: 'Start Date/Time', value: '20211012123030+0000', source: 'Appointment.start' },
      ]);
      check('AIP', all(segs, 'AIP')[0], [
        { n: 1, name: 'Set ID - AIP', value: '1', source: 'position' },
        // XCN: 1 ID (none in the Bundle), 2 family, 3 given, 6 prefix.
        { n: 3, name: 'Personnel Resource ID', value: '^Bloggs^Joe^^^Dr', source: 'Schedule.actor Practitioner.name' },
        { n: 4, name: 'Resource Role', value: 'doctor', source: 'Schedule.actor PractitionerRole.code doctor' },
      ]);
    });
  });

  describe('BOOKREQ02 booking cancelled, SIU^S15', function () {
    it('SCH says Cancelled; no Slot, so no appointment type and no AIP', function () {
      const segs = segmentsOf(render('booking-cancel.siu-s15', load('booking-cancel.siu-s15', 'BOOKREQ02-booking-cancel')));
      assert.deepEqual(types(segs), ['MSH', 'SCH', 'PID', 'PV1', 'RGS', 'AIS']);
      check('SCH', all(segs, 'SCH')[0], [
        { n: 1, name: 'Placer Appointment ID', value: '00000000-0000-4000-8000-0000000000a1^BARS-BRIDGE', source: 'record id (the same appointment as the booking)' },
        { n: 6, name: 'Event Reason', value: 'new^^BARS-REASON', source: 'MessageHeader.reason new (as NHS England\'s example sends it)' },
        { n: 7, name: 'Appointment Reason', value: '^Reason for calling-', source: 'Appointment.description (no Slot in a cancellation)' },
        // SCH-11 (R) finds the slot to free: the door refuses a cancellation without Appointment.start.
        { n: 11, name: 'Appointment Timing Quantity', value: '^^^20211012123030+0000^20211012124030+0000', source: 'Appointment.start, end' },
        { n: 16, name: 'Filler Contact Person', value: '111111111^ORIGINAL Receiving/performing Organization', source: 'DoS id ^ MessageHeader.destination.receiver name (no Schedule)' },
        { n: 20, name: 'Entered by Person', value: '2222222222^My organisation name', source: 'MessageHeader.source' },
        { n: 25, name: 'Filler Status Code', value: 'Cancelled', source: 'Appointment.status cancelled → Table 0278' },
      ]);
      check('AIS', all(segs, 'AIS')[0], [
        { n: 1, name: 'Set ID - AIS', value: '1', source: 'constant' },
        { n: 3, name: 'Universal Service Identifier', value: 'a1t1^111 to ED^BARS-UC', source: 'Appointment.serviceCategory' },
        { n: 4, name: 'Start Date/Time', value: '20211012123030+0000', source: 'Appointment.start' },
      ]);
    });
  });

  describe('REFREQ01 referral file (CSV, RFC 4180)', function () {
    it('header and one line, column by column', function () {
      const lines = render('referral-new.csv', load('referral-new.csv', 'REFREQ01-111-to-ED')).split('\r\n').filter(Boolean);
      assert.equal(lines.length, 2);
      const columns: Array<[string, string, string]> = [
        ['reference', 'BB-000001', "the receiver's reference"],
        ['received_at', '20240301093000.000+0000', 'StoredMessage.receivedAt (HL7 TS)'],
        ['use_case', 'a1t1', 'ServiceRequest.category[usecases-categories-bars]'],
        ['category', 'referral', 'ServiceRequest.category[message-category-servicerequest]'],
        ['nhs_number', '3478526985', 'Patient.identifier[nhs-number]'],
        ['nhs_number_status', 'NSTS01', 'NHSNumberVerificationStatus (ITK table 0445)'],
        ['family_name', 'Jones', 'Patient.name[official].family'],
        ['given_name', 'Julie', 'Patient.name[official].given[0]'],
        ['birth_date', '19590504', 'Patient.birthDate'],
        ['sex', 'F', 'Patient.gender (Table 0001)'],
        ['postcode', 'LS10 4YU', 'Patient.address.postalCode'],
        ['gp_practice_ods', 'G82080', 'Patient.generalPractitioner → Organization ODS code'],
        ['expected_at', '20211013162027+0700', 'ServiceRequest.occurrencePeriod.start'],
        ['sender_ods', 'RND', 'MessageHeader.sender → Organization ODS code'],
        ['dos_service_id', '111111111', 'MessageHeader.destination.endpoint'],
      ];
      assert.deepEqual(lines[0].split(','), columns.map((c) => c[0]));
      const values = lines[1].split(',');
      assert.equal(values.length, columns.length);
      columns.forEach(([name, value, source], i) => assert.equal(values[i], value, `${name} (from ${source})`));
    });
  });

  describe('ADT^A05 against the HSCIC ITK specification example (test/external/nhs/itk-hl7v2)', function () {
    const ours = segmentsOf(render('referral-new.adt-a05', load('referral-new.adt-a05', 'REFREQ01-111-to-ED')));
    const itk = segmentsOf(readFileSync(ITK_ADT_A05_EXAMPLE, 'utf8'));

    it('the segments the ITK example has come in its order (ours adds OBX, which ADT_A05 allows after PV1/PV2)', function () {
      const itkOrder = types(itk).filter((t) => t !== 'PV2');
      assert.deepEqual(types(ours).filter((t) => t !== 'OBX'), itkOrder);
    });

    it('the same ITK conventions field by field: MSH-12/17/18/19, MSH-21 profile, PID-3 authority, PID-5 type, PV1-19 id first', function () {
      const [m, i] = [ours[0], itk[0]];
      for (const n of [12, 17, 18, 19]) {assert.equal(m[n], i[n], `MSH-${n}`);}
      // The ITK example writes `iTKv1.0`; the specification's MSH-21 text (§5.1) is "ITKv1.0". Same profile.
      assert.equal(m[21].toLowerCase(), i[21].toLowerCase(), 'MSH-21');
      const [pid, ipid] = [all(ours, 'PID')[0], all(itk, 'PID')[0]];
      assert.equal(pid[3].split('^')[3], ipid[3].split('^')[3], 'PID-3 CX-4 assigning authority NHS');
      assert.equal(pid[5].split('^')[6], ipid[5].split('^')[6], 'PID-5 XPN-7 name type L');
      assert.equal(pid[11].split('^')[6], ipid[11].split('^')[6], 'PID-11 XAD-7 address type H');
      const [al1, ial1] = [all(ours, 'AL1')[0], all(itk, 'AL1')[0]];
      assert.equal(al1[2], ial1[2], 'AL1-2 allergen type DA');
      const [pv1, ipv1] = [all(ours, 'PV1')[0], all(itk, 'PV1')[0]];
      assert.match(ipv1[19], /^\d+\^\^\^VISITID$/);
      assert.match(pv1[19], /^BB-\d+\^\^\^BARS-BRIDGE\^VN$/, 'PV1-19 CX: ID first, assigning authority in CX-4');
      // PV1-2 Patient Class: P (pre-admit) in the ITK A05 example; ours is E (emergency), the class of the expected
      // attendance (Table 0004 says what kind of visit, A05 already says it is a pre-admission).
      assert.equal(ipv1[2], 'P');
      assert.equal(pv1[2], 'E');
    });
  });
});
