/*
 * TKW's substitutions, ported: the endpoint values apply_configs.sh writes into the .tst files and templates
 * (service ids, base64 NHSD-* headers, dates), and the datasource a schedule's messages are filled from. In TKW a
 * datasource row starts with values from an earlier run and is overwritten by each EXTRACTOR check from the response
 * (autotest_config/extractor_configs/*.cfg); here each schedule starts with fresh UUIDs and the same extractors
 * overwrite them, so a schedule never depends on another one.
 */
import { randomUUID } from 'node:crypto';
import { TEST_SERVICE_ID } from '../helpers/harness.js';

export type State = Map<string, string>;

/** Our receiver's DoS service id: apply_configs.sh substitutes the target service for __TO_SERVICE__ and __HCS__. */
export const TO_SERVICE = TEST_SERVICE_ID;
export const FROM_SERVICE = '2000012345';
/** A second DoS service whose HealthcareService publishes no slots (the harness gets a schedule with no hours). */
export const HCS_NO_SLOTS = '2000072490';
export const HCS_NO_SLOTS_ID = '0b6f1c52-7e43-4c7e-9a55-2f0f8f1e5a01';

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');

/** autotest_config/json_header_templates/*.json with apply_configs.sh's default values. */
export const HEADER_VALUES: Record<string, string> = {
  __TO_SERVICE_B64__: b64({ value: TO_SERVICE, system: 'https://fhir.nhs.uk/Id/dos-service-id' }),
  __END_USER_ORGANIZATION_B64__: b64({
    resourceType: 'Organization',
    identifier: [{ value: 'A1001', system: 'https://fhir.nhs.uk/Id/ods-organization-code' }],
    name: 'My service provider name',
  }),
  __REQUESTING_PRACTITIONER_B64__: b64({
    resourceType: 'PractitionerRole',
    identifier: [{ value: '100334993514', system: 'https://fhir.nhs.uk/Id/sds-role-profile-id' }],
    code: [{ coding: [{ code: '62247001', system: 'http://snomed.info/sct', display: 'General Practitioner' }] }],
  }),
  __REQUESTING_SOFTWARE_B64__: b64({
    resourceType: 'Device',
    identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: 'SUPP-APP-1' }],
    deviceName: { name: 'Supplier product name', type: 'Manufacturer name' },
    version: { value: '1.0.0' },
  }),
};

const DAY = 24 * 3600_000;
/** apply_configs.sh: `date +%Y-%m-%dT00:00:00%:z` (+1, +4 days); the run's TZ is UTC here. */
function midnight(daysFromToday: number): string {
  const d = new Date(Date.now() + daysFromToday * DAY);
  return `${d.toISOString().slice(0, 10)}T00:00:00+00:00`;
}

/** Values for the placeholders of request paths (URL-encoded where they sit in a query). */
export function pathValues(): Record<string, string> {
  const enc = encodeURIComponent;
  return {
    __TO_SERVICE__: TO_SERVICE,
    __HCS__: TO_SERVICE,
    __HCS_NO_SLOTS__: HCS_NO_SLOTS,
    __START_SLOT_TIME__: enc(midnight(1)),
    __END_SLOT_TIME__: enc(midnight(4)),
    __START_SLOT_TIME_NO_SLOTS__: enc(midnight(1)),
    __END_SLOT_TIME_NO_SLOTS__: enc(midnight(4)),
    __START_SLOT_TIME_YEAR_BACK__: enc(midnight(-365)),
    __START_SLOT_TIME_NO_TIMEZONE__: enc(midnight(1).slice(0, 19)),
    __START_SLOT_TIME_WRONG_TIMEZONE__: enc(`${midnight(1).slice(0, 19)}+25:00`),
    __TODAY1__: midnight(1),
    __TODAY4__: midnight(4),
  };
}

