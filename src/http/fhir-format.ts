/*
 * FHIR JSON and XML on the wire. BaRS senders "MUST support JSON" but the API and NHS England's TKW suite also send
 * and accept `application/fhir+xml`; XML is converted with the `fhir` package (FHIR-aware: it knows which elements
 * repeat), so the receiver itself only ever handles JSON.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { Fhir } from 'fhir';
import { badRequest, BarsError } from '../bars/errors.js';
import type { Format } from '../bars/headers.js';

let converter: Fhir | undefined;
const fhir = (): Fhir => (converter ??= new Fhir());

/**
 * Parses a request body by Content-Type: FHIR JSON (`application/fhir+json`, `application/json`) or FHIR XML
 * (`application/fhir+xml`). Plain `application/xml` is not FHIR's media type → 415, as TKW expects.
 */
export function parseBody(req: IncomingMessage & { body?: unknown }): unknown {
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
    let json: string;
    try {
      // xmlToJson (not xmlToObj) types decimals and integers as JSON numbers, as FHIR JSON requires.
      json = fhir().xmlToJson(raw.toString('utf8'));
    } catch {
      throw badRequest('structure', 'The request body is not valid FHIR XML', 'body');
    }
    // XML comments come through as `fhir_comments`, which is not R4 JSON: drop them, and the `_element` objects that
    // held nothing else.
    return JSON.parse(json, (key, value: unknown) => {
      if (key === 'fhir_comments') {
        return undefined;
      }
      if (key.startsWith('_') && value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) {
        return undefined;
      }
      return value;
    });
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
  const text = format === 'xml' ? fhir().objToXml(resource as Record<string, unknown>) : JSON.stringify(resource);
  sendBytes(req, res, status, Buffer.from(text, 'utf8'), format);
}

/** Sends a resource held as FHIR JSON bytes: the bytes as they are for JSON, converted for XML. */
export function sendJsonBytes(req: IncomingMessage, res: ServerResponse, status: number, json: Buffer, format: Format): void {
  if (format === 'xml') {
    sendResource(req, res, status, JSON.parse(json.toString('utf8')) as object, format);
  } else if (!res.headersSent) {
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
