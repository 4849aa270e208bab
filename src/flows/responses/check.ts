/*
 * Structural check of a response Bundle before it leaves: the BARSBundleMessage / BARSMessageHeader-servicerequest-
 * response constraints (IG StructureDefinition/*.xml: type message, timestamp, response 1..1, reason system fixed,
 * destination.receiver and sender present, focus present) and the MessageDefinition's resource cardinalities —
 * "payload conformance to MessageDefinitions is not checked as part of FHIR validation" (Message-Headers page), so the
 * sender of a message must check it as business logic. Returns every problem found (empty = fine).
 */
import { BundleIndex } from '../../protocol/bars/bundle.js';
import { SYSTEMS, sameSystem } from '../../protocol/bars/codes.js';
import type { Bundle, Resource } from '../../protocol/bars/types.js';
import { BUNDLE_PROFILE, HEADER_PROFILE } from './builder.js';
import { RESPONSE_DEFINITIONS } from './definitions.js';
import type { ResponseKind } from '../../protocol/bars/response-events.js';

/** The MessageHeader elements the check reads (loosely: the input is untrusted JSON). */
interface HeaderShape extends Resource {
  eventCoding?: { system?: string; code?: string };
  reason?: { coding?: Array<{ system?: string; code?: string }> };
  response?: { identifier?: unknown; code?: unknown };
  definition?: unknown;
  destination?: Array<{ endpoint?: string; receiver?: unknown }>;
  sender?: unknown;
  source?: { endpoint?: string; name?: unknown };
  focus?: unknown[];
}

const ENDPOINT = /^https?:\/\/\S+\|\S+$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

function collectReferences(node: unknown, out: string[]): void {
  if (Array.isArray(node)) {
    node.forEach((n) => collectReferences(n, out));
  } else if (node && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    if (typeof obj.reference === 'string') {out.push(obj.reference);}
    for (const v of Object.values(obj)) {if (v && typeof v === 'object') {collectReferences(v, out);}}
  }
}

/** Problems of `bundle` as a `kind` response (empty when it conforms). */
export function checkResponseBundle(bundle: Bundle, kind: ResponseKind): string[] {
  const def = RESPONSE_DEFINITIONS[kind];
  const problems: string[] = [];
  const p = (msg: string): void => void problems.push(msg);
  if (bundle.resourceType !== 'Bundle') {p('resourceType must be Bundle');}
  if (bundle.type !== 'message') {p('Bundle.type must be message');}
  if (typeof bundle.id !== 'string' || !FHIR_ID.test(bundle.id)) {p('Bundle.id must be a FHIR id');}
  if (typeof bundle.timestamp !== 'string') {p('Bundle.timestamp is required (BARSBundleMessage)');}
  if (!bundle.meta?.versionId) {p('Bundle.meta.versionId is required (the Application version)');}
  if (!bundle.meta?.lastUpdated) {p('Bundle.meta.lastUpdated is required');}
  if (!bundle.meta?.profile?.includes(BUNDLE_PROFILE)) {p(`Bundle.meta.profile must include ${BUNDLE_PROFILE}`);}
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  const fullUrls = new Set<string>();
  entries.forEach((e, i) => {
    if (!e.resource || typeof e.resource.resourceType !== 'string') {p(`Bundle.entry[${i}] has no resource`);}
    if (typeof e.fullUrl !== 'string' || !/^urn:uuid:[0-9a-f-]{36}$/i.test(e.fullUrl)) {p(`Bundle.entry[${i}].fullUrl must be a urn:uuid`);}
    else if (fullUrls.has(e.fullUrl)) {p(`Bundle.entry[${i}].fullUrl ${e.fullUrl} is not unique`);}
    else {fullUrls.add(e.fullUrl);}
    if (e.resource && (typeof e.resource.id !== 'string' || !FHIR_ID.test(e.resource.id))) {p(`Bundle.entry[${i}].resource.id must be the receiver's id`);}
  });
  const index = new BundleIndex(bundle);
  const header = entries[0]?.resource as HeaderShape | undefined;
  if (header?.resourceType !== 'MessageHeader') {
    p('Bundle.entry[0] must be the MessageHeader');
    return problems;
  }
  if (!header.meta?.profile?.includes(HEADER_PROFILE)) {p(`MessageHeader.meta.profile must include ${HEADER_PROFILE}`);}
  if (!sameSystem(header.eventCoding?.system, SYSTEMS.messageEvents) || header.eventCoding?.code !== 'servicerequest-response') {
    p('MessageHeader.eventCoding must be message-events-bars|servicerequest-response');
  }
  const reason = header.reason?.coding?.[0];
  if (!sameSystem(reason?.system, SYSTEMS.messageReason) || !['new', 'update'].includes(reason?.code ?? '')) {p('MessageHeader.reason must be message-reason-bars new|update');}
  if (typeof header.response?.identifier !== 'string' || header.response.identifier === '') {p('MessageHeader.response.identifier must be the original Bundle.id');}
  if (header.response?.code !== 'ok') {p('MessageHeader.response.code must be ok');}
  if (header.definition !== def.url) {p(`MessageHeader.definition must be ${def.url}`);}
  const dest = header.destination?.[0];
  if (!ENDPOINT.test(dest?.endpoint ?? '')) {p('MessageHeader.destination.endpoint must be system|value');}
  if (index.resolve(dest?.receiver)?.resourceType !== 'Organization') {p('MessageHeader.destination.receiver must resolve to an Organization');}
  if (index.resolve(header.sender)?.resourceType !== 'Organization') {p('MessageHeader.sender must resolve to an Organization');}
  if (!ENDPOINT.test(header.source?.endpoint ?? '')) {p('MessageHeader.source.endpoint must be system|value');}
  if (typeof header.source?.name !== 'string') {p('MessageHeader.source.name is required');}
  const focus = index.resolve(header.focus?.[0]);
  if (focus?.resourceType !== def.focus) {p(`MessageHeader.focus must resolve to the ${def.focus}`);}
  if (def.focus === 'Encounter' && typeof focus?.status !== 'string') {p('MessageHeader.focus Encounter must carry its status');}

  const counts = new Map<string, number>();
  for (const e of entries) {
    const t = e.resource?.resourceType;
    if (t) {counts.set(t, (counts.get(t) ?? 0) + 1);}
  }
  for (const [type, n] of counts) {
    const card = def.resources[type];
    if (!card) {p(`${type} is not part of ${def.url}`);}
    else if (card.max !== undefined && n > card.max) {p(`${type}: ${n} entries, max ${card.max}`);}
  }
  for (const [type, card] of Object.entries(def.resources)) {
    if ((counts.get(type) ?? 0) < card.min) {p(`${type}: ${counts.get(type) ?? 0} entries, min ${card.min}`);}
  }
  const refs: string[] = [];
  collectReferences(entries.map((e) => e.resource), refs);
  for (const ref of refs) {
    if (ref.startsWith('urn:uuid:') && !fullUrls.has(ref)) {p(`reference ${ref} does not resolve inside the Bundle`);}
  }
  return problems;
}
