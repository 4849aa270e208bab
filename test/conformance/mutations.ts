/*
 * The TKW pre-transforms (nhsdigitalmait/FHIR_BaRS autotest_config/transforms/*.xslt @ 6485d33), as functions on
 * the JSON Bundle. Each keeps the XSLT's includes: patient_is_traced, remove_listed_ids and common_message_transforms
 * are applied exactly where the stylesheet includes them (e.g. *_resend_bundleid leaves out common, so the template's
 * Bundle.id — the previous response's, from the datasource — is resent; 6_OOA_x_2.. include nothing).
 */
import { randomUUID } from 'node:crypto';

type R = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Entry = { fullUrl?: string; resource?: R };
export type Mutation = (b: R) => void;

const CONTACT_RANK = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ContactRank';
const VERIFICATION = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus';
const USE_CASES = 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars';
const LOCATION_EXT = 'https://fhir.nhs.uk/StructureDefinition/LocationExtension';

const entries = (b: R): Entry[] => (Array.isArray(b.entry) ? b.entry : []);
const all = (b: R, type: string): R[] => entries(b).map((e) => e.resource).filter((r): r is R => r?.resourceType === type);
const header = (b: R): R => all(b, 'MessageHeader')[0]!;
const dropEntries = (b: R, pred: (e: Entry) => boolean): void => {
  b.entry = entries(b).filter((e) => !pred(e));
};
const dropTypes = (b: R, ...types: string[]): void => dropEntries(b, (e) => types.includes(e.resource?.resourceType));
const rank = (c: R): unknown => (c.extension ?? []).find((e: R) => e.url === CONTACT_RANK)?.valuePositiveInt;
const nowSeconds = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const setReason = (b: R, code: string): void => {
  for (const c of header(b).reason?.coding ?? []) {c.code = code;}
};
/** Removes `key` from every object under `node` (XSLT templates matching an element everywhere). */
function dropKeyDeep(node: unknown, key: string): void {
  if (Array.isArray(node)) {node.forEach((n) => dropKeyDeep(n, key));}
  else if (node && typeof node === 'object') {
    delete (node as R)[key];
    Object.values(node).forEach((n) => dropKeyDeep(n, key));
  }
}

// ---- the included building blocks ----------------------------------------------------------------------------

/** patient_is_traced.xslt */
function patientIsTraced(b: R): void {
  for (const p of all(b, 'Patient')) {
    for (const id of p.identifier ?? []) {
      if ('value' in id) {id.value = '9658218873';}
      for (const ext of (id.extension ?? []).filter((e: R) => e.url === VERIFICATION)) {
        for (const c of ext.valueCodeableConcept?.coding ?? []) {
          c.code = 'number-present-and-verified';
          if ('display' in c) {c.display = 'Number present and verified';}
        }
      }
    }
    if (Array.isArray(p.name)) {
      p.name = p.name.map(() => ({ use: 'official', text: 'Mr Mike Meakin', family: 'Meakin', given: ['Mike'], prefix: ['Mr'] }));
    }
    if ('gender' in p) {p.gender = 'male';}
    if ('birthDate' in p) {p.birthDate = '1927-06-19';}
    if (Array.isArray(p.address)) {
      p.address = p.address.map(() => ({ use: 'home', text: '1 Knights Court, Humberside DN16 3PL', line: ['1 Knights Court'], city: 'Humberside', postalCode: 'DN16 3PL' }));
    }
    for (const c of p.contact ?? []) {
      if (!Array.isArray(c.telecom)) {continue;}
      c.telecom = c.telecom
        .filter((t: R) => String(t.rank) !== '2')
        .map((t: R) => (t.system === 'email' && 'value' in t ? { ...t, value: 'mmeakin@hotmail.co.uk' } : t))
        .map((t: R) => (String(t.rank) === '1' && t.system === 'phone' ? { system: 'phone', value: '01454587554', use: 'home', rank: 1 } : t));
      if (c.telecom.length === 0) {delete c.telecom;}
    }
  }
}

