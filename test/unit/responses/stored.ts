/*
 * Test helper: turns an NHS example request into a StoredMessage the way the receiver stores it (receiver ids on
 * every resource, our planned Encounter appended) without a running receiver.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { assignIds } from '../../../src/protocol/bars/receiver-ids.js';
import type { Bundle, StoredMessage, Workflow } from '../../../src/protocol/bars/types.js';
import type { ResponderService } from '../../../src/flows/responses/builder.js';
import { IG_EXAMPLES_DIR } from '../../external/nhs-material.js';

export const EXAMPLES = IG_EXAMPLES_DIR;
export const OUR_ID = '2000072489';
export const SERVICE: ResponderService = { ids: [OUR_ID], odsCode: 'X26', name: 'bars-bridge test', referenceSystem: 'https://bars-bridge.local/Id/reference' };

export function example(name: string): Bundle {
  return JSON.parse(readFileSync(`${EXAMPLES}/${name}.json`, 'utf8')) as Bundle;
}

export function storedFrom(name: string, workflow: Workflow, useCase: string): StoredMessage {
  const sent = example(name);
  const header = sent.entry![0]!.resource as unknown as { source: { endpoint: string }; destination: Array<{ endpoint: string }> };
  header.destination[0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${OUR_ID}`;
  const bundle = assignIds(sent, () => undefined);
  const encounterId = randomUUID();
  const patient = bundle.entry!.find((e) => e.resource?.resourceType === 'Patient')!;
  bundle.entry!.push({
    fullUrl: `urn:uuid:${encounterId}`,
    resource: {
      resourceType: 'Encounter',
      id: encounterId,
      meta: { lastUpdated: '2026-01-01T10:00:00.000Z', profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Encounter'] },
      identifier: [{ system: SERVICE.referenceSystem, value: 'BB-TEST0001' }],
      status: 'planned',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER', display: 'emergency' },
      subject: { reference: patient.fullUrl },
    },
  });
  const sr = bundle.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource!;
  return {
    id: randomUUID(),
    workflow,
    useCase,
    requestId: randomUUID(),
    correlationId: randomUUID(),
    bundleId: sent.id!,
    sourceEndpoint: header.source.endpoint,
    destinationEndpoint: header.destination[0]!.endpoint,
    recordType: 'ServiceRequest',
    recordId: sr.id!,
    encounterId,
    reference: 'BB-TEST0001',
    receivedAt: '2026-01-01T10:00:00.000Z',
    bundle,
  };
}
