/*
 * GET /MessageDefinition?context=… — the definitions this service takes, for one DoS service and optionally one use
 * case. "context … preferred system|value … plain value should be accepted and honoured" (API spec); failure table
 * GET--MessageDefinition: no context → 400 required, malformed → 400 invalid, no results → 404 not-found.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { SYSTEMS, USE_CASE_CODES, sameSystem, splitToken } from './codes.js';
import { DEFINITIONS, definitionCoversUseCase, type DefinitionInfo } from './definitions.js';
import { badRequest, notFound } from './errors.js';

const USAGE_CONTEXT_TYPE = 'http://terminology.hl7.org/CodeSystem/usage-context-type';
const VARIANT_STATE = 'http://terminology.hl7.org/CodeSystem/variant-state';

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
    focus: def.focus.map((f) => ({ code: f.code, min: f.min, max: f.max === undefined ? '*' : String(f.max) })),
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
  for (const raw of contexts) {
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
  const useCases = useCase ? config.bars.useCases.filter((u) => u === useCase) : config.bars.useCases;
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
