/*
 * The MessageDefinitions this receiver supports, as one table that serves three purposes: GET /MessageDefinition,
 * CapabilityStatement.messaging.supportedMessage, and the resource-cardinality check of `$process-message`
 * ("payload conformance to MessageDefinitions is not checked as part of FHIR validation" — Message-Headers page; the
 * receiver checks it as business logic). Cardinalities: IG MessageDefinition/*.xml (spec §5.4).
 */
import type { Workflow } from './types.js';

const BASE = 'https://fhir.nhs.uk/MessageDefinition/';

export interface FocusRule {
  readonly code: string;
  readonly min: number;
  /** undefined = '*' */
  readonly max?: number;
}

export interface DefinitionInfo {
  readonly name: string;
  readonly url: string;
  readonly version: string;
  readonly title: string;
  readonly event: 'servicerequest-request' | 'servicerequest-response' | 'booking-request';
  readonly category: 'notification' | 'consequence';
  readonly workflows: readonly Workflow[];
  /** Use-case codes the definition applies to (prefix match: 'a1' covers a1t1…a1t12). */
  readonly useCasePrefixes: readonly string[];
  readonly focus: readonly FocusRule[];
}

const r = (code: string, min: number, max?: number): FocusRule => ({ code, min, max });

export const DEFINITIONS: readonly DefinitionInfo[] = [
  {
    name: 'bars-message-servicerequest-request-referral',
    url: `${BASE}bars-message-servicerequest-request-referral`,
    version: '1.0.0',
    title: 'BaRS referral request',
    event: 'servicerequest-request',
    category: 'notification',
    workflows: ['referral-new', 'referral-update'],
    useCasePrefixes: ['a1', 'a2', 'a3', 'a5', 'a6', 'a7', 'referraltopharmacy'],
    // Mins are enforced for the resources a receiver cannot do without; the rest of the published minimums are not,
    // because NHS England's own examples (REFREQ03/04, TKW "Basic" schedules) omit them.
    focus: [r('MessageHeader', 1, 1), r('ServiceRequest', 1, 1), r('Patient', 1, 1), r('Encounter', 1), r('CarePlan', 0, 1), r('Device', 0, 1)],
  },
  {
    name: 'bars-message-servicerequest-request-validation',
    url: `${BASE}bars-message-servicerequest-request-validation`,
    version: '1.1.0',
    title: 'BaRS validation request',
    event: 'servicerequest-request',
    category: 'notification',
    workflows: ['validation-new', 'validation-update'],
    useCasePrefixes: ['a4'],
    focus: [r('MessageHeader', 1, 1), r('ServiceRequest', 1, 1), r('Patient', 1, 1), r('Encounter', 1), r('CarePlan', 1, 1), r('Location', 1), r('HealthcareService', 0, 1)],
  },
  {
    name: 'bars-message-servicerequest-request-cancelled',
    url: `${BASE}bars-message-servicerequest-request-cancelled`,
    version: '1.0.0',
    title: 'BaRS referral or validation cancellation',
    event: 'servicerequest-request',
    category: 'notification',
    workflows: ['referral-cancel', 'validation-cancel'],
    useCasePrefixes: ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'referraltopharmacy'],
    focus: [r('MessageHeader', 1, 1), r('ServiceRequest', 1, 1), r('Patient', 0, 1)],
  },
  {
    name: 'bars-message-booking-request',
    url: `${BASE}bars-message-booking-request`,
    version: '1.0.0',
    title: 'BaRS booking request',
    event: 'booking-request',
    category: 'notification',
    workflows: ['booking-new', 'booking-update'],
    useCasePrefixes: ['a1', 'a2', 'a7'],
    focus: [r('MessageHeader', 1, 1), r('Appointment', 1, 1), r('Patient', 1, 1), r('Slot', 1, 1), r('Schedule', 0, 1), r('ServiceRequest', 0, 1)],
  },
  {
    name: 'bars-message-booking-request-cancelled',
    url: `${BASE}bars-message-booking-request-cancelled`,
    version: '1.0.0',
    title: 'BaRS booking cancellation',
    event: 'booking-request',
    category: 'notification',
    workflows: ['booking-cancel'],
    useCasePrefixes: ['a1', 'a2', 'a7'],
    focus: [r('MessageHeader', 1, 1), r('Appointment', 1, 1), r('Patient', 0, 1)],
  },
  {
    name: 'bars-message-servicerequest-response-referral',
    url: `${BASE}bars-message-servicerequest-response-referral`,
    version: '1.0.0',
    title: 'BaRS referral response (e.g. safeguarding did-not-attend feedback)',
    event: 'servicerequest-response',
    category: 'consequence',
    workflows: ['response-dna'],
    useCasePrefixes: ['a1', 'a2'],
    focus: [r('MessageHeader', 1, 1), r('ServiceRequest', 1, 1), r('Patient', 1, 1), r('Appointment', 0, 1)],
  },
  {
    name: 'bars-message-servicerequest-response-referral-short',
    url: `${BASE}bars-message-servicerequest-response-referral-short`,
    version: '1.0.0',
    title: 'BaRS referral status response (CAD to CAD)',
    event: 'servicerequest-response',
    category: 'consequence',
    workflows: ['response-referral'],
    useCasePrefixes: ['a6'],
    focus: [r('MessageHeader', 1, 1), r('ServiceRequest', 1, 1), r('Patient', 1, 1), r('Encounter', 1, 2)],
  },
  {
    name: 'bars-message-servicerequest-response-validation-interim',
    url: `${BASE}bars-message-servicerequest-response-validation-interim`,
    version: '1.1.0',
    title: 'BaRS interim validation response',
    event: 'servicerequest-response',
    category: 'consequence',
    workflows: ['response-validation-interim', 'response-validation-rejected'],
    useCasePrefixes: ['a4'],
    focus: [r('MessageHeader', 1, 1), r('ServiceRequest', 1, 1), r('Patient', 1, 1), r('Encounter', 1, 2)],
  },
  {
    name: 'bars-message-servicerequest-response-validation-full',
    url: `${BASE}bars-message-servicerequest-response-validation-full`,
    version: '1.1.0',
    title: 'BaRS full validation response',
    event: 'servicerequest-response',
    category: 'consequence',
    workflows: ['response-validation-final'],
    useCasePrefixes: ['a4'],
    focus: [r('MessageHeader', 1, 1), r('ServiceRequest', 1, 1), r('Patient', 1, 1), r('Encounter', 1, 3)],
  },
];

