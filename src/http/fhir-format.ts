/*
 * FHIR JSON and XML on the wire. BaRS senders "MUST support JSON" but the API and NHS England's TKW suite also send
 * and accept `application/fhir+xml`; XML is converted with the `fhir` package (FHIR-aware: it knows which elements
 * repeat), so the receiver itself only ever handles JSON.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { badRequest, BarsError } from '../protocol/bars/errors.js';
import type { Format } from '../protocol/bars/headers.js';
import { fhirJsonToXml, resourceToXml, xmlToFhirJson, XmlRefusal } from './fhir-xml.js';
import { XmlPool } from './xml-pool.js';

let pool: XmlPool | undefined;
/** The XML worker pool of this process, made on first use. */
export const xmlPool = (): XmlPool => (pool ??= new XmlPool());

/**
 * Up to this size a conversion runs on the event loop: a typical BaRS message is 10–40 KB of XML (~10–30 ms), less
 * than a cold worker takes to load the FHIR definitions (~1 s), and the cost per request stays bounded. Larger
 * bodies, up to BARS_XML_LIMIT_BYTES, go to the pool.
 */
const ON_LOOP_MAX_CHARS = 64 * 1024;

function convert(op: 'xml-to-json' | 'json-to-xml', text: string, res: ServerResponse): Promise<string> | string {
  if (text.length <= ON_LOOP_MAX_CHARS) {
    return op === 'xml-to-json' ? xmlToFhirJson(text) : fhirJsonToXml(text);
  }
  return xmlPool().run(op, text, () => answered(res));
}

/** True once the answer can no longer be sent: a conversion for it would be wasted. */
const answered = (res: ServerResponse): boolean => res.headersSent || res.destroyed;

/**
 * Parses a request body by Content-Type: FHIR JSON (`application/fhir+json`, `application/json`) or FHIR XML
 * (`application/fhir+xml`, at most `xmlLimitBytes`; large bodies converted on a worker thread). Plain `application/xml` is not
 * FHIR's media type → 415, as TKW expects.
 */
export async function parseBody(req: IncomingMessage & { body?: unknown }, res: ServerResponse, xmlLimitBytes: number): Promise<unknown> {
  const raw = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) {
    throw badRequest('required', 'The request has no body', 'body');
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/fhir+json' || type === 'application/json' || type === '') {
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      throw badRequest('structure', 'The request body is not valid JSON', 'body');
    }
  }
  if (type === 'application/fhir+xml') {
    if (raw.length > xmlLimitBytes) {
      // No REC code of the http-error-codes CodeSystem is 413; REC_BAD_REQUEST too-costly, as for the JSON limit.
      throw new BarsError('REC_BAD_REQUEST', `FHIR XML bodies are limited to ${xmlLimitBytes} bytes; send larger messages as JSON`, {
        issue: 'too-costly',
        expression: 'body',
        status: 413,
      });
    }
    let json: string;
    try {
      json = await convert('xml-to-json', raw.toString('utf8'), res);
    } catch (err) {
      if (err instanceof XmlRefusal) {
        throw badRequest('structure', err.message, 'body');
      }
      throw err;
    }
    if (answered(res)) {
      // Answered 408 while converting: the sender retries, and nothing of this attempt is stored or checked (a 1 MB
      // Bundle is ~0.1 s of event-loop time to parse, check and store).
      throw new Error('request already answered; conversion result dropped');
    }
    return JSON.parse(json);
  }
  throw new BarsError('REC_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${type} is not supported; send application/fhir+json or application/fhir+xml`, {
    expression: 'Content-Type',
  });
}

const CONTENT_TYPES: Record<Format, string> = {
  json: 'application/fhir+json; charset=utf-8',
  xml: 'application/fhir+xml; charset=utf-8',
};

/** Sends a FHIR resource in the negotiated format, gzip-compressed when the client accepts it and it is worth it. */
export function sendResource(req: IncomingMessage, res: ServerResponse, status: number, resource: object, format: Format): void {
  if (res.headersSent) {
    // Already answered (408 REC_TIMEOUT won the race); the late result is dropped.
    return;
  }
  const text = format === 'xml' ? resourceToXml(resource) : JSON.stringify(resource);
  sendBytes(req, res, status, Buffer.from(text, 'utf8'), format);
}

/**
 * Sends a resource held as FHIR JSON bytes: the bytes as they are for JSON; converted for XML, on a worker thread when
 * large (a Bundle echoed in an acknowledgement can be as large as the request).
 */
export async function sendJsonBytes(req: IncomingMessage, res: ServerResponse, status: number, json: Buffer, format: Format): Promise<void> {
  if (answered(res)) {
    return;
  }
  if (format === 'xml') {
    const xml = await convert('json-to-xml', json.toString('utf8'), res);
    if (!answered(res)) {
      sendBytes(req, res, status, Buffer.from(xml, 'utf8'), format);
    }
  } else {
    sendBytes(req, res, status, json, format);
  }
}

function sendBytes(req: IncomingMessage, res: ServerResponse, status: number, bytes: Buffer, format: Format): void {
  let body = bytes;
  res.statusCode = status;
  res.setHeader('Content-Type', CONTENT_TYPES[format]);
  if (body.length > 1024 && /\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''))) {
    body = gzipSync(body, { level: 1 });
    res.setHeader('Content-Encoding', 'gzip');
    res.setHeader('Vary', 'Accept-Encoding');
  }
  res.setHeader('Content-Length', String(body.length));
  res.end(body);
}
