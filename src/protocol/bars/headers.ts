/*
 * BaRS request headers (spec §3): transaction integrity, the base64-JSON NHSD-* headers, the access policy, and
 * content negotiation (§4). Every check throws a BarsError naming the header, so the sender knows what to fix.
 */
import { z } from 'zod';
import { badRequest, BarsError } from './errors.js';
import { SYSTEMS, sameSystem } from './codes.js';
import { FORBIDDEN_NAMES } from './fhir-types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

export const isUuid = (value: string): boolean => UUID.test(value);

type HeaderBag = Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export interface IntegrityIds {
  readonly requestId: string;
  readonly correlationId: string;
}

/**
 * X-Request-Id and X-Correlation-Id: "reject any message with no X-Request-ID and X-Correlation-ID, without exception"
 * (Transactional-integrity/Receiver-responsibilities); `required` when absent, `value` when not a UUID.
 */
export function checkIntegrityHeaders(headers: HeaderBag): IntegrityIds {
  const requestId = header(headers, 'x-request-id');
  const correlationId = header(headers, 'x-correlation-id');
  for (const [name, value] of [['X-Request-Id', requestId], ['X-Correlation-Id', correlationId]] as const) {
    if (value === undefined || value.trim() === '') {
      throw badRequest('required', `The ${name} header is required`, name);
    }
    if (!isUuid(value.trim())) {
      throw badRequest('value', `The ${name} header must be a UUID`, name);
    }
  }
  return { requestId: requestId!.trim().toLowerCase(), correlationId: correlationId!.trim().toLowerCase() };
}

/** Header values that are safe to mirror back (BaRS: echo "at ALL times, where possible"). */
export function echoableId(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v !== undefined && /^[\x21-\x7e]{1,128}$/.test(v) ? v : undefined;
}

/**
 * Decoded NHSD-* header values by raw value. A sender sends the same organisation, software and practitioner on
 * every request, so the base64 and JSON decoding is done once per distinct value. Bounded (values up to 2 KB, 1,024
 * of them; cleared when full). Entries are frozen: callers only read them.
 */
const decodedHeaders = new Map<string, Readonly<Record<string, unknown>>>();
const DECODED_HEADERS_MAX = 1024;
const DECODED_HEADER_MAX_LENGTH = 2048;

/**
 * The elements of the NHSD-* header resources this receiver reads, with their FHIR types; anything else in them is
 * left alone (senders' headers vary: TKW sends Device.deviceName as one object, which R4 repeats).
 */
const identifierSchema = z.looseObject({ system: z.string().optional(), value: z.string().optional() });
const HEADER_SCHEMAS = {
  'NHSD-Target-Identifier': identifierSchema,
  'NHSD-End-User-Organisation': z.looseObject({ identifier: z.array(identifierSchema).optional(), name: z.string().optional() }),
  'NHSD-Requesting-Software': z.looseObject({
    identifier: z.array(identifierSchema).optional(),
    deviceName: z.union([z.looseObject({ name: z.string().optional() }), z.array(z.looseObject({ name: z.string().optional() }))]).optional(),
  }),
  'NHSD-Requesting-Practitioner': z.looseObject({ identifier: z.array(identifierSchema).optional() }),
} as const;
type JsonHeader = keyof typeof HEADER_SCHEMAS;

function decodeJsonHeader(name: JsonHeader, raw: string): Readonly<Record<string, unknown>> {
  const cacheKey = `${name}\n${raw}`;
  const cached = decodedHeaders.get(cacheKey);
  if (cached) {
    return cached;
  }
  const compact = raw.trim();
  if (!BASE64.test(compact)) {
    throw badRequest('value', `The ${name} header is not base64`, name);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(compact, 'base64').toString('utf8'));
  } catch {
    throw badRequest('value', `The ${name} header does not decode to JSON`, name);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw badRequest('value', `The ${name} header does not decode to a JSON object`, name);
  }
  const decoded = deepFreeze(name, parsed as Record<string, unknown>, name);
  const typed = HEADER_SCHEMAS[name].safeParse(decoded);
  if (!typed.success) {
    const issue = typed.error.issues[0]!;
    const element = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw badRequest('value', `The ${name} header's ${element.slice(1) || 'value'} has the wrong type: ${issue.message}`, `${name}${element}`);
  }
  if (raw.length <= DECODED_HEADER_MAX_LENGTH) {
    if (decodedHeaders.size >= DECODED_HEADERS_MAX) {
      decodedHeaders.clear();
    }
    decodedHeaders.set(cacheKey, decoded);
  }
  return decoded;
}

