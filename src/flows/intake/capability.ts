/*
 * The CapabilityStatement of this instance, generated from what it supports ("Any given endpoint will describe its
 * full capabilities as a client and as a server", API spec; example API:ex14/metadata). Senders cache it ≤ 24 h.
 */
import type { Config } from '../../config/schema.js';
import { DEFINITIONS, definitionCoversUseCase } from '../../protocol/bars/definitions.js';

export const SOFTWARE_VERSION = '0.1.0';

export function capabilityStatement(config: Readonly<Config>, now: Date): Record<string, unknown> {
  const supported = DEFINITIONS.filter((d) => config.bars.useCases.some((u) => definitionCoversUseCase(d, u)));
  const token = (name: string, documentation: string): Record<string, string> => ({ name, type: 'token', documentation });
  return {
    resourceType: 'CapabilityStatement',
    id: 'bars-bridge',
    url: `${config.service.baseUrl}/metadata`,
    version: SOFTWARE_VERSION,
    name: 'BarsBridgeReceiver',
    title: `${config.service.name} BaRS receiver`,
    status: 'active',
    date: now.toISOString(),
    publisher: config.service.name,
    description: 'BaRS receiver that delivers bookings and referrals to HL7 v2 and flat-file systems.',
    kind: 'instance',
    software: { name: 'bars-bridge', version: SOFTWARE_VERSION },
    implementation: { description: config.service.name, url: config.service.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/fhir+xml'],
    rest: [
      {
        mode: 'server',
        security: {
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'Certificates' }] }],
          description: 'Mutual TLS with the BaRS API proxy; access control on the NHSD-* headers.',
        },
        resource: [
          {
            type: 'ServiceRequest',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              token('patient:identifier', 'NHS number as https://fhir.nhs.uk/Id/nhs-number|<nhs number>'),
              { name: 'patient:name', type: 'string', documentation: 'Patient family name' },
              { name: 'patient:birthdate', type: 'date', documentation: 'Patient date of birth' },
              { name: 'patient:address-postalcode', type: 'string', documentation: 'Patient postcode' },
              token('identifier', 'ServiceRequest business identifier system|value'),
            ],
          },
          {
            type: 'Appointment',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              token('patient:identifier', 'NHS number as https://fhir.nhs.uk/Id/nhs-number|<nhs number>'),
              { name: 'patient:name', type: 'string' },
              { name: 'patient:birthdate', type: 'date' },
              { name: 'patient:address-postalcode', type: 'string' },
            ],
          },
          ...(config.slots.length > 0
            ? [
                {
                  type: 'Slot',
                  interaction: [{ code: 'search-type' }],
                  searchInclude: SLOT_INCLUDES,
                  searchParam: [
                    token('status', 'free, busy or both, comma separated'),
                    { name: 'start', type: 'date', documentation: 'Twice: ge<instant with offset> and le<instant with offset>' },
                    { name: 'Schedule.actor:HealthcareService', type: 'reference' },
                  ],
                },
              ]
            : []),
          { type: 'MessageDefinition', interaction: [{ code: 'search-type' }], searchParam: [token('context', 'dos-service-id and use case')] },
        ],
        operation: [{ name: 'process-message', definition: 'http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message' }],
      },
    ],
    messaging: [
      {
        documentation: 'All messages are processed synchronously; asynchronous responses are sent through the BaRS API proxy.',
        supportedMessage: [
          ...supported.filter((d) => d.category === 'notification').map((d) => ({ mode: 'receiver', definition: d.url })),
          ...supported.filter((d) => d.category === 'consequence').map((d) => ({ mode: 'sender', definition: d.url })),
        ],
      },
    ],
  };
}

export const SLOT_INCLUDES = [
  'Slot:schedule',
  'Schedule:actor:HealthcareService',
  'Schedule:actor:Practitioner',
  'Schedule:actor:PractitionerRole',
  'HealthcareService:providedBy',
  'HealthcareService:location',
] as const;