/** patient_not_traced.xslt (its verification-status templates are commented out; it drops Patient.identifier). */
function patientNotTraced(b: R): void {
  for (const p of all(b, 'Patient')) {delete p.identifier;}
}

const LISTED = ['ServiceRequest', 'Encounter', 'CarePlan', 'Patient', 'Condition', 'Task', 'Organization', 'Practitioner',
  'PractitionerRole', 'Flag', 'MedicationStatement', 'Observation', 'Consent', 'HealthcareService', 'Location',
  'AllergyIntolerance', 'Questionnaire', 'QuestionnaireResponse', 'Procedure', 'Communication'];
/** remove_listed_ids.xslt */
function removeListedIds(b: R): void {
  for (const e of entries(b)) {if (e.resource && LISTED.includes(e.resource.resourceType)) {delete e.resource.id;}}
}

/** common_message_transforms.xslt: fresh lower-case Bundle.id; Slot.id cut to 36 characters. */
function common(b: R): void {
  b.id = randomUUID().toLowerCase();
  for (const s of all(b, 'Slot')) {if (typeof s.id === 'string') {s.id = s.id.slice(0, 36);}}
}

/** remove_appt_id.xslt's own templates: no Appointment/Patient id, no empty ids, Appointment.created = now. */
function removeApptIdBase(b: R): void {
  for (const a of all(b, 'Appointment')) {
    delete a.id;
    if ('created' in a) {a.created = nowSeconds();}
  }
  for (const p of all(b, 'Patient')) {delete p.id;}
}

const compose = (...fns: Mutation[]): Mutation => (b) => fns.forEach((f) => f(b));
const createSR = (...extra: Mutation[]): Mutation => compose(patientIsTraced, removeListedIds, common, ...extra);

// ---- single-purpose edits --------------------------------------------------------------------------------------

const noNhsNo: Mutation = (b) => all(b, 'Patient').forEach((p) => delete p.identifier);
const removeRank1: Mutation = (b) => all(b, 'Patient').forEach((p) => {
  p.contact = (p.contact ?? []).filter((c: R) => String(rank(c)) !== '1');
  if (p.contact.length === 0) {delete p.contact;}
});
const allRank1: Mutation = (b) => all(b, 'Patient').forEach((p) => (p.contact ?? []).forEach((c: R) => {
  for (const e of (c.extension ?? []).filter((x: R) => x.url === CONTACT_RANK)) {e.valuePositiveInt = 1;}
}));
const rank1Brother: Mutation = (b) => all(b, 'Patient').forEach((p) => (p.contact ?? []).filter((c: R) => String(rank(c)) === '1').forEach((c: R) => {
  for (const rel of c.relationship ?? []) {for (const cd of rel.coding ?? []) {
    if (cd.system === 'http://terminology.hl7.org/CodeSystem/v3-RoleCode') {
      cd.code = 'BRO';
      if ('display' in cd) {cd.display = 'brother';}
    }
  }}
}));
const noVersionId: Mutation = (b) => void delete b.meta?.versionId;
const eventCode = (code: string): Mutation => (b) => {
  const ev = header(b).eventCoding;
  if (ev?.system === 'https://fhir.nhs.uk/CodeSystem/message-events-bars') {ev.code = code;}
};
const reasonCode = (code: string): Mutation => (b) => {
  for (const c of header(b).reason?.coding ?? []) {if (c.system === 'https://fhir.nhs.uk/CodeSystem/message-reason-bars') {c.code = code;}}
};
const srCategoryNonsense: Mutation = (b) => all(b, 'ServiceRequest').forEach((sr) => (sr.category ?? []).forEach((cc: R) => (cc.coding ?? []).forEach((c: R) => (c.code = 'nonsense'))));
const noUcc: Mutation = (b) => all(b, 'ServiceRequest').forEach((sr) => (sr.category ?? []).forEach((cc: R) => {
  cc.coding = (cc.coding ?? []).filter((c: R) => c.system !== USE_CASES);
}));
const invalidUcc: Mutation = (b) => all(b, 'ServiceRequest').forEach((sr) => (sr.category ?? []).forEach((cc: R) => (cc.coding ?? []).forEach((c: R) => {
  if (c.system === USE_CASES) {c.code = 'xxxxxxxxxxxxxxxxxxx';}
})));
const carePlanStatus = (s: string): Mutation => (b) => all(b, 'CarePlan').forEach((c) => (c.status = s));
const encounterStatusPlanned: Mutation = (b) => all(b, 'Encounter').forEach((e) => (e.status = 'planned'));
const notDirectCare: Mutation = (b) => all(b, 'Consent').forEach((c) => (c.category ?? []).forEach((cc: R) => (cc.coding ?? []).forEach((cd: R) => {
  if (cd.system === 'https://fhir.nhs.uk/CodeSystem/consent-categories-bars') {
    cd.code = 'NDRC';
    if ('display' in cd) {cd.display = 'Not Direct Care';}
  }
})));
const sceneSafety = (code: string, display: string): Mutation => (b) => all(b, 'Flag')
  .filter((f) => (f.category ?? []).some((cc: R) => (cc.coding ?? []).some((c: R) => c.system === 'https://fhir.nhs.uk/CodeSystem/flag-categories-bars' && c.code === 'SS')))
  .forEach((f) => (f.code?.coding ?? []).forEach((c: R) => {
    if (f.code.coding.some((x: R) => x.system === 'https://fhir.nhs.uk/flag-codes-bars')) {
      c.code = code;
      if ('display' in c) {c.display = display;}
    }
  }));

