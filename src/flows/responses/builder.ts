/*
 * Builds an asynchronous BaRS response Bundle (`servicerequest-response`) from the stored original request — the
 * Bundle as we acknowledged it, with our ids and our planned Encounter — and the event that calls for it.
 *
 * MessageHeader rules (Core Message-Headers page, spec §5.2/§8): eventCoding servicerequest-response; reason new
 * (update for a full validation response after an interim one, APP4 How-does-it-work); focus = our current
 * Encounter (APP4/APP6) or the ServiceRequest (APP1 DNA, example REFRESP01); definition = the response
 * MessageDefinition; destination.endpoint = the original MessageHeader.source.endpoint ("could be used as a
 * NHSD-Target-Identifier … to send an asynchronous response"); source.endpoint = our DoS service;
 * response = {identifier: original Bundle.id, code: ok} ("with the Bundle.id of the original request payload").
 * Resources follow the definition's cardinalities (definitions.ts). Receiver ids are kept, as the sender knows them.
 */
import { randomUUID } from 'node:crypto';
import { BundleIndex } from '../../protocol/bars/bundle.js';
import { SYSTEMS, sameSystem, splitToken } from '../../protocol/bars/codes.js';
import type { Bundle, BundleEntry, Resource, StoredMessage } from '../../protocol/bars/types.js';
import { RESPONSE_DEFINITIONS, type ResponseDefinition } from './definitions.js';
import { REJECTED_REASONS, type EncounterStatus, type RejectedReason, type ResponseEvent, type ResponseKind } from '../../protocol/bars/response-events.js';

export const BUNDLE_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage';
export const HEADER_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response';
export const REJECTED_REASONS_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/rejected-reasons-bars';
export const ENCOUNTER_REASON_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-reason-encounter';
const SOFTWARE = { name: 'bars-bridge', version: '0.1.0' };

/** What the builder needs to know about us (a subset of config.service). */
export interface ResponderService {
  readonly ids: readonly string[];
  readonly odsCode: string;
  readonly name: string;
  readonly referenceSystem: string;
}

export interface BuildInput {
  readonly kind: ResponseKind;
  readonly event: ResponseEvent;
  /** The stored request the response answers. */
  readonly original: StoredMessage;
  /** Kinds of the responses queued before this one for the same conversation, oldest first (decides reason). */
  readonly previous: readonly ResponseKind[];
  /** The booked Appointment (DNA feedback) when it is not in the original Bundle: read from the store by the caller. */
  readonly appointment?: Resource;
  readonly service: ResponderService;
  readonly now: Date;
  /** Bundle.id of the response; a fresh UUID when absent. */
  readonly bundleId?: string;
}

/** The response cannot be built from what we hold: permanent, never retried. */
export class ResponseBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResponseBuildError';
  }
}

interface Entry {
  fullUrl: string;
  resource: Resource;
}

const clone = <T>(v: T): T => structuredClone(v);

/**
 * The Encounter status the event puts ours in, and its reasonCode (APP4 Payloads-for-Responders, APP6 REFRESP02).
 * A validation response carries reasonCode `validation-triage-outcome` whatever reported the change — the
 * validation events, or the PAS's own Encounter changes (REF^I13, A03) that the validation-encounter-* rules answer —
 * as NHS England's VALRESP01A/01B do.
 */
