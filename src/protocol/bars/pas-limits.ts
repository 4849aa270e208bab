/*
 * What FHIR allows and the PAS formats cannot carry, refused at the door (issue 12: "never a 200 followed by a dead
 * letter"). A BaRS message is accepted only when every mapping of its workflow can render it, so the few elements the
 * PAS formats bound are checked here, against the limits of HL7 v2.4 as profiled by HSCIC ITK (the default mappings,
 * mappings/README.md "What the PAS can carry"): each refusal is 422 REC_UNPROCESSABLE_ENTITY naming the element.
 * Nothing here is a BaRS rule; it is this receiver saying what its PAS can take, so a sender can correct and resend.
 */
import type { BundleIndex } from './bundle.js';
import { SYSTEMS, sameSystem } from './codes.js';
import { unprocessable } from './errors.js';
import type { Resource } from './types.js';

/** XPN components in ITK messages (PID-5, NK1-2, PRD-2, AIP-3): family, given and prefix are 35 characters each. */
const NAME_PART = 35;
/** PID-5.3 "second and further given names", space separated. */
const FURTHER_GIVEN = 100;
/** PD1-3.1 Organization Name of the registered GP practice (XON-1 in ITK messages), SCH-16.2 the service's. */
const ORGANIZATION_NAME = 60;
/** SCH-7.2 Appointment Reason text (CE-2, 199 characters). */
const APPOINTMENT_DESCRIPTION = 199;
/** RF1-11.1 External Referral Identifier (EI-1, 30 characters): the sender's Encounter identifier. */
const ENCOUNTER_IDENTIFIER = 30;
/** The referral file's postcode column (8: a UK postcode with its space, e.g. `SW1A 1AA`). */
const POSTCODE = 8;

type Name = { family?: unknown; given?: unknown; prefix?: unknown };

const chars = (s: string): number => [...s].length;

function tooLong(element: string, length: number, limit: number, carries: string): never {
  throw unprocessable(
    'not-supported',
    `${element} is ${length} characters; the PAS takes at most ${limit} (${carries}). Shorten it and send the message again`,
    element,
  );
}

function checkNames(names: unknown, element: string, carries: string): void {
  if (!Array.isArray(names)) {return;}
  (names as Name[]).forEach((name, i) => {
    const at = `${element}[${i}]`;
    if (typeof name?.family === 'string' && chars(name.family) > NAME_PART) {tooLong(`${at}.family`, chars(name.family), NAME_PART, carries);}
    for (const part of ['given', 'prefix'] as const) {
      const values = Array.isArray(name?.[part]) ? (name[part] as unknown[]) : [];
      values.forEach((v, j) => {
        if (typeof v === 'string' && chars(v) > NAME_PART) {tooLong(`${at}.${part}[${j}]`, chars(v), NAME_PART, carries);}
      });
      if (part === 'given') {
        const further = values.slice(1).filter((v): v is string => typeof v === 'string').join(' ');
        if (chars(further) > FURTHER_GIVEN) {tooLong(`${at}.given`, chars(further), FURTHER_GIVEN, `${carries}: the second and further given names together`);}
      }
    }
  });
}

/**
 * The NHS number travels as PID-3 `<number>^^^NHS^NH` and in the referral file's nhs_number column: 10 digits
 * (NHS Data Dictionary NHS NUMBER format; the check digit is not checked — see content-rules.ts).
 */
function checkNhsNumber(patient: Resource): void {
  const ids = (Array.isArray(patient.identifier) ? patient.identifier : []) as Array<{ system?: string; value?: unknown }>;
  ids.forEach((id, i) => {
    if (sameSystem(id?.system, SYSTEMS.nhsNumber) && typeof id.value === 'string' && !/^[0-9]{10}$/.test(id.value)) {
      throw unprocessable('not-supported', 'An NHS number is 10 digits (NHS Data Dictionary); the PAS takes it in no other form', `Patient.identifier[${i}].value`);
    }
  });
}