/** Location edits of the create_service_request_<location> family. */
const locations = (b: R): R[] => all(b, 'Location');
const locParts = (l: R, keep: (url: string) => boolean): void => {
  for (const ext of (l.extension ?? []).filter((e: R) => e.url === LOCATION_EXT)) {
    ext.extension = (ext.extension ?? []).filter((p: R) => keep(p.url));
  }
  l.extension = (l.extension ?? []).filter((e: R) => e.url !== LOCATION_EXT || (e.extension ?? []).length > 0);
  if (l.extension.length === 0) {delete l.extension;}
};
const loc = (opts: { ext?: 'none' | ((url: string) => boolean); address?: false; position?: false; w3w?: 'only' | 'plus' }): Mutation => (b) => {
  for (const l of locations(b)) {
    if (opts.w3w) {
      const keep = opts.w3w === 'plus' ? (l.extension ?? []).filter((e: R) => e.url === LOCATION_EXT).flatMap((e: R) => e.extension ?? []).filter((p: R) => /UPRN|eastings|northings/.test(p.url)) : [];
      // The XSLT replaces every Location.extension with one LocationExtension.
      l.extension = (l.extension ?? []).map(() => ({ url: LOCATION_EXT, extension: [{ url: 'what3words', valueString: 'what three words' }, ...keep] }));
    } else if (opts.ext === 'none') {
      delete l.extension;
    } else if (opts.ext) {
      locParts(l, opts.ext);
    }
    if (opts.address === false) {delete l.address;}
    if (opts.position === false) {delete l.position;}
  }
};
const noLocation: Mutation = (b) => {
  dropTypes(b, 'Location');
  dropKeyDeep(b, 'locationReference');
};

// ---- workflow transforms ---------------------------------------------------------------------------------------

const UPDATE_PATIENT: Mutation = (b) => all(b, 'Patient').forEach((p) => {
  for (const n of p.name ?? []) {
    if ('text' in n) {n.text = 'Mrs Julie Jones';}
    if (Array.isArray(n.given)) {n.given = n.given.map(() => 'Julie');}
  }
  if ('gender' in p) {p.gender = 'female';}
  if ('birthDate' in p) {p.birthDate = '1959-05-04';}
});
const update = (extra?: Mutation): Mutation => (b) => {
  common(b);
  setReason(b, 'update');
  all(b, 'ServiceRequest').forEach((sr) => (sr.status = 'active'));
  UPDATE_PATIENT(b);
  extra?.(b);
};
const CANCEL_DROPS = ['Encounter', 'CarePlan', 'HealthcareService', 'PractitionerRole', 'Practitioner', 'MedicationStatement',
  'AllergyIntolerance', 'Flag', 'QuestionnaireResponse', 'Observation', 'Consent', 'Task', 'Condition'];
