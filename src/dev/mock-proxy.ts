/*
 * A local stand-in for the BaRS API proxy and the NHS API platform's OAuth endpoint, for development and tests of the
 * asynchronous responses. Real HTTPS (dev CA certificates). `/oauth2/token` checks the signed-JWT client assertion
 * the way the platform documents it (RS512 signature with the registered public key, iss = sub = client id,
 * aud = token URL, exp at most 5 minutes ahead, jti not reused). `/$process-message` checks the bearer token, records
 * each request (headers + body) and answers from a scriptable scenario.
 *
 * The mock also plays the receiver behind the proxy, to count deliveries: steps marked "processed" below hand the
 * message to that receiver; with `dedupe` on (BaRS Transactional-integrity: a receiver "will not accept two messages
 * with the same request and X-Correlation-IDs") a second processed delivery of one X-Request-Id answers
 * 409 duplicate instead of counting twice.
 */
import { createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { ensureDevCerts, readPem, type DevCertPaths } from './certs.js';

/**
 * One scripted answer:
 * - `ok` (processed): 200, or 409 duplicate when already processed and `dedupe` is on;
 * - `duplicate`: 409 REC_CONFLICT `duplicate` (the receiver says it already has it);
 * - `timeout` (processed): never answers — the response is lost on the way back;
 * - `no-integrity-headers` (processed): 200 without X-Request-Id / X-Correlation-Id;
 * - `error-no-oo`: 500 with no OperationOutcome;
 * - `bad-request`: 400 REC_BAD_REQUEST with an OperationOutcome;
 * - `token-expired`: 401, and the presented token is revoked;
 * - 408, 429, 503: the error with its OperationOutcome; 504 (processed): the receiver finished after the proxy gave up.
 */
export type MockStep = 'ok' | 'duplicate' | 'timeout' | 'no-integrity-headers' | 'error-no-oo' | 'bad-request' | 'token-expired' | 408 | 429 | 503 | 504;

const PROCESSED: ReadonlySet<MockStep> = new Set<MockStep>(['ok', 'timeout', 'no-integrity-headers', 504]);

export interface RecordedRequest {
  readonly at: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly step: MockStep | 'unauthorized';
  readonly status: number | 'no-answer';
}

export interface MockProxyOptions {
  readonly port?: number;
  /** PEM (SPKI) or KeyObject of the client's registered public key. */
  readonly publicKey: string | KeyObject;
  /** Expected client id (iss/sub); any when absent. */
  readonly clientId?: string;
  /** Expected `kid`; any when absent. */
  readonly kid?: string;
  readonly tokenTtlSeconds?: number;
  readonly dedupe?: boolean;
  /** Require a client certificate from the dev CA. */
  readonly requireClientCert?: boolean;
  readonly certs?: DevCertPaths;
}

export interface MockProxy {
  /** Base URL (what BARS_PROXY_URL would be). */
  readonly url: string;
  readonly tokenUrl: string;
  /** PEM of the CA that signed the mock's server certificate (the client must trust it). */
  readonly ca: string;
  readonly certs: DevCertPaths;
  readonly requests: RecordedRequest[];
  readonly tokenRequests: Array<{ readonly ok: boolean; readonly error?: string; readonly claims?: Record<string, unknown>; readonly header?: Record<string, unknown> }>;
  /**
   * Steps answered in order, then `fallback` for every further request. With `correlationId`, the script applies to
   * that conversation only (parallel tests), otherwise to every request without a script of its own.
   */
  setScenario(steps: readonly MockStep[], fallback?: MockStep, correlationId?: string): void;
  /** Turns the receiver's duplicate detection on or off. */
  setDedupe(on: boolean): void;
  /** How many times the receiver behind the proxy processed this X-Request-Id. */
  deliveries(requestId: string): number;
  /** Revokes every issued access token (the next request answers 401). */
  expireTokens(): void;
  close(): Promise<void>;
}

const oo = (status: number, code: string, issue: string, diagnostics: string): string =>
  JSON.stringify({
    resourceType: 'OperationOutcome',
    id: randomUUID(),
    meta: { profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-OperationOutcome'] },
    issue: [{ severity: 'error', code: issue, details: { coding: [{ system: 'https://fhir.nhs.uk/CodeSystem/http-error-codes', code, display: `${status} - ${code}` }] }, diagnostics }],
  });

const ERRORS: Record<number, [string, string, string]> = {
  400: ['REC_BAD_REQUEST', 'invalid', 'The message failed validation at the receiver'],
  401: ['SEND_UNAUTHORIZED', 'security', 'Access token expired or invalid'],
  408: ['REC_TIMEOUT', 'timeout', 'The connection to the Receiver timed out.'],
  409: ['REC_CONFLICT', 'duplicate', 'The message has already been processed'],
  429: ['PROXY_TOO_MANY_REQUESTS', 'throttled', 'Too many requests'],
  503: ['REC_SERVICE_UNAVAILABLE', 'transient', 'The receiver is unavailable'],
  504: ['PROXY_TIMEOUT', 'timeout', 'The receiver did not answer in time'],
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) {out[k] = Array.isArray(v) ? v.join(', ') : v;}
  }
  return out;
}