/** Published examples cite URLs that differ from the definitions' own (spec §13.7); these are read as the real one. */
const URL_ALIASES: Record<string, string> = {
  [`${BASE}bars-message-servicerequest-request-response-short`]: `${BASE}bars-message-servicerequest-response-referral-short`,
};

export function definitionForWorkflow(workflow: Workflow): DefinitionInfo {
  const found = DEFINITIONS.find((d) => d.workflows.includes(workflow));
  if (!found) {
    throw new Error(`no MessageDefinition for workflow ${workflow}`);
  }
  return found;
}

/** The known definition a MessageHeader.definition names (ignoring `|version`), or undefined when unknown. */
export function definitionByUrl(url: string): DefinitionInfo | undefined {
  const bare = url.split('|')[0]!.toLowerCase();
  const alias = Object.entries(URL_ALIASES).find(([k]) => k.toLowerCase() === bare)?.[1];
  const canonical = (alias ?? bare).toLowerCase();
  return DEFINITIONS.find((d) => d.url.toLowerCase() === canonical);
}

/** Whether the definition applies to the use case (usecases-categories-bars code, lower case). */
export function definitionCoversUseCase(def: DefinitionInfo, useCase: string): boolean {
  return def.useCasePrefixes.some((p) => useCase === p || (p.length === 2 && useCase.startsWith(`${p}t`)));
}
