/*
 * The HTTP side of the TKW port: one request over the harness's mutual TLS, with the gzip handling TKW's own client
 * has (it gunzips a `Content-Encoding: gzip` response and records that it did — the `X-was-Content-Encoding` header
 * its checks look at), and request bodies gzipped when the schedule sends `Content-Encoding: gzip`.
 */
import https from 'node:https';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readPem } from '../../src/dev/certs.js';
import type { Harness } from '../helpers/harness.js';

export interface TkwResponse {
  readonly status: number;
  /** Lower-case header names, as Node gives them. */
  readonly headers: Record<string, string | string[] | undefined>;
  /** The body after gunzip. */
  readonly body: string;
  /** True when the response came gzip-compressed (TKW: `X-was-Content-Encoding: gzip`). */
  readonly wasGzip: boolean;
}

export function tlsOf(h: Harness): { url: string; ca: string; cert: string; key: string } {
  return { url: h.url, ca: readPem(h.certs.caCert), cert: readPem(h.certs.clientCert), key: readPem(h.certs.clientKey) };
}

export function send(
  tls: { url: string; ca: string; cert: string; key: string },
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<TkwResponse> {
  const target = new URL(path, tls.url);
  let payload: Buffer | undefined = body === undefined || body === '' ? undefined : Buffer.from(body, 'utf8');
  const gzipRequest = Object.entries(headers).some(([k, v]) => k.toLowerCase() === 'content-encoding' && /gzip/i.test(v));
  if (payload && gzipRequest) {
    payload = gzipSync(payload);
  }
  const all: Record<string, string> = { ...headers };
  if (payload) {
    all['Content-Length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = https.request(
      target,
      { method, headers: all, ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost', agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let raw = Buffer.concat(chunks);
          const wasGzip = /gzip/i.test(String(res.headers['content-encoding'] ?? ''));
          if (wasGzip) {
            raw = gunzipSync(raw);
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString('utf8'), wasGzip });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