export function encounterChange(event: ResponseEvent, kind: ResponseKind): { status: EncounterStatus; reasonCode?: unknown[] } | undefined {
  const rejected = (code: RejectedReason, text?: string): unknown[] => [
    { coding: [{ system: REJECTED_REASONS_SYSTEM, code, display: REJECTED_REASONS[code] }], ...(text ? { text } : {}) },
  ];
  const triage: unknown[] = [{ coding: [{ system: ENCOUNTER_REASON_SYSTEM, code: 'validation-triage-outcome', display: 'Validation of triage outcome' }] }];
  switch (event.type) {
    case 'encounter-status-changed':
      if (event.to === 'cancelled') {
        return { status: 'cancelled', reasonCode: rejected(event.reasonCode ?? 'OTH', event.reasonText) };
      }
      return kind === 'validation-interim' || kind === 'validation-full' ? { status: event.to, reasonCode: triage } : { status: event.to };
    case 'validation-picked-up':
      return { status: 'in-progress', reasonCode: triage };
    case 'validation-rejected':
      return { status: 'cancelled', reasonCode: rejected(event.reasonCode, event.reasonText) };
    case 'validation-completed':
      return { status: 'finished', reasonCode: triage };
    case 'delivery-failed':
      return { status: 'cancelled', reasonCode: rejected('OTH', event.reasonText ?? 'The referral could not be processed by the receiving service') };
    case 'appointment-no-show':
      return undefined;
  }
}

function isOurEncounter(r: Resource, original: StoredMessage, referenceSystem: string): boolean {
  if (r.resourceType !== 'Encounter') {return false;}
  if (original.encounterId && r.id === original.encounterId) {return true;}
  const ids = (Array.isArray(r.identifier) ? r.identifier : []) as Array<{ system?: string }>;
  return ids.some((i) => sameSystem(i.system, referenceSystem));
}

/**
 * Removes references to `urn:uuid:` entries that are not in the response (a copied resource may point at one we leave
 * out). A repeating backbone element that loses its reference goes with it (e.g. Encounter.location[].location is
 * required inside its element), so the result stays valid FHIR. Returns true when `node` itself must be removed.
 */
function pruneDangling(node: unknown, fullUrls: ReadonlySet<string>, inArray = false): boolean {
  if (Array.isArray(node)) {
    for (let i = node.length - 1; i >= 0; i--) {
      if (pruneDangling(node[i], fullUrls, true)) {node.splice(i, 1);}
    }
    return false;
  }
  if (!node || typeof node !== 'object') {return false;}
  const obj = node as Record<string, unknown>;
  if (typeof obj.reference === 'string' && obj.reference.startsWith('urn:uuid:') && !fullUrls.has(obj.reference)) {
    if (typeof obj.display === 'string') {
      delete obj.reference;
      return false;
    }
    return true;
  }
  let lost = false;
  for (const [key, value] of Object.entries(obj)) {
    if (value && typeof value === 'object') {
      if (pruneDangling(value, fullUrls)) {
        delete obj[key];
        lost = true;
      } else if (Array.isArray(value) && value.length === 0) {
        delete obj[key];
      }
    }
  }
  return lost && inArray;
}

/** The DoS service we answer for: the one the request was sent to, else our first. */
export function ourServiceId(original: StoredMessage, service: ResponderService): string {
  const sent = original.destinationEndpoint ? splitToken(original.destinationEndpoint).value : undefined;
  return sent && service.ids.includes(sent) ? sent : service.ids[0]!;
}

/** The entries of a response Bundle as they are gathered from the original message: each resource once, copied. */
class ResponseEntries {
  readonly entries: Entry[] = [];
  private readonly added = new Set<Resource>();

  constructor(
    readonly index: BundleIndex,
    readonly at: string,
  ) {}

  fullUrlOf(r: Resource): string {
    return this.index.fullUrlOf(r) ?? `urn:uuid:${r.id ?? randomUUID()}`;
  }

  /** Adds a copy of `r` (edited), unless it is already in; the new entry, or undefined. */
  add(r: Resource | undefined, edit?: (copy: Resource) => void): Entry | undefined {
    if (!r || this.added.has(r)) {return undefined;}
    this.added.add(r);
    const copy = clone(r);
    edit?.(copy);
    const entry = { fullUrl: this.fullUrlOf(r), resource: copy };
    this.entries.push(entry);
    return entry;
  }

  touch(copy: Resource): void {
    copy.meta = { ...(copy.meta ?? {}), lastUpdated: this.at };
  }
}