/** Starts the mock proxy on 127.0.0.1. */
export async function startMockProxy(options: MockProxyOptions): Promise<MockProxy> {
  const certs = options.certs ?? ensureDevCerts(path.join(os.tmpdir(), 'bars-bridge-mock-proxy'));
  const publicKey = typeof options.publicKey === 'string' ? createPublicKey(options.publicKey) : options.publicKey;
  const tokenTtl = options.tokenTtlSeconds ?? 599;
  let dedupe = options.dedupe ?? true;
  const requests: RecordedRequest[] = [];
  const tokenRequests: MockProxy['tokenRequests'] = [];
  const tokens = new Map<string, number>();
  const seenJti = new Set<string>();
  const processed = new Map<string, number>();
  const sockets = new Set<Socket>();
  const scripts = new Map<string, { steps: MockStep[]; fallback: MockStep }>();
  let global: { steps: MockStep[]; fallback: MockStep } = { steps: [], fallback: 'ok' };
  let base = '';

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    const fail = (error: string): void => {
      tokenRequests.push({ ok: false, error });
      res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: 'invalid_request', error_description: error }));
    };
    if (form.get('grant_type') !== 'client_credentials') {return fail('grant_type must be client_credentials');}
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {return fail('bad client_assertion_type');}
    const assertion = form.get('client_assertion');
    if (!assertion) {return fail('client_assertion is missing');}
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(assertion) as Record<string, unknown>;
      const verified = await jwtVerify(assertion, publicKey, { algorithms: ['RS512'], audience: `${base}/oauth2/token`, requiredClaims: ['iss', 'sub', 'exp', 'jti'] });
      claims = verified.payload as Record<string, unknown>;
    } catch (err) {
      return fail(`assertion rejected: ${(err as Error).message}`);
    }
    if (header.typ !== 'JWT') {return fail('typ must be JWT');}
    if (!header.kid || (options.kid && header.kid !== options.kid)) {return fail('unknown kid');}
    if (claims.iss !== claims.sub) {return fail('iss and sub must both be the client id');}
    if (options.clientId && claims.iss !== options.clientId) {return fail('unknown client id');}
    if ((claims.exp as number) - Date.now() / 1000 > 305) {return fail('exp is more than 5 minutes ahead');}
    if (seenJti.has(claims.jti as string)) {return fail('jti reused');}
    seenJti.add(claims.jti as string);
    const accessToken = randomUUID().replace(/-/g, '');
    tokens.set(accessToken, Date.now() + tokenTtl * 1000);
    tokenRequests.push({ ok: true, claims, header });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(
      JSON.stringify({ access_token: accessToken, expires_in: String(tokenTtl), token_type: 'Bearer', issued_at: String(Date.now()) }),
    );
  }

  async function processMessage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const headers = flatHeaders(req);
    const requestId = headers['x-request-id'] ?? '';
    const integrity = { 'X-Request-Id': requestId, 'X-Correlation-Id': headers['x-correlation-id'] ?? '' };
    const bearer = /^Bearer (\S+)$/.exec(headers.authorization ?? '')?.[1];
    const record = (step: RecordedRequest['step'], status: RecordedRequest['status']): void => {
      requests.push({ at: Date.now(), path: req.url ?? '', headers, body, step, status });
    };
    const expiry = bearer ? tokens.get(bearer) : undefined;
    if (!expiry || expiry < Date.now()) {
      record('unauthorized', 401);
      res.writeHead(401, { 'Content-Type': 'application/fhir+json', ...integrity }).end(oo(401, ...ERRORS[401]!));
      return;
    }
    const script = scripts.get(headers['x-correlation-id'] ?? '') ?? global;
    const step = script.steps.length > 0 ? script.steps.shift()! : script.fallback;
    if (PROCESSED.has(step)) {
      const before = processed.get(requestId) ?? 0;
      if (step === 'ok' && dedupe && before > 0) {
        record(step, 409);
        res.writeHead(409, { 'Content-Type': 'application/fhir+json', ...integrity }).end(oo(409, ...ERRORS[409]!));
        return;
      }
      // A deduplicating receiver processes an X-Request-Id once, whatever the proxy then answers the sender.
      if (!(dedupe && before > 0)) {processed.set(requestId, before + 1);}
    }
    const send = (status: number, extra: Record<string, string>, text: string): void => {
      record(step, status);
      res.writeHead(status, { 'Content-Type': 'application/fhir+json', ...extra }).end(text);
    };
    switch (step) {
      case 'ok':
        return send(200, integrity, body);
      case 'duplicate':
        processed.set(requestId, Math.max(processed.get(requestId) ?? 0, 1));
        return send(409, integrity, oo(409, ...ERRORS[409]!));
      case 'timeout':
        record(step, 'no-answer');
        return; // never answered; the socket is destroyed on close()
      case 'no-integrity-headers':
        return send(200, {}, body);
      case 'error-no-oo':
        return send(500, integrity, '');
      case 'bad-request':
        return send(400, integrity, oo(400, ...ERRORS[400]!));
      case 'token-expired':
        tokens.delete(bearer!);
        return send(401, integrity, oo(401, ...ERRORS[401]!));
      default:
        return send(step, { ...integrity, ...(step === 429 ? { 'Retry-After': '0' } : {}) }, oo(step, ...ERRORS[step]!));
    }
  }

  const server = https.createServer(
    {
      cert: readPem(certs.serverCert),
      key: readPem(certs.serverKey),
      ca: readPem(certs.caCert),
      requestCert: options.requireClientCert ?? false,
      rejectUnauthorized: options.requireClientCert ?? false,
    },
    (req, res) => {
      const url = req.url ?? '';
      const handler = req.method === 'POST' && url === '/oauth2/token' ? token : req.method === 'POST' && url.endsWith('/$process-message') ? processMessage : undefined;
      if (!handler) {
        res.writeHead(404).end();
        return;
      }
      handler(req, res).catch(() => {
        if (!res.headersSent) {res.writeHead(500).end();}
      });
    },
  );
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  base = `https://127.0.0.1:${port}`;
  return {
    url: base,
    tokenUrl: `${base}/oauth2/token`,
    ca: readPem(certs.caCert),
    certs,
    requests,
    tokenRequests,
    setScenario(next, fb = 'ok', correlationId) {
      const script = { steps: [...next], fallback: fb };
      if (correlationId) {scripts.set(correlationId, script);}
      else {global = script;}
    },
    setDedupe(on) {
      dedupe = on;
    },
    deliveries: (requestId) => processed.get(requestId) ?? 0,
    expireTokens: () => tokens.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) {s.destroy();}
        server.close(() => resolve());
      }),
  };
}