const cancelSR = (status: string, extra?: Mutation): Mutation => (b) => {
  patientIsTraced(b);
  common(b);
  setReason(b, 'update');
  if ('definition' in header(b)) {header(b).definition = 'https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-cancelled';}
  all(b, 'ServiceRequest').forEach((sr) => (sr.status = status));
  dropTypes(b, ...CANCEL_DROPS);
  extra?.(b);
};
const cancelAppt = (extra?: Mutation): Mutation => (b) => {
  patientIsTraced(b);
  common(b);
  setReason(b, 'update');
  if ('definition' in header(b)) {header(b).definition = 'https://fhir.nhs.uk/MessageDefinition/bars-message-booking-request-cancelled';}
  all(b, 'Appointment').forEach((a) => (a.status = 'cancelled'));
  extra?.(b);
  dropTypes(b, 'Slot', 'Schedule', 'HealthcareService', 'PractitionerRole', 'Practitioner', 'Location');
};
const removeApptId = (...extra: Mutation[]): Mutation => compose(patientIsTraced, common, removeListedIds, removeApptIdBase, ...extra);

const BASIC_BOOKING: Mutation = (b) => {
  dropKeyDeep(b, 'basedOn');
  dropTypes(b, 'ServiceRequest', 'Practitioner', 'PractitionerRole', 'Location');
  dropKeyDeep(b, 'generalPractitioner');
  // `Organization/identifier/system/@value='ods-organization-code'`: a literal no real system equals, so no-op.
  for (const s of all(b, 'Schedule')) {
    s.actor = (s.actor ?? []).filter((a: R) => !['urn:uuid:52428e73-0a5c-455d-8ff5-cd080e557082', 'urn:uuid:6daaadd8-56e0-4d74-8350-1632331c5452'].includes(a.reference));
  }
  dropKeyDeep(b, 'location');
};

/** 6_OOA helpers: the sender Encounter is the one ServiceRequest.encounter references. */
const srEncounterRef = (b: R): string | undefined => all(b, 'ServiceRequest')[0]?.encounter?.reference;
const senderEncounter = (b: R): R | undefined => entries(b).find((e) => e.fullUrl === srEncounterRef(b) && e.resource?.resourceType === 'Encounter')?.resource;
const dropReceiverEncounter: Mutation = (b) => {
  const ref = srEncounterRef(b);
  dropEntries(b, (e) => e.resource?.resourceType === 'Encounter' && e.fullUrl !== ref);
};
const dropPatientGp: Mutation = (b) => {
  const gpRefs = all(b, 'Patient').flatMap((p) => (p.generalPractitioner ?? []).map((g: R) => g.reference));
  const roles = entries(b).filter((e) => e.resource?.resourceType === 'PractitionerRole' && gpRefs.includes(e.resource.organization?.reference));
  const practitioners = roles.map((e) => e.resource!.practitioner?.reference);
  dropEntries(b, (e) => gpRefs.includes(e.fullUrl) || roles.includes(e) || practitioners.includes(e.fullUrl));
  all(b, 'Patient').forEach((p) => delete p.generalPractitioner);
};
const isLocType = (l: R, code: string): boolean => (l.type ?? []).some((t: R) => (t.coding ?? []).some((c: R) => c.system === 'https://fhir.nhs.uk/CodeSystem/location-types-bars' && c.code === code));
const dropRendezvous: Mutation = (b) => dropEntries(b, (e) => e.resource?.resourceType === 'Location' && isLocType(e.resource, 'RLOC'));
const flagUnknown: Mutation = (b) => all(b, 'Flag').forEach((f) => {
  for (const c of f.code?.coding ?? []) {
    c.code = 'UNK';
    if ('display' in c) {c.display = 'Unknown';}
  }
  if (f.code) {delete f.code.text;}
});
const setLastUpdated = (pred: (r: R) => boolean, value: string): Mutation => (b) => entries(b).map((e) => e.resource).filter((r): r is R => !!r && pred(r)).forEach((r) => {
  if (r.meta && 'lastUpdated' in r.meta) {r.meta.lastUpdated = value;}
});
const everyLastUpdated = (value: string): Mutation => (b) => {
  if (b.meta && 'lastUpdated' in b.meta) {b.meta.lastUpdated = value;}
  setLastUpdated(() => true, value)(b);
};
const patientTrim = (...keys: string[]): Mutation => (b) => all(b, 'Patient').forEach((p) => {
  for (const k of keys) {delete p[k];}
  p.extension = (p.extension ?? []).filter((e: R) => !['https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory', 'http://hl7.org/fhir/StructureDefinition/patient-religion'].includes(e.url));
  if (p.extension.length === 0) {delete p.extension;}
  if (Array.isArray(p.contact)) {p.contact = p.contact.filter((c: R) => !(c.extension ?? []).some((e: R) => String(e.valuePositiveInt) === '2'));}
});
const senderEncounterEdit = (edit: (e: R) => void): Mutation => (b) => {
  const e = senderEncounter(b);
  if (e) {edit(e);}
};
const dropCarePlanActivity: Mutation = (b) => all(b, 'CarePlan').forEach((c) => delete c.activity);
const T = (s: string): string => `2023-12-26T15:00:0${s}+00:00`;

