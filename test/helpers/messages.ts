/*
 * Small helpers shared by the integration tests that send referrals and wait for what the worker does with them.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { TEST_SERVICE_ID } from './harness.js';

type MessageJson = { id: string; entry: Array<{ resource: Record<string, unknown> }> };

const cache = new Map<string, MessageJson>();

/** A message Bundle from `file` (default: the synthetic 111→ED referral), fresh Bundle.id, sent to our service. */
export function messageBody(file = 'test/fixtures/referral-111-to-ed.json'): string {
  let template = cache.get(file);
  if (!template) {
    template = JSON.parse(readFileSync(file, 'utf8')) as MessageJson;
    cache.set(file, template);
  }
  const b = structuredClone(template);
  b.id = randomUUID();
  (b.entry[0]!.resource as { destination: Array<{ endpoint: string }> }).destination[0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
  return JSON.stringify(b);
}

type Resource = { resourceType: string; id: string; status?: string; identifier?: Array<{ value: string }> };

/** From a 200 body: our reference (planned Encounter identifier) and the receiver id of the root record. */
export function receipt(body: string): { reference: string; srId: string | undefined; resources: Resource[] } {
  const resources = (JSON.parse(body) as { entry: Array<{ resource: Resource }> }).entry.map((e) => e.resource);
  return {
    reference: resources.find((r) => r.resourceType === 'Encounter' && r.status === 'planned')?.identifier?.[0]?.value ?? '',
    srId: resources.find((r) => r.resourceType === 'ServiceRequest')?.id,
    resources,
  };
}

/** Polls `fn` until it returns something other than undefined. */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
