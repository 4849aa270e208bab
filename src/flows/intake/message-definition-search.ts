/*
 * GET /MessageDefinition?context=… — the definitions this service takes, for one DoS service and optionally one use
 * case. "context … preferred system|value … plain value should be accepted and honoured" (API spec); failure table
 * GET--MessageDefinition: no context → 400 required, malformed → 400 invalid, no results → 404 not-found.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config/schema.js';
import { SYSTEMS, USE_CASE_CODES, sameSystem, splitToken } from '../../protocol/bars/codes.js';
import { DEFINITIONS, definitionCoversUseCase, type DefinitionInfo } from '../../protocol/bars/definitions.js';
import { badRequest, notFound } from '../../protocol/bars/errors.js';

const USAGE_CONTEXT_TYPE = 'http://terminology.hl7.org/CodeSystem/usage-context-type';
const VARIANT_STATE = 'http://terminology.hl7.org/CodeSystem/variant-state';

/** Profiles of the focus resources, from the published MessageDefinitions (IG MessageDefinition/*.xml). */
const FOCUS_PROFILES: Record<string, string> = {
  MessageHeader: 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-request',
  ServiceRequest: 'https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral',
  Device: 'http://hl7.org/fhir/StructureDefinition/Device',
  Flag: 'https://fhir.nhs.uk/StructureDefinition/BARSFlag-scene-safety',
};
const profileOf = (code: string): string => FOCUS_PROFILES[code] ?? `https://fhir.hl7.org.uk/StructureDefinition/UKCore-${code}`;

/**
 * The optional focus resources BARS-MessageDefinition-ServiceRequest-Request-Referral publishes beyond the ones the
 * receiver enforces (definitions.ts). Senders build payloads from this list — TKW's CAD-to-CAD MessageDefinition
 * schedules look for the UKCore-Procedure and UKCore-Communication focus profiles — so it is advertised in full.
 */
const REFERRAL_OPTIONAL = ['Location', 'Organization', 'Practitioner', 'PractitionerRole', 'Observation', 'Flag', 'MedicationStatement',
  'AllergyIntolerance', 'Questionnaire', 'QuestionnaireResponse', 'Consent', 'HealthcareService', 'Condition', 'Task', 'Communication',
  'Procedure', 'RelatedPerson'];

function advertisedFocus(def: DefinitionInfo): Array<Record<string, unknown>> {
  const focus = def.focus.map((f) => ({ code: f.code, profile: profileOf(f.code), min: f.min, max: f.max === undefined ? '*' : String(f.max) }));
  if (def.name === 'bars-message-servicerequest-request-referral') {
    for (const code of REFERRAL_OPTIONAL.filter((c) => !def.focus.some((f) => f.code === c))) {
      focus.push({ code, profile: profileOf(code), min: 0, max: '*' });
    }
  }
  return focus;
}

function toResource(def: DefinitionInfo, serviceId: string, useCases: readonly string[], now: string): Record<string, unknown> {
  const cases = useCases.filter((u) => definitionCoversUseCase(def, u));
  return {
    resourceType: 'MessageDefinition',
    id: def.name,
    meta: { lastUpdated: now },
    url: def.url,
    version: def.version,
    name: def.name.replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase()),
    title: def.title,
    status: 'active',
    date: now,
    // Both forms of the service useContext: TKW checks the older `variant-state` form and the newer
    // `usage-context-type` form ("Message Definitions returning incorrect 'useContext'", TKW change log).
    useContext: [
      { code: { system: SYSTEMS.dosServiceId, code: serviceId }, valueCodeableConcept: { coding: [{ system: VARIANT_STATE, code: 'active' }] } },
      { code: { system: USAGE_CONTEXT_TYPE, code: 'workflow' }, valueCodeableConcept: { coding: [{ system: SYSTEMS.dosServiceId, code: serviceId }] } },
      {
        code: { system: USAGE_CONTEXT_TYPE, code: 'workflow' },
        valueCodeableConcept: { coding: cases.map((code) => ({ system: SYSTEMS.useCases, code })) },
      },
    ],
    eventCoding: { system: SYSTEMS.messageEvents, code: def.event },
    category: def.category,
    focus: advertisedFocus(def),
  };
}

/**
 * Answers the search.
 * @param contexts - every `context` query value.
 */
export function searchMessageDefinitions(contexts: readonly string[], config: Readonly<Config>, now: Date): Record<string, unknown> {
  if (contexts.length === 0) {
    throw badRequest('required', 'The context parameter is required: context=https://fhir.nhs.uk/Id/dos-service-id|<service id>', 'context');
  }
  let serviceId: string | undefined;
  let useCase: string | undefined;
  // NHS England's TKW suite (1.0.19, *_context_usecasecode_GetMessageDefinition) URL-encodes the separator between
  // its two context parameters (`context=…|a1t1%26context=…|2000072489`), so they arrive as one value; a value holding
  // "&context=" is read as the two parameters it was meant to be (IG: plain values "should be accepted and honoured").
  const values = contexts.flatMap((c) => c.split('&context='));
  for (const raw of values) {
    const { system, value } = splitToken(raw.trim());
    if (value === '') {
      throw badRequest('invalid', 'A context parameter has no value', 'context');
    }
    if (system === undefined) {
      // A plain value: a use-case code or a DoS service id (numeric).
      if ((USE_CASE_CODES as readonly string[]).includes(value.toLowerCase())) {
        useCase = value.toLowerCase();
      } else if (/^\d{1,12}$/.test(value)) {
        serviceId = value;
      } else {
        throw badRequest('invalid', 'The context parameter must be system|value for a DoS service id or use case', 'context');
      }
    } else if (sameSystem(system, SYSTEMS.dosServiceId) || /dos-service-id$/i.test(system)) {
      serviceId = value;
    } else if (sameSystem(system, SYSTEMS.useCases) || /usecases?-categories-bars$/i.test(system)) {
      useCase = value.toLowerCase();
    } else {
      throw badRequest('invalid', `The context system ${system} is not a DoS service id or use-case system`, 'context');
    }
  }
  if (serviceId === undefined) {
    throw badRequest('required', 'A context for the DoS service id is required', 'context');
  }
  if (!config.service.ids.includes(serviceId)) {
    throw notFound(`No MessageDefinitions for service ${serviceId} at this receiver`);
  }
  // `referraltopharmacy` is the deprecated code of GP to Pharmacy, now a5t1–a5t3 (usecases-categories-bars; TKW
  // ReferralRequest_GPtoPharm_context_usecasecat_* still asks for it): it selects the a5 use cases.
  const useCases = useCase === 'referraltopharmacy'
    ? config.bars.useCases.filter((u) => u === useCase || u.startsWith('a5'))
    : useCase ? config.bars.useCases.filter((u) => u === useCase) : config.bars.useCases;
  const at = now.toISOString();
  const defs = DEFINITIONS.filter((d) => d.category === 'notification' && useCases.some((u) => definitionCoversUseCase(d, u)));
  if (defs.length === 0) {
    throw notFound(`No MessageDefinitions for use case ${useCase ?? ''} at service ${serviceId}`);
  }
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: at },
    type: 'searchset',
    total: defs.length,
    link: [{ relation: 'self', url: `${config.service.baseUrl}/MessageDefinition?${contexts.map((c) => `context=${encodeURIComponent(c)}`).join('&')}` }],
    entry: defs.map((d) => ({
      fullUrl: `${config.service.baseUrl}/MessageDefinition/${d.name}`,
      resource: toResource(d, serviceId!, useCases, at),
      search: { mode: 'match' },
    })),
  };
}
