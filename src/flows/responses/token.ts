/*
 * OAuth 2.0 client for the NHS API platform, application-restricted signed-JWT pattern (BaRS Core
 * Security-and-Authorisation/Sender: "The calling application generates and signs a JWT, using its own private key…
 * calls our OAuth 2.0 token endpoint… client credentials flow"). The client assertion: header {alg RS512, typ JWT,
 * kid}, claims {iss = sub = client id, aud = token URL, jti, exp ≤ 5 min}. The access token is cached until shortly
 * before it expires, fetched once for concurrent callers, and dropped when the proxy answers 401.
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importPKCS8, SignJWT, type CryptoKey } from 'jose';
import type { Logger } from '../../logging.js';
import { createHttpPost, type HttpPost } from './http.js';

export interface TokenClientOptions {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly kid: string;
  /** PEM (PKCS#8 or PKCS#1) of the RSA key whose public half is registered with the platform. */
  readonly privateKey: string;
  /** Lifetime of the client assertion (the platform allows at most 5 minutes). */
  readonly assertionTtlSeconds?: number;
  /** Renew this long before the access token's expiry. */
  readonly refreshMarginSeconds?: number;
  /** HTTP transport (default: node:https with the system CAs). */
  readonly post?: HttpPost;
  readonly now?: () => number;
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

/** The token endpoint refused us or could not be reached. `permanent` when the answer was a 4xx. */
export class TokenError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'TokenError';
    this.status = status;
  }
}

export interface TokenClient {
  /** A valid access token (cached, or fetched now). */
  getToken(): Promise<string>;
  /** Forgets the cached token (after a 401 from the proxy); the next getToken fetches a new one. */
  invalidate(token?: string): void;
  /** Builds a signed client assertion (exposed for tests). */
  assertion(): Promise<string>;
}

export function createTokenClient(options: TokenClientOptions): TokenClient {
  const now = options.now ?? Date.now;
  const post = options.post ?? createHttpPost();
  const ttl = Math.min(options.assertionTtlSeconds ?? 300, 300);
  const margin = options.refreshMarginSeconds ?? 30;
  let key: Promise<CryptoKey> | undefined;
  let cached: { token: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;

  async function assertion(): Promise<string> {
    key ??= importPKCS8(toPkcs8(options.privateKey), 'RS512');
    const iat = Math.floor(now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: 'RS512', typ: 'JWT', kid: options.kid })
      .setIssuer(options.clientId)
      .setSubject(options.clientId)
      .setAudience(options.tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttl)
      .sign(await key);
  }

  async function fetchToken(): Promise<string> {
    const started = now();
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(),
    });
    let res;
    try {
      res = await post(options.tokenUrl, { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, body.toString(), options.timeoutMs ?? 10_000);
    } catch (err) {
      throw new TokenError(`token endpoint unreachable: ${(err as Error).message}`);
    }
    const text = res.body;
    if (res.status < 200 || res.status > 299) {
      // The body may echo the assertion claims; only the status and the OAuth error code are kept.
      let code: string | undefined;
      try {
        code = (JSON.parse(text) as { error?: string }).error;
      } catch {
        code = undefined;
      }
      throw new TokenError(`token endpoint answered ${res.status}${code ? ` ${code}` : ''}`, res.status);
    }
    const json = JSON.parse(text) as { access_token?: string; expires_in?: string | number };
    // The NHS platform sends expires_in as a string ("599").
    const expiresIn = Number(json.expires_in);
    if (!json.access_token || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new TokenError('token endpoint answered without access_token/expires_in', res.status);
    }
    cached = { token: json.access_token, expiresAt: now() + Math.max(expiresIn - margin, expiresIn / 2) * 1000 };
    options.log?.info({ expiresIn, durationMs: now() - started }, 'access token obtained');
    return json.access_token;
  }

  return {
    assertion,
    async getToken(): Promise<string> {
      if (cached && now() < cached.expiresAt) {
        return cached.token;
      }
      pending ??= fetchToken().finally(() => {
        pending = undefined;
      });
      return pending;
    },
    invalidate(token?: string): void {
      if (!token || cached?.token === token) {
        cached = undefined;
      }
    },
  };
}

/** Accepts a PEM or a path to one (BARS_PRIVATE_KEY may be either); PKCS#1 keys are converted to PKCS#8 for jose. */
export function readKeyMaterial(value: string): string {
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

function toPkcs8(pem: string): string {
  const text = readKeyMaterial(pem);
  return text.includes('BEGIN PRIVATE KEY') ? text : (createPrivateKey(text).export({ type: 'pkcs8', format: 'pem' }) as string);
}