/**
 * The signing key pair a development worker uses with the mock proxy (RS512 client assertion), created once in `dir`.
 * @returns the private key (PKCS#8 PEM) and public key (SPKI PEM) file paths.
 */
export function ensureMockProxyKey(dir: string): { keyFile: string; pubFile: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = path.join(dir, 'client.key');
  const pubFile = path.join(dir, 'client.pub');
  if (!existsSync(keyFile)) {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(keyFile, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pubFile, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  }
  return { keyFile, pubFile };
}

/**
 * `npx tsx src/dev/mock-proxy.ts [port]`: runs the mock with a signing key kept under .dev/mock-proxy and prints the
 * environment a bars-bridge worker needs to send responses to it.
 */
async function main(): Promise<void> {
  const dir = path.resolve('.dev', 'mock-proxy');
  const { keyFile, pubFile } = ensureMockProxyKey(dir);
  const proxy = await startMockProxy({ port: Number(process.argv[2] ?? 0) || undefined, publicKey: readPem(pubFile), clientId: 'bars-bridge-dev', kid: 'dev-1', certs: ensureDevCerts(dir) });
  process.stdout.write(
    [
      `mock BaRS proxy on ${proxy.url}`,
      `  BARS_PROXY_URL=${proxy.url}`,
      `  BARS_TOKEN_URL=${proxy.tokenUrl}`,
      '  BARS_CLIENT_ID=bars-bridge-dev',
      '  BARS_KID=dev-1',
      `  BARS_PRIVATE_KEY=${keyFile}`,
      `  NODE_EXTRA_CA_CERTS=${proxy.certs.caCert}`,
      '',
    ].join('\n'),
  );
  const stop = (): void => void proxy.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href) {
  await main();
}