/** Every datasource column of referral_service_request.tdv, validation_service_request.tdv and slot_1.tdv. */
const ID_COLUMNS = [
  'SERVICE_REQUEST_ID', 'HEALTHCARE_SERVICE_ID', 'ENCOUNTER_ID', 'PATIENT_ID', 'ORG1_ID', 'ORG2_ID', 'ORG3_ID', 'ORG4_ID',
  'ORG5_ID', 'LOCATION_ID', 'LOCATION1_ID', 'LOCATION2_ID', 'LOCATION3_ID', 'PRACTITIONER_ID', 'PRACTITIONER1_ID',
  'PRACTITIONER2_ID', 'PRACTITIONER_ROLE_ID', 'PRACTITIONER_ROLE1_ID', 'PRACTITIONER_ROLE2_ID', 'MEDICATION_STATEMENT_ID',
  'ALLERGY_INTOLERANCE_ID', 'FLAG_ID', 'FLAG1_ID', 'FLAG2_ID', 'FLAG3_ID', 'QUESTIONNAIRE1_ID', 'QUESTIONNAIRE2_ID',
  'QUESTIONNAIRE_RESPONSE1_ID', 'QUESTIONNAIRE_RESPONSE2_ID', 'OBSERVATION_ID', 'OBSERVATION1_ID', 'OBSERVATION2_ID',
  'OBSERVATION3_ID', 'OBSERVATION4_ID', 'OBSERVATION5_ID', 'CONSENT_ID', 'CAREPLAN_ID', 'BUNDLE_ID', 'TASK_ID',
  'CONDITION_ID', 'COMMUNICATION_ID', 'PROCEDURE_ID', 'RECEIVER_ENCOUNTER_ID', 'APPT_ID',
];

/** A fresh datasource row: new UUIDs, and the slot/appointment columns empty until a GET /Slot fills them. */
export function initialState(): State {
  const s: State = new Map();
  for (const c of ID_COLUMNS) {
    s.set(`__${c}__`, randomUUID());
  }
  const now = new Date().toISOString();
  s.set('__RECEIVER_ENCOUNTER_FULLURL__', `urn:uuid:${randomUUID()}`);
  s.set('__RECEIVER_ENCOUNTER_LASTUPDATED__', now);
  s.set('__RECEIVER_ENCOUNTER_IDENTIFIER_SYSTEM__', 'https://receiver.url/Id/case-number');
  s.set('__RECEIVER_ENCOUNTER_IDENTIFIER__', '1072200');
  s.set('__RECEIVER_ENCOUNTER_STATUS__', 'planned');
  s.set('__RECEIVER_ENCOUNTER_SUBJECT_REF__', 'urn:uuid:9589fb37-87a2-48d8-968f-b371429208a8');
  s.set('__RECEIVER_ENCOUNTER_EPISODEOFCARE_REF__', `EpisodeOfCare/${randomUUID()}`);
  s.set('__RECEIVER_ENCOUNTER_PERIODSTART_REF__', now);
  for (const c of ['SLOT_ID', 'IDENTIFIER_VALUE', 'APPT_SLOT_ID', 'SCHEDULE', 'APPT_SCHEDULE', 'START_DATE', 'APPT_START_DATE',
    'END_DATE', 'APPT_END_DATE', 'APPT_CREATED']) {
    s.set(`__${c}__`, '');
  }
  s.set('__REQUEST_ID__', randomUUID());
  s.set('__CORRELATION_ID__', randomUUID());
  return s;
}

const PLACEHOLDER = /__([A-Z0-9]+(?:_[A-Z0-9]+)*)__/g;

/** Substitutes every known placeholder; unknown ones stay (so an echo of them would be caught). */
export function fill(text: string, values: Record<string, string> | State): string {
  const get = (k: string): string | undefined => (values instanceof Map ? values.get(k) : values[k]);
  return text.replace(PLACEHOLDER, (m) => get(m) ?? m);
}

type Res = Record<string, unknown>;
const resourcesOf = (bundle: Res, type?: string): Res[] =>
  ((bundle.entry as Array<{ resource?: Res }> | undefined) ?? [])
    .map((e) => e.resource)
    .filter((r): r is Res => !!r && (type === undefined || r.resourceType === type));
