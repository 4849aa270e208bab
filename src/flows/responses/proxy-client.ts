/*
 * Sends one response Bundle to the BaRS proxy (`POST {proxy}/$process-message`) as a sender would, and classifies the
 * answer by the sender retry rules (Transactional-integrity/Sender-responsibilities, spec §9.5):
 * - 409 REC_CONFLICT with issue `duplicate` → delivered ("do not retry… this indicates the message was successfully sent");
 * - a response without X-Request-Id / X-Correlation-Id, or an error without an OperationOutcome → retry (possible
 *   communications failure);
 * - 408, 425, 429, 503, 504 (REC/PROXY/SEND timeout, too-early, too-many-requests, unavailable) → retry with backoff;
 *   401/403 → retry once the token issue is fixed (SEND_FORBIDDEN is on the retry list); 500 retried only when its
 *   issue says it is transient (`transient`, `no-store`, `timeout`, `throttled`), 502 retried;
 * - any other 4xx/5xx → dead letter, keeping the OperationOutcome;
 * - no answer (timeout, connection lost) → retry: ambiguous, the retry carries the same X-Request-Id so a receiver that
 *   already has it answers 409 duplicate.
 * Headers (spec §8): new X-Request-Id per response (the caller keeps it across retries), the original X-Correlation-Id,
 * NHSD-Target-Identifier = base64 JSON {system, value} of the stored MessageHeader.source.endpoint.
 */
import type { Logger } from '../../logging.js';
import { createHttpPost, HttpTimeoutError, type HttpPost, type HttpResult, type HttpTransportOptions } from './http.js';
import type { TokenClient } from './token.js';

export type DeliveryOutcome = 'delivered' | 'duplicate-delivered' | 'retry' | 'dead-letter';

export interface SendResult {
  readonly outcome: DeliveryOutcome;
  /** HTTP status, or undefined when there was no answer. */
  readonly status: number | undefined;
  /** The OperationOutcome of an error answer, kept for the dead letter. */
  readonly operationOutcome?: unknown;
  /** Short machine-readable reason (`http-503`, `timeout`, `integrity-headers-missing`, …) for logs and dead letters. */
  readonly reason: string;
  /** Server's Retry-After, when given. */
  readonly retryAfterMs?: number;
}

export interface ProxySendRequest {
  readonly body: string;
  readonly requestId: string;
  readonly correlationId: string;
  /** `system|value`, from the original MessageHeader.source.endpoint. */
  readonly targetEndpoint: string;
  /** `usecase|category|event|reason`, e.g. `a4t2|validation|servicerequest-response|new` (Core Logging page). */
  readonly useContext?: string;
}

export interface ProxyClientOptions {
  /** BaRS base URL, e.g. https://int.api.service.nhs.uk/booking-and-referral/FHIR/R4 */
  readonly proxyUrl: string;
  readonly token: TokenClient;
  /** Us, for NHSD-End-User-Organisation. */
  readonly organisation: { readonly odsCode: string; readonly name: string };
  readonly software?: { readonly id: string; readonly name: string; readonly version: string };
  /** Version parameter of Accept (the BaRS version we expect to interoperate on). */
  readonly acceptVersion?: string;
  /** Per-request time limit; the proxy itself gives the receiver 32 s (bref-target.xml io.timeout.millis). */
  readonly timeoutMs?: number;
  /** CA / client certificate for the proxy connection. */
  readonly transport?: HttpTransportOptions;
  readonly post?: HttpPost;
  readonly log?: Logger;
}