/** ServiceRequest (the record the response is about; DNA feedback closes it, REFRESP01: status revoked) and Patient. */
function addRecord(input: BuildInput, def: ResponseDefinition, b: ResponseEntries): { serviceRequest: Resource; srEntry: Entry; patient: Resource } {
  const serviceRequest = b.index.all('ServiceRequest').find((r) => r.id === input.original.recordId) ?? b.index.first('ServiceRequest');
  if (!serviceRequest) {
    throw new ResponseBuildError('the original message holds no ServiceRequest');
  }
  const srEntry = b.add(serviceRequest, (copy) => {
    copy.meta = { ...(copy.meta ?? {}), profile: [def.serviceRequestProfile] };
    if (input.kind === 'referral-dna') {
      copy.status = 'revoked';
      b.touch(copy);
    }
  })!;
  const patient = b.index.resolve(serviceRequest.subject) ?? b.index.first('Patient');
  if (!patient) {
    throw new ResponseBuildError('the original message holds no Patient');
  }
  b.add(patient);
  return { serviceRequest, srEntry, patient };
}

/** Encounters: the sender's (the one the ServiceRequest names) and, where the definition has it, ours (changed). */
function addEncounters(input: BuildInput, def: ResponseDefinition, b: ResponseEntries, serviceRequest: Resource): Entry | undefined {
  const ourOriginal = b.index.all('Encounter').find((r) => isOurEncounter(r, input.original, input.service.referenceSystem));
  const theirs = b.index.resolve<Resource>(serviceRequest.encounter) ?? b.index.all('Encounter').find((r) => r !== ourOriginal);
  b.add(theirs);
  if (!def.ourEncounter) {
    return undefined;
  }
  if (!ourOriginal) {
    throw new ResponseBuildError('the original message holds no receiver Encounter (the planned Encounter of the acknowledgement)');
  }
  const change = encounterChange(input.event, input.kind);
  return b.add(ourOriginal, (copy) => {
    if (change) {
      copy.status = change.status;
      if (change.reasonCode) {copy.reasonCode = change.reasonCode;}
      else {delete copy.reasonCode;}
    }
    b.touch(copy);
  });
}

