/*
 * A small HTTPS POST over node:https (not fetch): the proxy and token endpoints may need a private CA (INT:
 * "Trust INT CA … and the DigiCert chain", Connect-as-a-sender page) and an optional client certificate, which
 * node's fetch cannot take without an extra dependency. One keep-alive agent per client.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpTransportOptions {
  /** Extra trusted CA(s), PEM. */
  readonly ca?: string;
  /** Optional client certificate and key, PEM. */
  readonly cert?: string;
  readonly key?: string;
}

export interface HttpResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** No answer within the time limit: the request may or may not have been processed (ambiguous). */
export class HttpTimeoutError extends Error {
  constructor(ms: number) {
    super(`no response within ${ms} ms`);
    this.name = 'HttpTimeoutError';
  }
}

export interface HttpPost {
  (url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<HttpResult>;
  close(): void;
}

const MAX_BODY = 1024 * 1024;

export function createHttpPost(options: HttpTransportOptions = {}): HttpPost {
  const agent = new https.Agent({ keepAlive: true, ca: options.ca, cert: options.cert, key: options.key });
  const post = (url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<HttpResult> =>
    new Promise((resolve, reject) => {
      const target = new URL(url);
      const transport = target.protocol === 'http:' ? http : https;
      const req = transport.request(
        target,
        {
          method: 'POST',
          headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
          agent: target.protocol === 'http:' ? undefined : agent,
          servername: target.hostname === '127.0.0.1' ? 'localhost' : target.hostname,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= MAX_BODY) {chunks.push(c);}
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', (err) => {
            clearTimeout(timer);
            reject(err);
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new HttpTimeoutError(timeoutMs));
      }, timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(body);
    });
  return Object.assign(post, { close: () => agent.destroy() });
}
