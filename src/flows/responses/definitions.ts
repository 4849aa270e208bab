/*
 * The four response MessageDefinitions as data: canonical URL, resource cardinalities (IG MessageDefinition/*.xml at
 * the snapshot of spec §5.4 — read from the XML, not from the examples), what MessageHeader.focus points at, and
 * which resources of the original request are carried back. Cardinalities drive both the builder and the check.
 */
import type { ResponseKind } from '../../protocol/bars/response-events.js';
import { DEFINITIONS } from '../../protocol/bars/definitions.js';

/*
 * The URLs come from the receiver's table (src/protocol/bars/definitions.ts), the one list of MessageDefinitions. The
 * cardinalities here are the published ones in full: what we send must meet them, whereas what we accept is checked
 * more leniently there, because NHS England's own examples omit some minimum resources.
 */
const urlOf = (name: string): string => {
  const found = DEFINITIONS.find((d) => d.name === name);
  if (!found) {
    throw new Error(`no MessageDefinition ${name}`);
  }
  return found.url;
};

export interface Cardinality {
  readonly min: number;
  /** undefined = '*' */
  readonly max?: number;
}

export interface ResponseDefinition {
  readonly kind: ResponseKind;
  readonly url: string;
  /** ServiceRequest profile of the definition (referral or validation). */
  readonly serviceRequestProfile: string;
  /** `message-category-servicerequest` code, for the use-context header. */
  readonly category: 'referral' | 'validation';
  /** MessageHeader.focus: "the Responder's current Encounter" (APP4/APP6), the ServiceRequest for APP1 DNA (REFRESP01). */
  readonly focus: 'Encounter' | 'ServiceRequest';
  /** Whether our (the receiver's) Encounter is part of the response. */
  readonly ourEncounter: boolean;
  readonly resources: Readonly<Record<string, Cardinality>>;
}

const c = (min: number, max?: number): Cardinality => ({ min, max });
const REFERRAL_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral';
const VALIDATION_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-validation';

export const RESPONSE_DEFINITIONS: Readonly<Record<ResponseKind, ResponseDefinition>> = {
  'referral-dna': {
    kind: 'referral-dna',
    url: urlOf('bars-message-servicerequest-response-referral'),
    serviceRequestProfile: REFERRAL_PROFILE,
    category: 'referral',
    focus: 'ServiceRequest',
    // Encounter 0..1 and the sender's Encounter is the one the referral is about (REFRESP01 carries only it).
    ourEncounter: false,
    resources: {
      MessageHeader: c(1, 1), ServiceRequest: c(1, 1), Patient: c(1, 1), Encounter: c(0, 1), CarePlan: c(0, 1), Location: c(0, 1),
      Organization: c(2), Practitioner: c(1), PractitionerRole: c(1), Observation: c(0), Flag: c(0), MedicationStatement: c(0),
      AllergyIntolerance: c(0), QuestionnaireResponse: c(0), Consent: c(1), HealthcareService: c(1, 1), Appointment: c(0, 1),
      Condition: c(0), Task: c(0), RelatedPerson: c(0),
    },
  },
  'referral-status': {
    kind: 'referral-status',
    url: urlOf('bars-message-servicerequest-response-referral-short'),
    serviceRequestProfile: REFERRAL_PROFILE,
    category: 'referral',
    focus: 'Encounter',
    ourEncounter: true,
    resources: {
      MessageHeader: c(1, 1), ServiceRequest: c(1, 1), Patient: c(1, 1), Encounter: c(2, 2), Organization: c(2), Practitioner: c(1),
      PractitionerRole: c(1), HealthcareService: c(0),
    },
  },
  'validation-interim': {
    kind: 'validation-interim',
    url: urlOf('bars-message-servicerequest-response-validation-interim'),
    serviceRequestProfile: VALIDATION_PROFILE,
    category: 'validation',
    focus: 'Encounter',
    ourEncounter: true,
    resources: {
      MessageHeader: c(1, 1), ServiceRequest: c(1, 1), Patient: c(1, 1), Encounter: c(2, 2), Organization: c(1), Practitioner: c(1),
      PractitionerRole: c(1), HealthcareService: c(0),
    },
  },
  'validation-full': {
    kind: 'validation-full',
    url: urlOf('bars-message-servicerequest-response-validation-full'),
    serviceRequestProfile: VALIDATION_PROFILE,
    category: 'validation',
    focus: 'Encounter',
    ourEncounter: true,
    resources: {
      MessageHeader: c(1, 1), ServiceRequest: c(1, 1), Patient: c(1, 1), Encounter: c(2, 3), CarePlan: c(1, 1), Location: c(1, 1),
      Organization: c(2), Practitioner: c(1), PractitionerRole: c(1), Observation: c(0), Flag: c(0), Consent: c(1),
      MedicationStatement: c(0), AllergyIntolerance: c(0), HealthcareService: c(1, 1),
    },
  },
};
