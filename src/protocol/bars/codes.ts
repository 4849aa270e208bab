/*
 * Code systems and codes of the standard that the receiver reads (BaRS IG CodeSystem/*.xml, spec §5).
 * System URLs are compared case-insensitively: the published examples mix `Id`/`id` and `http`/`https` (spec §13.5).
 */

export const SYSTEMS = {
  messageEvents: 'https://fhir.nhs.uk/CodeSystem/message-events-bars',
  messageReason: 'https://fhir.nhs.uk/CodeSystem/message-reason-bars',
  useCases: 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars',
  serviceRequestCategory: 'https://fhir.nhs.uk/CodeSystem/message-category-servicerequest',
  consentCategories: 'https://fhir.nhs.uk/CodeSystem/consent-categories-bars',
  contactRank: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ContactRank',
  dosServiceId: 'https://fhir.nhs.uk/Id/dos-service-id',
  odsOrganizationCode: 'https://fhir.nhs.uk/Id/ods-organization-code',
  nhsNumber: 'https://fhir.nhs.uk/Id/nhs-number',
  locationExtension: 'https://fhir.nhs.uk/StructureDefinition/LocationExtension',
} as const;

/** MessageHeader.eventCoding codes (CodeSystem message-events-bars 1.0.0). */
export const EVENT_CODES = ['servicerequest-request', 'servicerequest-response', 'booking-request', 'booking-response'] as const;
export type EventCode = (typeof EVENT_CODES)[number];

/** MessageHeader.reason codes (CodeSystem message-reason-bars 1.1.0). */
export const REASON_CODES = ['new', 'update', 'delete'] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

/** Every code of usecases-categories-bars (IG CodeSystem/usecases-categories-bars.xml). */
export const USE_CASE_CODES = [
  'a1t1', 'a1t2', 'a1t3', 'a1t4', 'a1t5', 'a1t6', 'a1t7', 'a1t8', 'a1t9', 'a1t10', 'a1t11', 'a1t12',
  'a2t1', 'a2t2', 'a2t3', 'a2t4', 'a2t5', 'a2t6',
  'a3t1',
  'a4t1', 'a4t2', 'a4t3', 'a4t4',
  'a5t1', 'a5t2', 'a5t3', 'referraltopharmacy',
  'a6t1', 'a6t2', 'a6t3',
  'a7t1',
  'a8t1', 'a8t2', 'a8t3',
] as const;

/** Case-insensitive equality of code system URLs, tolerant of the http/https mix in published examples. */
export function sameSystem(a: string | undefined, b: string): boolean {
  if (a === undefined) {
    return false;
  }
  const norm = (s: string): string => s.toLowerCase().replace(/^http:/, 'https:');
  return norm(a) === norm(b);
}

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}

/** Codings of a CodeableConcept (or an array of them) in the given system. */
export function codingsIn(concepts: unknown, system: string): Coding[] {
  const list = Array.isArray(concepts) ? concepts : [concepts];
  const out: Coding[] = [];
  for (const concept of list) {
    const codings = (concept as { coding?: Coding[] } | undefined)?.coding;
    if (Array.isArray(codings)) {
      out.push(...codings.filter((c) => sameSystem(c?.system, system)));
    }
  }
  return out;
}

/** Splits `system|value` (MessageHeader endpoints, search tokens) into its parts. */
export function splitToken(token: string): { system: string | undefined; value: string } {
  const bar = token.indexOf('|');
  return bar < 0 ? { system: undefined, value: token } : { system: token.slice(0, bar), value: token.slice(bar + 1) };
}