/** CE-2 Text and XTN values (CE and XTN fields are 250 in HL7 v2.4, with the code, system and use beside them). */
const CODED_TEXT = 200;
/** Practitioner and Organization identifier values (PRD-7 PI 100 with `^SDS`, PD1-3.3 XON with the name). */
const IDENTIFIER = 64;
/** XAD (PID-11, 250): the first line, further lines, city, district and postcode with their separators. */
const ADDRESS = 240;

type Json = Record<string, unknown>;
const list = (v: unknown): Json[] => (Array.isArray(v) ? v : v && typeof v === 'object' ? [v] : []).filter((x): x is Json => !!x && typeof x === 'object');

function limit(value: unknown, element: string, max: number, carries: string): void {
  if (typeof value === 'string' && value.length > max && chars(value) > max) {tooLong(element, chars(value), max, carries);}
}

/** The text of a CodeableConcept the mappings write as CE-2 (each coding's display, and the text). */
function checkConcept(concept: unknown, element: string, carries: string): void {
  list(concept).forEach((c, i) => {
    const at = Array.isArray(concept) ? `${element}[${i}]` : element;
    list(c.coding).forEach((coding, j) => limit(coding.display, `${at}.coding[${j}].display`, CODED_TEXT, carries));
    limit(c.text, `${at}.text`, CODED_TEXT, carries);
  });
}

/**
 * Coded text, telecom values, identifier values and units the mappings write into CE, XTN, CX/EI/PI and XON fields,
 * whose HL7 v2.4 lengths bound the whole field. Only the elements the default mappings use: text elsewhere (a CarePlan
 * outcome, a note) goes to NTE segments, which continue long text.
 */
function checkCodedText(index: BundleIndex): void {
  for (const o of index.all('Observation')) {
    checkConcept(o.code, 'Observation.code', 'HL7 v2.4 OBX-3 (CE, 250)');
    limit((o.valueQuantity as Json | undefined)?.unit, 'Observation.valueQuantity.unit', CODED_TEXT, 'HL7 v2.4 OBX-6 Units (CE, 250)');
  }
  for (const a of index.all('AllergyIntolerance')) {checkConcept(a.code, 'AllergyIntolerance.code', 'HL7 v2.4 AL1-3 (CE, 250)');}
  for (const sr of index.all('ServiceRequest')) {checkConcept(sr.category, 'ServiceRequest.category', 'HL7 v2.4 RF1-3 and RF1-10 (CE, 250)');}
  for (const a of index.all('Appointment')) {checkConcept(a.serviceCategory, 'Appointment.serviceCategory', 'HL7 v2.4 AIS-3 (CE, 250)');}
  for (const type of ['Patient', 'Practitioner'] as const) {
    for (const r of index.all(type)) {
      list(r.telecom).forEach((t, i) => limit(t.value, `${type}.telecom[${i}].value`, CODED_TEXT, 'HL7 v2.4 PID-13 and PRD-5 (XTN, 250)'));
      list(r.contact).forEach((c, i) => {
        list(c.telecom).forEach((t, j) => limit(t.value, `${type}.contact[${i}].telecom[${j}].value`, CODED_TEXT, 'HL7 v2.4 PID-13 and NK1-5 (XTN, 250)'));
        checkConcept(c.relationship, `${type}.contact[${i}].relationship`, 'HL7 v2.4 NK1-7 (CE, 250)');
      });
    }
  }
  for (const type of ['Practitioner', 'Organization'] as const) {
    for (const r of index.all(type)) {
      list(r.identifier).forEach((id, i) => limit(id.value, `${type}.identifier[${i}].value`, IDENTIFIER, 'HL7 v2.4 PRD-7 (PI, 100) and PD1-3 (XON) with their assigning authority'));
    }
  }
}

function checkAddresses(patient: Resource): void {
  const addresses = (Array.isArray(patient.address) ? patient.address : []) as Array<Record<string, unknown>>;
  addresses.forEach((a, i) => {
    const parts = [...(Array.isArray(a?.line) ? a.line : []), a?.city, a?.district, a?.postalCode].filter((v): v is string => typeof v === 'string');
    const n = parts.reduce((sum, p) => sum + chars(p) + 2, 0);
    if (n > ADDRESS) {tooLong(`Patient.address[${i}]`, n, ADDRESS, 'HL7 v2.4 PID-11 XAD: lines, city, district and postcode together');}
  });
}