/** Organizations: who we answer (the original sender) and us (the original receiver, or made from our settings). */
function addOrganizations(input: BuildInput, b: ResponseEntries, header: Resource | undefined): { them: Entry | undefined; us: Entry } {
  const senderOrg = b.index.resolve(header?.sender);
  if (!senderOrg || senderOrg.resourceType !== 'Organization') {
    throw new ResponseBuildError('the original MessageHeader.sender does not resolve to an Organization');
  }
  const destination = (Array.isArray(header?.destination) ? header.destination[0] : undefined) as { receiver?: unknown } | undefined;
  const usOrg = b.index.resolve(destination?.receiver);
  const usEntry = usOrg?.resourceType === 'Organization' ? b.add(usOrg) : undefined;
  const them = b.add(senderOrg) ?? b.entries.find((e) => e.resource === senderOrg);
  const us: Entry =
    usEntry ??
    (() => {
      const made: Resource = {
        resourceType: 'Organization',
        id: randomUUID(),
        meta: { lastUpdated: b.at, profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Organization'] },
        identifier: [{ system: SYSTEMS.odsOrganizationCode, value: input.service.odsCode }],
        name: input.service.name,
      };
      const e = { fullUrl: `urn:uuid:${made.id}`, resource: made };
      b.entries.push(e);
      return e;
    })();
  for (const org of b.index.all('Organization')) {b.add(org);}
  for (const r of b.index.all('PractitionerRole')) {b.add(r);}
  for (const r of b.index.all('Practitioner')) {b.add(r);}
  return { them, us };
}

/** The rest of the request content, for the definitions that carry it (REFRESP01, VALRESP01B echo it). */
function addCarried(input: BuildInput, def: ResponseDefinition, b: ResponseEntries, serviceRequest: Resource): void {
  // HealthcareService: the one the ServiceRequest was performed by, when the definition wants exactly one.
  if ((def.resources.HealthcareService?.min ?? 0) > 0) {
    const performers = (Array.isArray(serviceRequest.performer) ? serviceRequest.performer : []) as unknown[];
    const hs = performers.map((p) => b.index.resolve(p)).find((r) => r?.resourceType === 'HealthcareService') ?? b.index.first('HealthcareService');
    b.add(hs);
  }
  const carried = ['CarePlan', 'Location', 'Observation', 'Flag', 'MedicationStatement', 'AllergyIntolerance', 'QuestionnaireResponse', 'Consent', 'Condition', 'Task', 'RelatedPerson'];
  for (const type of carried) {
    const card = def.resources[type];
    if (!card) {continue;}
    let candidates = b.index.all(type);
    if (type === 'Location') {
      // The incident location (BARSLocation-incident-location / type ILOC) first.
      candidates = [...candidates].sort((x, y) => Number(isIncident(y)) - Number(isIncident(x)));
    }
    for (const r of candidates.slice(0, card.max ?? candidates.length)) {
      b.add(r, type === 'CarePlan' && input.event.type === 'validation-completed' ? (copy) => editCarePlan(copy, input.event, b.at) : undefined);
    }
  }
  // Appointment: DNA feedback marks the booking `noshow` (REFRESP01).
  if (input.kind === 'referral-dna') {
    const appointment = input.appointment ?? b.index.first('Appointment');
    if (appointment) {
      const e = b.add(appointment, (copy) => {
        copy.status = 'noshow';
        b.touch(copy);
      });
      if (e && !b.index.fullUrlOf(appointment)) {e.fullUrl = `urn:uuid:${appointment.id}`;}
    }
  }
}

/** Builds the response Bundle. Throws ResponseBuildError when the stored message lacks what the definition needs. */
export function buildResponse(input: BuildInput): Bundle {
  const def: ResponseDefinition = RESPONSE_DEFINITIONS[input.kind];
  const { original, service } = input;
  const at = input.event.at ?? input.now.toISOString();
  const b = new ResponseEntries(new BundleIndex(original.bundle), at);
  const header = b.index.entries[0]?.resource;
  if (!original.sourceEndpoint) {
    throw new ResponseBuildError('the original request has no MessageHeader.source.endpoint to respond to');
  }
  const { serviceRequest, srEntry, patient } = addRecord(input, def, b);
  const ourEntry = addEncounters(input, def, b, serviceRequest);
  const orgs = addOrganizations(input, b, header);
  addCarried(input, def, b, serviceRequest);
  fillMinimums(def, b.entries, { service, serviceId: ourServiceId(original, service), ourOrg: orgs.us, patientUrl: b.fullUrlOf(patient), at });

  const focus = def.focus === 'Encounter' ? ourEntry! : srEntry;
  const reason = input.kind === 'validation-full' && input.previous.includes('validation-interim') ? 'update' : 'new';
  const messageHeader: Resource = {
    resourceType: 'MessageHeader',
    id: randomUUID(),
    meta: { lastUpdated: at, profile: [HEADER_PROFILE] },
    ...(Array.isArray(header?.extension) ? { extension: clone(header.extension) } : {}),
    eventCoding: { system: SYSTEMS.messageEvents, code: 'servicerequest-response' },
    destination: [{ endpoint: original.sourceEndpoint, receiver: { reference: orgs.them!.fullUrl } }],
    sender: { reference: orgs.us.fullUrl },
    source: { name: service.name, software: SOFTWARE.name, version: SOFTWARE.version, endpoint: `${SYSTEMS.dosServiceId}|${ourServiceId(original, service)}` },
    reason: { coding: [{ system: SYSTEMS.messageReason, code: reason }] },
    response: { identifier: original.bundleId, code: 'ok' },
    focus: [{ reference: focus.fullUrl }],
    definition: def.url,
  };
  const headerUrl = `urn:uuid:${messageHeader.id}`;
  const all: BundleEntry[] = [{ fullUrl: headerUrl, resource: messageHeader }, ...b.entries.map((e) => ({ fullUrl: e.fullUrl, resource: e.resource }))];
  const fullUrls = new Set(all.map((e) => e.fullUrl!));
  for (const e of b.entries) {pruneDangling(e.resource, fullUrls);}
  return {
    resourceType: 'Bundle',
    id: input.bundleId ?? randomUUID(),
    meta: { versionId: original.bundle.meta?.versionId ?? '1.0.0', lastUpdated: at, profile: [BUNDLE_PROFILE] },
    type: 'message',
    timestamp: at,
    entry: all,
  };
}

function isIncident(r: Resource): boolean {
  const profiles = r.meta?.profile ?? [];
  const types = JSON.stringify(r.type ?? '');
  return profiles.some((p) => /incident/i.test(p)) || types.includes('"ILOC"');
}

function editCarePlan(copy: Resource, event: ResponseEvent, at: string): void {
  if (event.type !== 'validation-completed') {return;}
  // "CarePlan complete (no further action) or active (action required)" (APP4 Payloads-for-Responders).
  copy.status = event.carePlanStatus;
  if (event.outcomeText) {copy.description = event.outcomeText;}
  copy.meta = { ...(copy.meta ?? {}), lastUpdated: at };
}

/**
 * Fills minimum cardinalities the original request did not meet with resources that describe us (our
 * PractitionerRole/Practitioner for the responding service, our HealthcareService) or with the only Consent the
 * standard supports (patient-privacy / DRC Direct Care / IMPLIED). Anything else missing is a build error.
 */
function fillMinimums(
  def: ResponseDefinition,
  entries: Entry[],
  ctx: { service: ResponderService; serviceId: string; ourOrg: Entry; patientUrl: string; at: string },
): void {
  const count = (type: string): number => entries.filter((e) => e.resource.resourceType === type).length;
  const push = (resource: Resource): Entry => {
    const e = { fullUrl: `urn:uuid:${resource.id}`, resource };
    entries.push(e);
    return e;
  };
  const meta = (profile: string): Resource['meta'] => ({ lastUpdated: ctx.at, profile: [`https://fhir.hl7.org.uk/StructureDefinition/${profile}`] });
  const need = (type: string): boolean => count(type) < (def.resources[type]?.min ?? 0);
  if (need('Practitioner') || need('PractitionerRole')) {
    const practitioner = push({ resourceType: 'Practitioner', id: randomUUID(), meta: meta('UKCore-Practitioner'), name: [{ text: ctx.service.name }] });
    push({
      resourceType: 'PractitionerRole',
      id: randomUUID(),
      meta: meta('UKCore-PractitionerRole'),
      practitioner: { reference: practitioner.fullUrl },
      organization: { reference: ctx.ourOrg.fullUrl },
    });
  }
  if (need('HealthcareService')) {
    push({
      resourceType: 'HealthcareService',
      id: randomUUID(),
      meta: meta('UKCore-HealthcareService'),
      identifier: [{ system: SYSTEMS.dosServiceId, value: ctx.serviceId }],
      providedBy: { reference: ctx.ourOrg.fullUrl },
      name: ctx.service.name,
    });
  }
  if (need('Consent')) {
    push({
      resourceType: 'Consent',
      id: randomUUID(),
      meta: meta('UKCore-Consent'),
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: SYSTEMS.consentCategories, code: 'DRC', display: 'Direct Care' }] }],
      patient: { reference: ctx.patientUrl },
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMPLIED' }] },
    });
  }
  const missing = Object.entries(def.resources)
    .filter(([type, card]) => type !== 'MessageHeader' && count(type) < card.min)
    .map(([type, card]) => `${type} (${count(type)} of min ${card.min})`);
  if (missing.length > 0) {
    throw new ResponseBuildError(`the original message lacks resources ${def.url.split('/').pop()} requires: ${missing.join(', ')}`);
  }
}
