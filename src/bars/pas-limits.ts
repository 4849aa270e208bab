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
/** PD1-3.1 Organization Name of the registered GP practice (XON-1 in ITK messages). */
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

/** Applies every limit to the message (index: the whole Bundle; patient: the message's patient). */
export function checkPasLimits(index: BundleIndex, patient: Resource | undefined): void {
  for (const p of index.all('Patient')) {
    checkNames(p.name, 'Patient.name', 'HL7 v2.4 PID-5 as profiled by ITK');
    const contacts = (Array.isArray(p.contact) ? p.contact : []) as Array<{ name?: unknown }>;
    contacts.forEach((c, i) => checkNames(c?.name ? [c.name] : undefined, `Patient.contact[${i}].name`, 'HL7 v2.4 NK1-2 as profiled by ITK'));
    const addresses = (Array.isArray(p.address) ? p.address : []) as Array<{ postalCode?: unknown }>;
    addresses.forEach((a, i) => {
      if (typeof a?.postalCode === 'string' && chars(a.postalCode) > POSTCODE) {tooLong(`Patient.address[${i}].postalCode`, chars(a.postalCode), POSTCODE, 'the referral file\'s postcode column');}
    });
  }
  if (patient) {checkNhsNumber(patient);}
  for (const p of index.all('Practitioner')) {checkNames(p.name, 'Practitioner.name', 'HL7 v2.4 PRD-2 and AIP-3 as profiled by ITK');}
  for (const ref of (Array.isArray(patient?.generalPractitioner) ? patient.generalPractitioner : []) as unknown[]) {
    const gp = index.resolve(ref);
    if (gp?.resourceType === 'Organization' && typeof gp.name === 'string' && chars(gp.name) > ORGANIZATION_NAME) {
      tooLong('Organization.name', chars(gp.name), ORGANIZATION_NAME, 'HL7 v2.4 PD1-3 registered GP practice, as profiled by ITK');
    }
  }
  for (const a of index.all('Appointment')) {
    if (typeof a.description === 'string' && chars(a.description) > APPOINTMENT_DESCRIPTION) {
      tooLong('Appointment.description', chars(a.description), APPOINTMENT_DESCRIPTION, 'HL7 v2.4 SCH-7 Appointment Reason');
    }
  }
  for (const e of index.all('Encounter')) {
    const ids = (Array.isArray(e.identifier) ? e.identifier : []) as Array<{ value?: unknown }>;
    ids.forEach((id, i) => {
      if (typeof id?.value === 'string' && chars(id.value) > ENCOUNTER_IDENTIFIER) {tooLong(`Encounter.identifier[${i}].value`, chars(id.value), ENCOUNTER_IDENTIFIER, 'HL7 v2.4 RF1-11 External Referral Identifier');}
    });
  }
}
