/*
 * NHS England's example message Bundles as a sender would post them to us: the IG examples converted to JSON
 * (`bars-examples/ig-json-converted/`) and the examples of the BaRS 1.34.0 package (message Bundles only), each with
 * a fresh Bundle.id and its destination endpoint rewritten to our DoS service id.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Harness } from './harness.js';
import { TEST_SERVICE_ID } from './harness.js';
import { BARS_PACKAGE, unpackedPackage, type Bundle, type OperationOutcome, type Resource } from './profile-validator.js';
import type { SendResult } from '../../src/dev/send.js';
import { IG_EXAMPLES_DIR } from '../external/nhs-material.js';

export { IG_EXAMPLES_DIR };

export interface ExampleFile {
  /** `ig/<file>` or `pkg/<file>`. */
  readonly key: string;
  readonly file: string;
}

/** Every example Bundle of type message: the IG's converted examples, then the BaRS package's. */
export function exampleFiles(): ExampleFile[] {
  const out: ExampleFile[] = [];
  const add = (prefix: string, dir: string): void => {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
      const json = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { resourceType?: string; type?: string };
      if (json.resourceType === 'Bundle' && json.type === 'message') {
        out.push({ key: `${prefix}/${f}`, file: path.join(dir, f) });
      }
    }
  };
  add('ig', IG_EXAMPLES_DIR);
  add('pkg', path.join(unpackedPackage(BARS_PACKAGE), 'examples'));
  return out;
}

export const loadJson = <T = Bundle>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** A copy of an example ready to post: fresh Bundle.id, every destination endpoint naming our service. */
export function prepare(bundle: Bundle, serviceId = TEST_SERVICE_ID): Bundle {
  const copy = structuredClone(bundle);
  copy.id = randomUUID();
  const header = copy.entry?.[0]?.resource as (Resource & { destination?: Array<{ endpoint?: string }> }) | undefined;
  if (header?.resourceType === 'MessageHeader') {
    for (const d of header.destination ?? []) {
      d.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${serviceId}`;
    }
  }
  return copy;
}

export interface Posted {
  readonly res: SendResult;
  readonly requestId: string;
  readonly bundle?: Bundle;
  readonly outcome?: OperationOutcome;
}

/** Posts a Bundle to `$process-message` with fresh BaRS headers and parses the answer. */
export async function postMessage(h: Harness, bundle: Bundle | string, extraHeaders: Record<string, string> = {}): Promise<Posted> {
  const headers: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json', ...extraHeaders };
  const res = await h.send('POST', '/$process-message', headers, typeof bundle === 'string' ? bundle : JSON.stringify(bundle));
  let parsed: Resource | undefined;
  try {
    parsed = JSON.parse(res.body) as Resource;
  } catch {
    parsed = undefined;
  }
  return {
    res,
    requestId: headers['X-Request-Id']!,
    bundle: parsed?.resourceType === 'Bundle' ? (parsed as Bundle) : undefined,
    outcome: parsed?.resourceType === 'OperationOutcome' ? (parsed as OperationOutcome) : undefined,
  };
}

/** The first issue of an OperationOutcome as `status REC_CODE issue-code: diagnostics`. */
export function describeOutcome(p: Posted): string {
  const issue = p.outcome?.issue?.[0];
  return `${p.res.status} ${issue?.details?.coding?.[0]?.code ?? '?'} ${issue?.code ?? '?'}: ${issue?.diagnostics ?? p.res.body.slice(0, 200)}`;
}

export const resourcesOf = (bundle: Bundle | undefined): Resource[] => (bundle?.entry ?? []).map((e) => e.resource!).filter(Boolean);

/**
 * Waits until the receiver's request-path Redis connection is ready: a read that touches the store answers 404, not
 * 503. start() listens before that connection is ready, and the producer has no offline queue, so the first requests
 * after start-up can be answered 503 REC_UNAVAILABLE (reported as a bug; see bad-input.test.ts "start-up").
 */
export async function waitUntilStoreReady(h: Harness, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await h.send('GET', `/ServiceRequest/${randomUUID()}`, h.headers());
    if (res.status === 404) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`the receiver's store did not become ready: ${res.status} ${res.body.slice(0, 200)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