const idOf = (bundle: Res, type: string, n = 0): string => String(resourcesOf(bundle, type)[n]?.id ?? '');
const header = (h: Record<string, string | string[] | undefined>, name: string): string => {
  const v = h[name.toLowerCase()];
  return String(Array.isArray(v) ? v[0] : (v ?? ''));
};

/** referral_service_request.cfg / validation_service_request.cfg. */
export function extractServiceRequest(state: State, body: Res, headers: Record<string, string | string[] | undefined>): void {
  if (body.resourceType !== 'Bundle') {
    return;
  }
  const set = (k: string, v: string): void => void state.set(`__${k}__`, v);
  set('SERVICE_REQUEST_ID', idOf(body, 'ServiceRequest'));
  set('HEALTHCARE_SERVICE_ID', idOf(body, 'HealthcareService'));
  set('ENCOUNTER_ID', idOf(body, 'Encounter'));
  set('PATIENT_ID', idOf(body, 'Patient'));
  for (let i = 0; i < 5; i++) {set(`ORG${i + 1}_ID`, idOf(body, 'Organization', i));}
  // `/fhir:resource/fhir:Location[n]` is a child position, so only [1] ever matches (the first Location).
  set('LOCATION_ID', idOf(body, 'Location'));
  set('LOCATION2_ID', '');
  set('LOCATION3_ID', '');
  set('PRACTITIONER_ID', idOf(body, 'Practitioner'));
  set('PRACTITIONER1_ID', idOf(body, 'Practitioner', 0));
  set('PRACTITIONER2_ID', idOf(body, 'Practitioner', 1));
  set('PRACTITIONER_ROLE_ID', idOf(body, 'PractitionerRole'));
  set('PRACTITIONER_ROLE1_ID', idOf(body, 'PractitionerRole', 0));
  set('PRACTITIONER_ROLE2_ID', idOf(body, 'PractitionerRole', 1));
  set('MEDICATION_STATEMENT_ID', idOf(body, 'MedicationStatement'));
  set('ALLERGY_INTOLERANCE_ID', idOf(body, 'AllergyIntolerance'));
  set('FLAG_ID', idOf(body, 'Flag'));
  for (let i = 0; i < 3; i++) {set(`FLAG${i + 1}_ID`, idOf(body, 'Flag', i));}
  for (let i = 0; i < 2; i++) {set(`QUESTIONNAIRE${i + 1}_ID`, idOf(body, 'Questionnaire', i));}
  for (let i = 0; i < 2; i++) {set(`QUESTIONNAIRE_RESPONSE${i + 1}_ID`, idOf(body, 'QuestionnaireResponse', i));}
  set('OBSERVATION_ID', idOf(body, 'Observation'));
  for (let i = 0; i < 5; i++) {set(`OBSERVATION${i + 1}_ID`, idOf(body, 'Observation', i));}
  set('CONSENT_ID', idOf(body, 'Consent'));
  set('CAREPLAN_ID', idOf(body, 'CarePlan'));
  set('BUNDLE_ID', String(body.id ?? ''));
  set('TASK_ID', idOf(body, 'Task'));
  set('CONDITION_ID', idOf(body, 'Condition'));
  set('COMMUNICATION_ID', idOf(body, 'Communication'));
  set('PROCEDURE_ID', idOf(body, 'Procedure'));
  // The receiver's Encounter: the entry whose fullUrl is not the one ServiceRequest.encounter references.
  const entries = (body.entry as Array<{ fullUrl?: string; resource?: Res }> | undefined) ?? [];
  const srEncounter = (resourcesOf(body, 'ServiceRequest')[0]?.encounter as { reference?: string } | undefined)?.reference;
  const receiver = entries.find((e) => e.resource?.resourceType === 'Encounter' && e.fullUrl !== srEncounter);
  const enc = receiver?.resource as (Res & { meta?: { lastUpdated?: string }; identifier?: Array<{ system?: string; value?: string }>;
    subject?: { reference?: string }; episodeOfCare?: Array<{ reference?: string }>; period?: { start?: string } }) | undefined;
  set('RECEIVER_ENCOUNTER_FULLURL', receiver?.fullUrl ?? '');
  set('RECEIVER_ENCOUNTER_ID', String(enc?.id ?? ''));
  set('RECEIVER_ENCOUNTER_LASTUPDATED', enc?.meta?.lastUpdated ?? '');
  set('RECEIVER_ENCOUNTER_IDENTIFIER_SYSTEM', enc?.identifier?.[0]?.system ?? '');
  set('RECEIVER_ENCOUNTER_IDENTIFIER', enc?.identifier?.[0]?.value ?? '');
  set('RECEIVER_ENCOUNTER_STATUS', String(enc?.status ?? ''));
  set('RECEIVER_ENCOUNTER_SUBJECT_REF', enc?.subject?.reference ?? '');
  set('RECEIVER_ENCOUNTER_EPISODEOFCARE_REF', enc?.episodeOfCare?.[0]?.reference ?? '');
  set('RECEIVER_ENCOUNTER_PERIODSTART_REF', enc?.period?.start ?? '');
  set('CORRELATION_ID', header(headers, 'X-Correlation-ID'));
  set('REQUEST_ID', header(headers, 'X-Request-ID'));
}

