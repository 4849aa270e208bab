/*
 * FHIR XML ⇄ FHIR JSON text with the `fhir` package (FHIR-aware: it knows which elements repeat and which are
 * numbers). Pure and synchronous: fhir-format.ts runs it on the event loop for small bodies and on xml-pool.ts's
 * worker threads for large ones, because converting is ~20× the CPU of parsing the same JSON (~0.6 s for a 750 KB
 * Bundle) and would stall every other request.
 */
import { Fhir } from 'fhir';

/** Input that is not FHIR XML: the caller answers 400 with this message. */
export class XmlRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlRefusal';
  }
}

let converter: Fhir | undefined;
const fhir = (): Fhir => (converter ??= new Fhir());

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * The document reduced to its XML declaration and root element. A FHIR resource in XML is one root element; comments
 * and processing instructions around it carry nothing (the converter gives up on a document with more than one
 * top-level node), and a DTD is refused — FHIR XML "SHALL NOT" use one (R4 XML format, "DTDs"), and no entity in it
 * could be honoured safely anyway. A linear scan: no regular expression backtracks over a 1 MB body.
 */
export function rootOnly(xml: string): string {
  let i = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < xml.length && isSpace(xml.charCodeAt(i))) {
    i++;
  }
  let declaration = '';
  if (xml.startsWith('<?xml', i) && (isSpace(xml.charCodeAt(i + 5)) || xml[i + 5] === '?')) {
    const end = xml.indexOf('?>', i);
    if (end < 0) {
      throw new XmlRefusal('The XML declaration is not closed');
    }
    declaration = xml.slice(i, end + 2);
    i = end + 2;
  }
  for (;;) {
    while (i < xml.length && isSpace(xml.charCodeAt(i))) {
      i++;
    }
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i + 4);
      if (end < 0) {
        throw new XmlRefusal('A comment before the root element is not closed');
      }
      i = end + 3;
    } else if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i + 2);
      if (end < 0) {
        throw new XmlRefusal('A processing instruction before the root element is not closed');
      }
      i = end + 2;
    } else if (xml.startsWith('<!', i)) {
      throw new XmlRefusal('FHIR XML must not contain a DTD (<!DOCTYPE>) or any declaration before the root element');
    } else {
      break;
    }
  }
  let end = xml.length;
  for (;;) {
    while (end > i && isSpace(xml.charCodeAt(end - 1))) {
      end--;
    }
    // Comments cannot nest and the root's end tag closes the document, so a trailing `-->` or `?>` ends a node after
    // the root, starting at the last `<!--` or `<?` before it.
    if (xml.endsWith('-->', end)) {
      end = xml.lastIndexOf('<!--', end - 3);
    } else if (xml.endsWith('?>', end)) {
      end = xml.lastIndexOf('<?', end - 2);
    } else {
      break;
    }
    if (end < i) {
      throw new XmlRefusal('The request body has no root element');
    }
  }
  return declaration + xml.slice(i, end);
}

/** FHIR XML → FHIR JSON text (compact), or XmlRefusal. */
export function xmlToFhirJson(xml: string): string {
  let json: string | undefined;
  try {
    // xmlToJson (not xmlToObj) types decimals and integers as JSON numbers, as FHIR JSON requires.
    json = fhir().xmlToJson(rootOnly(xml));
  } catch (err) {
    throw err instanceof XmlRefusal ? err : new XmlRefusal('The request body is not valid FHIR XML');
  }
  if (typeof json !== 'string') {
    throw new XmlRefusal('The request body is not valid FHIR XML');
  }
  // XML comments come through as `fhir_comments`, which is not R4 JSON: drop them, and the `_element` objects that
  // held nothing else.
  const value: unknown = JSON.parse(json, (key, v: unknown) => {
    if (key === 'fhir_comments') {
      return undefined;
    }
    if (key.startsWith('_') && v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) {
      return undefined;
    }
    return v;
  });
  return JSON.stringify(value);
}

/** FHIR JSON text → FHIR XML. */
export function fhirJsonToXml(json: string): string {
  return fhir().objToXml(JSON.parse(json) as Record<string, unknown>);
}

/** A resource already parsed → FHIR XML (small resources, on the calling thread). */
export function resourceToXml(resource: object): string {
  return fhir().objToXml(resource as Record<string, unknown>);
}