export interface ProxyClient {
  send(request: ProxySendRequest): Promise<SendResult>;
  close(): void;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

/** NHSD-Target-Identifier from a `system|value` endpoint. */
export function targetIdentifierHeader(endpoint: string): string {
  const bar = endpoint.indexOf('|');
  if (bar <= 0 || bar === endpoint.length - 1) {
    throw new Error('target endpoint must be system|value');
  }
  return b64({ system: endpoint.slice(0, bar), value: endpoint.slice(bar + 1) });
}

function header(res: HttpResult, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function parseOperationOutcome(body: string): { resource: unknown; issueCodes: string[] } | undefined {
  try {
    const json = JSON.parse(body) as { resourceType?: string; issue?: Array<{ code?: string }> };
    if (json?.resourceType !== 'OperationOutcome') {return undefined;}
    return { resource: json, issueCodes: (json.issue ?? []).map((i) => i.code ?? '') };
  } catch {
    return undefined;
  }
}

function retryAfter(res: HttpResult): number | undefined {
  const v = header(res, 'retry-after');
  if (!v) {return undefined;}
  const seconds = Number(v);
  if (Number.isFinite(seconds)) {return Math.max(0, seconds * 1000);}
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

const RETRY_STATUS = new Set([401, 403, 408, 425, 429, 502, 503, 504]);
const TRANSIENT_500 = new Set(['transient', 'no-store', 'timeout', 'throttled']);

/** Classifies a proxy answer by the sender retry rules (pure; see the module comment). */
export function classifyResponse(res: HttpResult, sent: { requestId: string; correlationId: string }): SendResult {
  const status = res.status;
  const outcome = status >= 400 ? parseOperationOutcome(res.body) : undefined;
  const base = { status, ...(outcome ? { operationOutcome: outcome.resource } : {}) };
  if (status === 409 && outcome?.issueCodes.includes('duplicate')) {
    return { ...base, outcome: 'duplicate-delivered', reason: 'http-409-duplicate' };
  }
  if (header(res, 'x-request-id') !== sent.requestId || header(res, 'x-correlation-id') !== sent.correlationId) {
    return { ...base, outcome: 'retry', reason: 'integrity-headers-missing' };
  }
  if (status >= 200 && status < 300) {
    return { status, outcome: 'delivered', reason: `http-${status}` };
  }
  if (status >= 400 && !outcome) {
    return { ...base, outcome: 'retry', reason: `http-${status}-without-operation-outcome` };
  }
  if (RETRY_STATUS.has(status) || (status === 500 && outcome!.issueCodes.some((c) => TRANSIENT_500.has(c)))) {
    const after = retryAfter(res);
    return { ...base, outcome: 'retry', reason: `http-${status}`, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  return { ...base, outcome: 'dead-letter', reason: `http-${status}` };
}

/** Creates the client; `close()` releases its keep-alive connections. */
export function createProxyClient(options: ProxyClientOptions): ProxyClient {
  const post = options.post ?? createHttpPost(options.transport);
  const url = `${options.proxyUrl.replace(/\/+$/, '')}/$process-message`;
  const software = options.software ?? { id: 'bars-bridge', name: 'bars-bridge', version: '0.1.0' };
  const fixed = {
    'NHSD-End-User-Organisation': b64({
      resourceType: 'Organization',
      identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: options.organisation.odsCode }],
      name: options.organisation.name,
    }),
    'NHSD-Requesting-Software': b64({
      resourceType: 'Device',
      identifier: [{ system: 'https://fhir.nhs.uk/Id/bars-software', value: software.id }],
      deviceName: [{ name: software.name, type: 'manufacturer-name' }],
      version: [{ value: software.version }],
    }),
    Accept: `application/fhir+json; version=${options.acceptVersion ?? '1.2.0'}`,
    'Content-Type': 'application/fhir+json',
  };

  async function attempt(request: ProxySendRequest, token: string): Promise<HttpResult> {
    const headers: Record<string, string> = {
      ...fixed,
      Authorization: `Bearer ${token}`,
      'X-Request-Id': request.requestId,
      'X-Correlation-Id': request.correlationId,
      'NHSD-Target-Identifier': targetIdentifierHeader(request.targetEndpoint),
      ...(request.useContext ? { 'use-context': request.useContext } : {}),
    };
    return post(url, headers, request.body, options.timeoutMs ?? 35_000);
  }

  return {
    async send(request: ProxySendRequest): Promise<SendResult> {
      const started = Date.now();
      const ids = { requestId: request.requestId, correlationId: request.correlationId };
      let result: SendResult;
      try {
        let token = await options.token.getToken();
        let res = await attempt(request, token);
        if (res.status === 401) {
          // Expired or revoked token: a retry may change the token and nothing else (Definition-of-a-retry page).
          options.token.invalidate(token);
          token = await options.token.getToken();
          res = await attempt(request, token);
        }
        result = classifyResponse(res, ids);
      } catch (err) {
        const e = err as Error & { code?: string };
        const reason = e instanceof HttpTimeoutError ? 'timeout' : e.name === 'TokenError' ? 'token' : `network-${e.code ?? 'error'}`;
        result = { outcome: 'retry', status: undefined, reason };
      }
      options.log?.info(
        { requestId: request.requestId, correlationId: request.correlationId, status: result.status, outcome: result.outcome, reason: result.reason, durationMs: Date.now() - started },
        'response sent to the BaRS proxy',
      );
      return result;
    },
    close: () => post.close(),
  };
}