/** RF1-11 External Referral Identifier (EI, 30 in all): the sender's Encounter identifier `^` the sender's ODS code. */
function checkExternalReferralId(index: BundleIndex): void {
  const header = index.first('MessageHeader');
  const sender = index.resolve(header?.sender);
  const ods = ((Array.isArray(sender?.identifier) ? sender.identifier : []) as Array<{ system?: string; value?: unknown }>).find(
    (i) => sameSystem(i?.system, SYSTEMS.odsOrganizationCode) && typeof i.value === 'string',
  )?.value as string | undefined;
  const room = ENCOUNTER_IDENTIFIER - (ods ? chars(ods) + 1 : 0);
  for (const e of index.all('Encounter')) {
    const ids = (Array.isArray(e.identifier) ? e.identifier : []) as Array<{ value?: unknown }>;
    ids.forEach((id, i) => {
      if (typeof id?.value === 'string' && chars(id.value) > room) {
        tooLong(`Encounter.identifier[${i}].value`, chars(id.value), Math.max(0, room), `HL7 v2.4 RF1-11 External Referral Identifier: ${ENCOUNTER_IDENTIFIER} with the sender's ODS code`);
      }
    });
  }
}

/** Applies every limit to the message (index: the whole Bundle; patient: the message's patient). */
export function checkPasLimits(index: BundleIndex, patient: Resource | undefined): void {
  checkCodedText(index);
  checkExternalReferralId(index);
  for (const p of index.all('Patient')) {
    checkNames(p.name, 'Patient.name', 'HL7 v2.4 PID-5 as profiled by ITK');
    const contacts = (Array.isArray(p.contact) ? p.contact : []) as Array<{ name?: unknown }>;
    contacts.forEach((c, i) => checkNames(c?.name ? [c.name] : undefined, `Patient.contact[${i}].name`, 'HL7 v2.4 NK1-2 as profiled by ITK'));
    checkAddresses(p);
    const addresses = (Array.isArray(p.address) ? p.address : []) as Array<{ postalCode?: unknown }>;
    addresses.forEach((a, i) => {
      if (typeof a?.postalCode === 'string' && chars(a.postalCode) > POSTCODE) {tooLong(`Patient.address[${i}].postalCode`, chars(a.postalCode), POSTCODE, 'the referral file\'s postcode column');}
    });
  }
  if (patient) {checkNhsNumber(patient);}
  for (const p of index.all('Practitioner')) {checkNames(p.name, 'Practitioner.name', 'HL7 v2.4 PRD-2 and AIP-3 as profiled by ITK');}
  for (const a of index.all('Appointment')) {
    if (typeof a.description === 'string' && chars(a.description) > APPOINTMENT_DESCRIPTION) {
      tooLong('Appointment.description', chars(a.description), APPOINTMENT_DESCRIPTION, 'HL7 v2.4 SCH-7 Appointment Reason');
    }
  }
  for (const o of index.all('Organization')) {
    // PD1-3 (the GP practice) and SCH-16 (the service booked into, when it has no HealthcareService).
    if (typeof o.name === 'string' && chars(o.name) > ORGANIZATION_NAME) {tooLong('Organization.name', chars(o.name), ORGANIZATION_NAME, 'HL7 v2.4 PD1-3 and SCH-16 organisation names, as profiled by ITK');}
  }
  for (const hs of index.all('HealthcareService')) {
    if (typeof hs.name === 'string' && chars(hs.name) > CODED_TEXT) {tooLong('HealthcareService.name', chars(hs.name), CODED_TEXT, 'HL7 v2.4 SCH-16 Filler Contact Person (XCN)');}
  }
  const source = (index.first('MessageHeader')?.source ?? {}) as { name?: unknown };
  if (typeof source.name === 'string' && chars(source.name) > CODED_TEXT) {tooLong('MessageHeader.source.name', chars(source.name), CODED_TEXT, 'HL7 v2.4 SCH-20 Entered By Person (XCN)');}
}
