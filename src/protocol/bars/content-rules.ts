/*
 * Content rules a BaRS receiver applies beyond the workflow variables — the ones NHS England's TKW receiver suite
 * checks (provider_simulator_validator rules, SCAL ids in comments). FHIR types and the ele-1/ext-1 invariants are
 * checked earlier, in fhir-types.ts. Each failure is 400 REC_BAD_REQUEST naming the element.
 */
import type { BundleIndex } from './bundle.js';
import { SYSTEMS, codingsIn, sameSystem } from './codes.js';
import { badRequest, unprocessable } from './errors.js';
import { checkPasLimits } from './pas-limits.js';
import type { Resource, Workflow } from './types.js';

interface RuleInput {
  readonly workflow: Workflow;
  readonly index: BundleIndex;
  readonly root: Resource;
  readonly patient: Resource | undefined;
}

function rankOf(contact: Record<string, unknown>): number | undefined {
  const ext = (Array.isArray(contact.extension) ? contact.extension : []) as Array<{ url?: string; valuePositiveInt?: number }>;
  return ext.find((e) => sameSystem(e?.url, SYSTEMS.contactRank))?.valuePositiveInt;
}

/**
 * Patient contacts: "≥1 contact with a phone; Extension-UKCore-ContactRank on each, exactly one rank 1; rank-1
 * contact+method = primary callback" (APP1 Payloads; TKW RS-PAT-CON / BS-PATIENT-RESO). The callback number is how
 * the receiving clinician reaches the patient, so a referral without exactly one is refused.
 */
function checkContacts(patient: Resource, required: boolean): void {
  const contacts = (Array.isArray(patient.contact) ? patient.contact : []) as Array<Record<string, unknown>>;
  if (contacts.length === 0) {
    if (required) {
      throw badRequest('invariant', 'Patient.contact must hold the patient\'s callback contact (one contact of ContactRank 1)', 'Patient.contact');
    }
    return;
  }
  const rank1 = contacts.filter((c) => rankOf(c) === 1);
  if (rank1.length !== 1) {
    throw badRequest('invariant', `Patient.contact must have exactly one contact with ContactRank 1; found ${rank1.length}`, 'Patient.contact');
  }
}

/** Consent: Direct Care (DRC) with implied policy "is the only supported option" (APP1 Payloads; TKW RS-CONSENT). */
function checkConsents(index: BundleIndex): void {
  for (const consent of index.all('Consent')) {
    const categories = codingsIn(consent.category, SYSTEMS.consentCategories);
    if (!categories.some((c) => c.code === 'DRC')) {
      throw badRequest('invariant', 'Consent.category must be Direct Care (consent-categories-bars DRC)', 'Consent.category');
    }
  }
}

/**
 * Incident location of a validation request: "All Locations must include a co-ordinate… or a property location
 * identifier" (APP3/APP4 scope); UPRN is 1–12 digits (TKW RS-INFO-LOC-UPRN), eastings/northings numeric.
 */
function checkLocations(index: BundleIndex): void {
  for (const location of index.all('Location')) {
    const ext = (Array.isArray(location.extension) ? location.extension : []) as Array<{ url?: string; extension?: Array<{ url?: string; valueString?: string }> }>;
    const parts = ext.filter((e) => sameSystem(e?.url, SYSTEMS.locationExtension)).flatMap((e) => e.extension ?? []);
    const value = (name: string): string | undefined => parts.find((p) => p?.url?.toLowerCase() === name.toLowerCase())?.valueString;
    const uprn = value('UPRN');
    if (uprn !== undefined && !/^[0-9]{1,12}$/.test(uprn)) {
      throw badRequest('value', 'Location UPRN must be 1 to 12 digits', 'Location.extension:LocationExtension.extension:UPRN');
    }
    for (const axis of ['eastings', 'northings']) {
      const v = value(axis);
      if (v !== undefined && !Number.isFinite(Number(v))) {
        throw badRequest('value', `Location ${axis} must be a number`, `Location.extension:LocationExtension.extension:${axis}`);
      }
    }
    const hasPosition = !!location.position;
    const hasAddress = !!location.address;
    const hasGrid = value('eastings') !== undefined && value('northings') !== undefined;
    if (!uprn && !hasPosition && !hasAddress && !hasGrid && value('what3words') === undefined) {
      throw badRequest('invariant', 'A Location must include a co-ordinate, a property identifier (UPRN) or an address', 'Location');
    }
  }
}

/**
 * NHS number: 10 digits with a valid modulus-11 check digit (NHS Data Dictionary). Not a reason to refuse a referral
 * (receivers "must accept potential patients who do not have a national validated identifier", APP1 scope, and NHS
 * England's own examples carry invalid numbers); the mappings use it to set the PID-3 verification status.
 */
export function isValidNhsNumber(value: string): boolean {
  if (!/^\d{10}$/.test(value)) {
    return false;
  }
  const digits = [...value].map(Number);
  const sum = digits.slice(0, 9).reduce((acc, d, i) => acc + d * (10 - i), 0);
  const check = 11 - (sum % 11);
  const expected = check === 11 ? 0 : check;
  return expected !== 10 && expected === digits[9];
}


/**
 * FHIR R4 app-3: "Only proposed or cancelled appointments can be missing start/end dates" (waitlist too, in R4's
 * expression). A cancellation without its start is valid FHIR but the PAS cannot take it: SIU^S15 needs SCH-11
 * Appointment Timing Quantity (R) to find the slot it frees.
 */
function checkAppointmentTimes(index: BundleIndex): void {
  for (const a of index.all('Appointment')) {
    const missing = ['start', 'end'].filter((k) => typeof a[k] !== 'string');
    if (missing.length === 0) {
      continue;
    }
    const status = typeof a.status === 'string' ? a.status : '';
    if (!['proposed', 'cancelled', 'waitlist'].includes(status)) {
      throw badRequest('invariant', `Appointment.${missing[0]} is required for a ${status || 'booked'} appointment (FHIR app-3)`, `Appointment.${missing[0]}`);
    }
    if (missing.includes('start')) {
      throw unprocessable('not-supported', 'Appointment.start is required: the PAS identifies the appointment to cancel by its start (HL7 v2.4 SCH-11, required)', 'Appointment.start');
    }
  }
}

/** Applies the rules that fit the workflow (element types and ele-1/ext-1 were checked first: fhir-types.ts). */
export function checkContentRules(input: RuleInput): void {
  const { workflow, patient, index } = input;
  const isNewOrUpdate = /^(referral|validation)-(new|update)$/.test(workflow);
  if (patient && isNewOrUpdate) {
    checkContacts(patient, workflow.endsWith('-new'));
  }
  if (patient && (workflow === 'booking-new' || workflow === 'booking-update')) {
    checkContacts(patient, false);
  }
  if (isNewOrUpdate || workflow.startsWith('booking-')) {
    checkConsents(index);
  }
  if (workflow === 'validation-new' || workflow === 'validation-update') {
    checkLocations(index);
  }
  if (workflow.startsWith('booking-')) {
    checkAppointmentTimes(index);
  }
  if (!workflow.startsWith('response-')) {
    // Workflows with PAS mappings: what the PAS cannot carry is refused here, not dead-lettered after a 200.
    checkPasLimits(index, patient);
  }
}