export const MUTATIONS: Record<string, Mutation> = {
  'create_service_request.xslt': createSR(),
  'create_referral_request.xslt': compose(removeListedIds, common),
  'create_service_request_basic.xslt': createSR((b) => {
    dropTypes(b, 'Location', 'MedicationStatement', 'AllergyIntolerance', 'Flag', 'QuestionnaireResponse', 'Observation');
    dropKeyDeep(b, 'locationReference');
    dropKeyDeep(b, 'supportingInfo');
  }),
  'create_service_request_leave_ids.xslt': compose(patientIsTraced, common),
  'create_service_request_no_nhs_no.xslt': createSR(noNhsNo),
  'create_service_request_and_remove_rank1.xslt': createSR(removeRank1),
  'create_service_request_and_change_rank.xslt': createSR(allRank1),
  'create_service_request_and_change_relationship_to_brother.xslt': createSR(rank1Brother),
  'create_service_request_and_remove_versionid.xslt': createSR(noVersionId),
  'create_service_request_resend_bundleid.xslt': compose(patientIsTraced, removeListedIds),
  'create_service_request_invalidate_event_code.xslt': createSR(eventCode('servicerequest-destruction')),
  'create_service_request_invalidate_reason_code.xslt': createSR(reasonCode('xxxxxxxxxxxxxxxxxxx')),
  'create_service_request_change_category.xslt': createSR(srCategoryNonsense),
  'create_service_request_no_ucc.xslt': createSR(noUcc),
  'create_service_request_invalid_ucc.xslt': createSR(invalidUcc),
  'create_service_request_change_careplan_status_active.xslt': createSR(carePlanStatus('active')),
  'create_service_request_change_careplan_status_completed.xslt': createSR(carePlanStatus('completed')),
  'create_service_request_change_encounter_status.xslt': createSR(encounterStatusPlanned),
  'create_service_request_not_direct_care.xslt': createSR(notDirectCare),
  'create_service_request_ss_unsafe.xslt': createSR(sceneSafety('U', 'The scene is unsafe')),
  'create_service_request_ss_unknown.xslt': createSR(sceneSafety('UNK', 'Unknown')),
  'create_service_request_address.xslt': createSR(loc({ ext: 'none', position: false })),
  'create_service_request_en.xslt': createSR(loc({ ext: (u) => u !== 'UPRN', address: false, position: false })),
  'create_service_request_ll.xslt': createSR(loc({ ext: 'none', address: false })),
  'create_service_request_uprn.xslt': createSR(loc({ ext: (u) => u !== 'eastings' && u !== 'northings', address: false, position: false })),
  'create_service_request_uprn_address.xslt': createSR(loc({ ext: (u) => u !== 'eastings' && u !== 'northings', position: false })),
  'create_service_request_uprn_address_en.xslt': createSR(loc({ position: false })),
  'create_service_request_uprn_address_en_ll.xslt': createSR(),
  'create_service_request_uprn_address_en_w3w.xslt': createSR(loc({ w3w: 'plus', position: false })),
  'create_service_request_uprn_address_ll.xslt': createSR(loc({ ext: (u) => u !== 'eastings' && u !== 'northings' })),
  'create_service_request_w3w.xslt': createSR(loc({ w3w: 'only', address: false, position: false })),
  'create_service_request_no_UPRN.xslt': createSR(loc({ ext: (u) => u !== 'UPRN' })),
  'create_service_request_no_location.xslt': createSR(noLocation),
  'create_service_request_no_location_address_postcode_eastings_northings.xslt': createSR(loc({ ext: (u) => u !== 'eastings' && u !== 'northings', address: false })),
  'create_basic_validation_request.xslt': compose(patientNotTraced, removeListedIds, common, (b) => {
    for (const p of all(b, 'Patient')) {
      const c0 = p.contact?.[0];
      if (c0?.telecom) {c0.telecom = c0.telecom.filter((_: R, i: number) => i !== 0 && i !== 2);}
      if (Array.isArray(p.contact) && p.contact.length > 1) {p.contact.splice(1, 1);}
    }
    loc({ ext: (u) => u !== 'eastings' && u !== 'northings', position: false })(b);
    dropTypes(b, 'Observation');
    const flags = entries(b).filter((e) => e.resource?.resourceType === 'Flag');
    if (flags[1]) {dropEntries(b, (e) => e === flags[1]);}
  }),
  'update_service_request.xslt': (b) => {
    patientIsTraced(b);
    update()(b);
  },
  'update_service_request_invalid_last_updated.xslt': update(setLastUpdated((r) => r.resourceType === 'Patient', '2020-11-26T15:00:00+00:00')),
  'cancel_service_request.xslt': cancelSR('revoked'),
  'cancel_service_request_invalid_status.xslt': cancelSR('completed'),
  'cancel_service_request_change_category.xslt': cancelSR('revoked', srCategoryNonsense),
  'remove_appt_id.xslt': removeApptId(),
  'booking_request_basic.xslt': removeApptId(BASIC_BOOKING),
  'add_appointment_resource.xslt': removeApptId(BASIC_BOOKING, (b) => {
    const a = all(b, 'Appointment')[0] ?? {};
    b.entry.push({
      fullUrl: 'urn:uuid:74b9bc9c-9c26-434c-abe8-571fd22934d4',
      resource: {
        resourceType: 'Appointment',
        meta: { lastUpdated: '2021-10-11T15:01:30.8185338+00:00', profile: ['http://hl7.org/fhir/StructureDefinition/Appointment', 'https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment'] },
        status: 'booked',
        description: 'Reason for calling-',
        start: a.start,
        end: a.end,
        slot: [{ reference: 'Slot/urn:uuid:deb4c4b3-870b-4599-84df-5e54cef7afda' }],
        created: nowSeconds(),
        participant: [{ actor: { reference: 'urn:uuid:788660eb-d2c9-4773-abd4-318484673fb2' }, status: 'accepted' }],
      },
    });
  }),
  'remove_appt_id_and_nhs_no.xslt': removeApptId(noNhsNo),
  'remove_appt_id_and_rank1.xslt': removeApptId(removeRank1),
  'remove_appt_id_and_change_rank.xslt': removeApptId(allRank1),
  'remove_appt_id_and_change_relationship_to_brother.xslt': removeApptId(rank1Brother),
  'remove_appt_id_and_versionid.xslt': compose(patientIsTraced, common, removeApptIdBase, noVersionId),
  'remove_appt_id_invalidate_event_code.xslt': removeApptId(eventCode('booking-destruction')),
  'remove_appt_id_invalidate_reason_code.xslt': removeApptId(reasonCode('xxxxxxxxxxxxxxxxxxx')),
  'remove_appt_id_resend_bundleid.xslt': compose(patientIsTraced, removeListedIds, removeApptIdBase),
  'cancel_appointment.xslt': cancelAppt(),
  'cancel_appointment_and_change_details.xslt': cancelAppt((b) => all(b, 'Appointment').forEach((a) => (a.participant ?? []).forEach((p: R) => {
    if (p.actor && 'reference' in p.actor) {p.actor.reference = '12345';}
  }))),
  '6_OOA_1_1.xslt': compose(
    everyLastUpdated('2023-12-26T15:00:00.8185338+00:00'),
    (b) => setReason(b, 'new'),
    dropReceiverEncounter,
    senderEncounterEdit((e) => {
      e.status = 'in-progress';
      for (const l of e.location ?? []) {delete l.period;}
    }),
    dropCarePlanActivity,
    patientTrim('identifier', 'name', 'gender', 'birthDate', 'address', 'communication'),
    dropPatientGp,
    dropRendezvous,
    (b) => locations(b).filter((l) => isLocType(l, 'ILOC')).forEach((l) => locParts(l, (u) => u !== 'accuracy')),
    flagUnknown,
    removeListedIds,
    common,
  ),
  '6_OOA_1_2.xslt': compose(
    (b) => void (b.meta.lastUpdated = T('2.8185338')),
    senderEncounterEdit((e) => {
      if (e.meta) {e.meta.lastUpdated = T('2.8185338');}
      e.status = 'in-progress';
      for (const h of (e.statusHistory ?? []).filter((x: R) => x.status === 'in-progress')) {if (h.period) {h.period.start = '2023-12-26T15:00:00+00:00';}}
    }),
    setLastUpdated((r) => r.resourceType === 'CarePlan', T('0.8185338')),
    dropCarePlanActivity,
    setLastUpdated((r) => r.resourceType === 'Patient', T('2.8185338')),
    patientTrim('identifier', 'address', 'communication'),
    dropPatientGp,
    dropRendezvous,
    setLastUpdated((r) => r.resourceType === 'Flag', T('2.8185338')),
    flagUnknown,
  ),
  '6_OOA_1_3.xslt': compose(
    (b) => void (b.meta.lastUpdated = T('3.8185338')),
    senderEncounterEdit((e) => {
      if (e.meta) {e.meta.lastUpdated = T('3.8185338');}
      e.status = 'triaged';
      for (const h of (e.statusHistory ?? []).filter((x: R) => x.status === 'in-progress')) {if (h.period) {h.period.start = '2023-12-26T15:00:00+00:00';}}
    }),
    dropRendezvous,
  ),
  '6_OOA_1_4.xslt': () => undefined,
  '6_OOA_2_1.xslt': compose(
    (b) => entries(b).forEach((e) => e.resource && delete e.resource.id),
    dropReceiverEncounter,
    everyLastUpdated('2023-12-26T15:00:00.8185338+00:00'),
    dropCarePlanActivity,
    (b) => all(b, 'Patient').forEach((p) => {
      delete p.identifier;
      delete p.communication;
    }),
    dropPatientGp,
    common,
  ),
  '6_OOA_2_2.xslt': compose(
    (b) => void (b.meta.lastUpdated = T('2.8185338')),
    senderEncounterEdit((e) => {
      if (e.meta) {e.meta.lastUpdated = T('2.8185338');}
      e.status = 'triaged';
    }),
  ),
  '6_OOA_2_3.xslt': () => undefined,
  '6_OOA_3_1.xslt': compose(removeListedIds, common),
  '6_OOA_3_2.xslt': compose(removeListedIds, common),
};

/** Empty values ("" after a datasource column was empty) are absent, as a FHIR parser reads `value=""`. */
export function pruneEmpty(node: unknown): unknown {
  if (Array.isArray(node)) {
    const out = node.map(pruneEmpty).filter((v) => v !== undefined);
    return out.length > 0 ? out : undefined;
  }
  if (node && typeof node === 'object') {
    const out: R = {};
    for (const [k, v] of Object.entries(node)) {
      const p = pruneEmpty(v);
      if (p !== undefined) {out[k] = p;}
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return node === '' ? undefined : node;
}