/** Freezes a decoded header value, refusing names that are no FHIR element and that JavaScript gives a meaning. */
function deepFreeze<T extends object>(name: string, value: T, where: string): T {
  for (const [key, v] of Object.entries(value)) {
    if (FORBIDDEN_NAMES.has(key)) {
      throw badRequest('structure', `The ${name} header holds ${key}, which is not a FHIR element name`, `${where}.${key}`);
    }
    if (v && typeof v === 'object') {
      deepFreeze(name, v as object, `${where}.${key}`);
    }
  }
  return Object.freeze(value);
}

interface Identifier {
  system?: string;
  value?: string;
}

export interface Requester {
  /** ODS code from NHSD-End-User-Organisation. */
  readonly odsCode: string | undefined;
  readonly organisationName: string | undefined;
  /** Device identifiers from NHSD-Requesting-Software. */
  readonly softwareIds: readonly string[];
  readonly softwareName: string | undefined;
  /** SDS role profile id from NHSD-Requesting-Practitioner, when sent. */
  readonly practitionerRoleId: string | undefined;
  /** Decoded NHSD-Target-Identifier. */
  readonly target: Identifier | undefined;
}

function identifiers(resource: Readonly<Record<string, unknown>>): Identifier[] {
  const ids = resource.identifier;
  return Array.isArray(ids) ? (ids.filter((i) => i && typeof i === 'object') as Identifier[]) : [];
}

/**
 * Decodes and checks the NHSD-* headers.
 * @param headers - request headers (lower-case keys).
 * @param required - whether NHSD-End-User-Organisation and NHSD-Requesting-Software must be present: API 1.0.0 made
 *   them mandatory; the Authorisation page says not to expect them on /metadata and /MessageDefinition (spec §13.9).
 */
export function readRequester(headers: HeaderBag, required: boolean): Requester {
  const targetRaw = header(headers, 'nhsd-target-identifier');
  let target: Identifier | undefined;
  if (targetRaw !== undefined) {
    const decoded = decodeJsonHeader('NHSD-Target-Identifier', targetRaw);
    if (typeof decoded.value !== 'string' || typeof decoded.system !== 'string') {
      throw badRequest('structure', 'The NHSD-Target-Identifier header must be an Identifier with system and value', 'NHSD-Target-Identifier');
    }
    target = { system: decoded.system, value: decoded.value };
  }

  let odsCode: string | undefined;
  let organisationName: string | undefined;
  const orgRaw = header(headers, 'nhsd-end-user-organisation');
  if (orgRaw === undefined) {
    if (required) {
      throw badRequest('required', 'The NHSD-End-User-Organisation header is required', 'NHSD-End-User-Organisation');
    }
  } else {
    const org = decodeJsonHeader('NHSD-End-User-Organisation', orgRaw);
    if (org.resourceType !== 'Organization') {
      throw badRequest('value', 'The NHSD-End-User-Organisation header must be an Organization resource', 'NHSD-End-User-Organisation');
    }
    odsCode = identifiers(org).find((i) => sameSystem(i.system, SYSTEMS.odsOrganizationCode))?.value;
    if (!odsCode) {
      throw badRequest('value', 'The NHSD-End-User-Organisation header must carry an ODS code identifier', 'NHSD-End-User-Organisation');
    }
    organisationName = typeof org.name === 'string' ? org.name : undefined;
  }

  let softwareIds: string[] = [];
  let softwareName: string | undefined;
  const softwareRaw = header(headers, 'nhsd-requesting-software');
  if (softwareRaw === undefined) {
    if (required) {
      throw badRequest('required', 'The NHSD-Requesting-Software header is required', 'NHSD-Requesting-Software');
    }
  } else {
    const device = decodeJsonHeader('NHSD-Requesting-Software', softwareRaw);
    if (device.resourceType !== 'Device') {
      throw badRequest('value', 'The NHSD-Requesting-Software header must be a Device resource', 'NHSD-Requesting-Software');
    }
    softwareIds = identifiers(device).map((i) => i.value).filter((v): v is string => typeof v === 'string');
    const names = device.deviceName;
    // deviceName is an array of {name,type} in R4; 1.8.0 corrected examples that sent a single object.
    const first = Array.isArray(names) ? names[0] : names;
    softwareName = first && typeof first === 'object' && typeof (first as { name?: unknown }).name === 'string'
      ? (first as { name: string }).name
      : undefined;
  }

  let practitionerRoleId: string | undefined;
  const practitionerRaw = header(headers, 'nhsd-requesting-practitioner');
  if (practitionerRaw !== undefined && practitionerRaw !== '') {
    const role = decodeJsonHeader('NHSD-Requesting-Practitioner', practitionerRaw);
    if (role.resourceType !== 'PractitionerRole') {
      throw badRequest('value', 'The NHSD-Requesting-Practitioner header must be a PractitionerRole resource', 'NHSD-Requesting-Practitioner');
    }
    practitionerRoleId = identifiers(role)[0]?.value;
  }
  return { odsCode, organisationName, softwareIds, softwareName, practitionerRoleId, target };
}