/** slots_free1.cfg: the first free Slot of a slot search, and the Appointment of a booking response. */
export function extractSlots(state: State, body: Res, headers: Record<string, string | string[] | undefined>): void {
  const set = (k: string, v: string): void => void state.set(`__${k}__`, v);
  const all = body.resourceType === 'Bundle' ? resourcesOf(body) : [body];
  const slots = all.filter((r) => r.resourceType === 'Slot');
  const free = slots.find((r) => r.status === 'free') as (Res & { identifier?: Array<{ value?: string }>; schedule?: { reference?: string } }) | undefined;
  const hasAppt = all.some((r) => r.resourceType === 'Appointment');
  const first = (type: string, n = 0): string => String(all.filter((r) => r.resourceType === type)[n]?.id ?? '');
  set('SLOT_ID', String(free?.id ?? ''));
  set('IDENTIFIER_VALUE', free?.identifier?.[0]?.value ?? '');
  set('SCHEDULE', (free?.schedule?.reference ?? '').slice(9));
  set('START_DATE', String(free?.start ?? ''));
  set('END_DATE', String(free?.end ?? ''));
  set('APPT_ID', first('Appointment'));
  const apptSlot = hasAppt ? (slots[0] as Res | undefined) : undefined;
  set('APPT_SLOT_ID', String(apptSlot?.id ?? ''));
  set('APPT_SCHEDULE', hasAppt ? first('Schedule') : '');
  set('APPT_START_DATE', String(apptSlot?.start ?? ''));
  set('APPT_END_DATE', String(apptSlot?.end ?? ''));
  set('APPT_CREATED', String(all.find((r) => r.resourceType === 'Appointment')?.created ?? ''));
  set('CORRELATION_ID', header(headers, 'X-Correlation-ID'));
  set('REQUEST_ID', header(headers, 'X-Request-ID'));
  set('PATIENT_ID', first('Patient'));
  for (let i = 0; i < 3; i++) {set(`ORG${i + 1}_ID`, first('Organization', i));}
  set('HEALTHCARE_SERVICE_ID', first('HealthcareService'));
  set('PRACTITIONER_ID', first('Practitioner'));
  set('PRACTITIONER_ROLE_ID', first('PractitionerRole'));
  set('LOCATION_ID', first('Location'));
  set('BUNDLE_ID', body.resourceType === 'Bundle' ? String(body.id ?? '') : '');
  set('SERVICE_REQUEST_ID', first('ServiceRequest'));
}
