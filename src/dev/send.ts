/*
 * A development sender: posts a Bundle to the receiver's `$process-message` the way the BaRS proxy would — mutual
 * TLS with the dev client certificate, fresh X-Request-Id, X-Correlation-Id, base64-JSON NHSD-* headers and an
 * Accept version — and prints the status and the receiver's human-readable reference.
 */
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface SendOptions {
  readonly url: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly serviceId: string;
  readonly requestId?: string;
  readonly correlationId?: string;
  readonly freshBundleId?: boolean;
}

export const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

/** The NHSD-* headers a sender (via the proxy) presents. */
export function barsHeaders(serviceId: string, ids: { requestId?: string; correlationId?: string } = {}): Record<string, string> {
  return {
    'X-Request-Id': ids.requestId ?? randomUUID(),
    'X-Correlation-Id': ids.correlationId ?? randomUUID(),
    'NHSD-Target-Identifier': b64({ system: 'https://fhir.nhs.uk/Id/dos-service-id', value: serviceId }),
    'NHSD-End-User-Organisation': b64({
      resourceType: 'Organization',
      identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'A1001' }],
      name: 'Development sender',
    }),
    'NHSD-Requesting-Software': b64({
      resourceType: 'Device',
      identifier: [{ system: 'https://bars-bridge.local/Id/software', value: 'bars-bridge-send' }],
      deviceName: [{ name: 'bars-bridge send', type: 'manufacturer-name' }],
      version: [{ value: '0.1.0' }],
    }),
    Accept: 'application/fhir+json; version=1.2.0',
  };
}

export interface SendResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** Sends one request over mutual TLS. */
export function request(
  options: { url: string; ca: string; cert: string; key: string },
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<SendResult> {
  const target = new URL(path, options.url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      target,
      { method, headers, ca: options.ca, cert: options.cert, key: options.key, servername: target.hostname === '127.0.0.1' ? 'localhost' : target.hostname },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Posts a Bundle file to `$process-message`. */
export async function sendBundle(file: string, options: SendOptions): Promise<SendResult> {
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (options.freshBundleId !== false) {
    bundle.id = randomUUID();
  }
  const headers = { ...barsHeaders(options.serviceId, options), 'Content-Type': 'application/fhir+json' };
  return request(options, 'POST', '/$process-message', headers, JSON.stringify(bundle));
}