export interface AccessPolicy {
  readonly odsCodes: readonly string[];
  readonly softwareIds: readonly string[];
}

/**
 * The receiver's access control on the NHSD-* headers ("Authorisation is handled by Receivers"). A refusal is 401
 * REC_UNAUTHORIZED: the proxy replaces any receiver 403 with "TLS-MA failure" (spec §9.3).
 */
export function checkAccess(requester: Requester, policy: AccessPolicy): void {
  if (policy.odsCodes.length > 0 && (!requester.odsCode || !policy.odsCodes.includes(requester.odsCode.toUpperCase()))) {
    throw new BarsError('REC_UNAUTHORIZED', 'The sending organisation is not allowed to use this service', {
      issue: 'security',
      expression: 'NHSD-End-User-Organisation',
    });
  }
  if (policy.softwareIds.length > 0 && !requester.softwareIds.some((id) => policy.softwareIds.includes(id))) {
    throw new BarsError('REC_UNAUTHORIZED', 'The requesting software is not allowed to use this service', {
      issue: 'security',
      expression: 'NHSD-Requesting-Software',
    });
  }
}

/** Checks that NHSD-Target-Identifier, when sent, names one of our DoS services. */
export function checkTarget(requester: Requester, serviceIds: readonly string[]): void {
  const target = requester.target;
  if (target && (!sameSystem(target.system, SYSTEMS.dosServiceId) || !serviceIds.includes(target.value ?? ''))) {
    throw badRequest('value', 'NHSD-Target-Identifier does not name a service of this receiver', 'NHSD-Target-Identifier');
  }
}

export type Format = 'json' | 'xml';

/** Outcomes of negotiate() by Accept and `_format` (bounded; cleared when full). */
const negotiated = new Map<string, Format>();
const NEGOTIATED_MAX = 256;
const NEGOTIATED_MAX_LENGTH = 512;

/**
 * Chooses the response format from `_format` (which overrides Accept, as TKW's metadata schedules expect) or Accept,
 * and checks the major of Accept's `version=` ("only versions within the major version … should be considered
 * compatible", Versioning guide) → 406 REC_NOT_ACCEPTABLE.
 */
export function negotiate(accept: string | undefined, formatParam: string | undefined, apiMajor: number): Format {
  // A sender sends the same Accept on every request: its outcome is remembered (refusals are not: they throw).
  const cacheKey = `${apiMajor}\n${formatParam ?? ''}\n${accept ?? ''}`;
  const known = negotiated.get(cacheKey);
  if (known) {
    return known;
  }
  const format = negotiateOnce(accept, formatParam, apiMajor);
  if (cacheKey.length <= NEGOTIATED_MAX_LENGTH) {
    if (negotiated.size >= NEGOTIATED_MAX) {
      negotiated.clear();
    }
    negotiated.set(cacheKey, format);
  }
  return format;
}

function negotiateOnce(accept: string | undefined, formatParam: string | undefined, apiMajor: number): Format {
  let format: Format | undefined;
  if (formatParam) {
    const f = formatParam.toLowerCase();
    format = f.includes('xml') ? 'xml' : f.includes('json') ? 'json' : undefined;
    if (!format) {
      throw new BarsError('REC_NOT_ACCEPTABLE', 'The _format parameter must be json or xml', { expression: '_format' });
    }
  }
  if (!accept || accept.trim() === '') {
    return format ?? 'json';
  }
  let chosen: Format | undefined;
  let versionSeen: string | undefined;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim());
    const mediaType = type.toLowerCase();
    const version = params.find((p) => p.toLowerCase().startsWith('version='))?.slice('version='.length).replace(/"/g, '');
    const kind: Format | undefined =
      mediaType === 'application/fhir+json' || mediaType === 'application/json' || mediaType === '*/*' || mediaType === 'application/*'
        ? 'json'
        : mediaType === 'application/fhir+xml' || mediaType === 'application/xml'
          ? 'xml'
          : undefined;
    if (kind && !chosen) {
      chosen = kind;
      versionSeen = version;
    }
  }
  if (!chosen && !format) {
    throw new BarsError('REC_NOT_ACCEPTABLE', 'The Accept header must allow application/fhir+json or application/fhir+xml', {
      expression: 'Accept',
    });
  }
  if (versionSeen !== undefined) {
    const major = Number.parseInt(versionSeen, 10);
    if (!Number.isFinite(major) || major !== apiMajor) {
      throw new BarsError('REC_NOT_ACCEPTABLE', `Version ${versionSeen} in the Accept header is not supported; this receiver implements major version ${apiMajor}`, {
        expression: 'Accept',
      });
    }
  }
  return format ?? chosen ?? 'json';
}
