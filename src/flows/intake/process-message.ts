/*
 * `$process-message` after the stateless checks: the stateful rules of spec §6 (Bundle.id not reused, cancellations
 * only of current records, updates older than what we hold → 409 conflict, slot already booked → 409), receiver ids
 * and the planned Encounter, then one atomic commit and the inbound job — all before the 200.
 */
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { SYSTEMS, sameSystem } from '../../protocol/bars/codes.js';
import { BarsError, badRequest, conflict, notFound, unprocessable } from '../../protocol/bars/errors.js';
import { assignIds, newReference } from '../../protocol/bars/receiver-ids.js';
import { findSlot, type GeneratedSlot } from './slots.js';
import type { ValidatedMessage } from '../../protocol/bars/validate-message.js';
import type { Resource, StoredMessage } from '../../protocol/bars/types.js';
import type { IntegrityIds } from '../../protocol/bars/headers.js';
import type { SlotSchedule } from '../../config/schema.js';
import { KeyTable, type Check, type CommitPlan, type Write } from '../../state/commit.js';
import type { MessageStore, PatientKey, RecordState } from '../../state/message-store.js';
import { enqueueInbound, type InboundJobData } from '../inbound/inbound.js';

/** The X-Request-Id was already recorded by an earlier attempt: answer as that attempt decided (routes.ts). */
export class RequestSeenError extends Error {
  constructor() {
    super('X-Request-Id already received');
    this.name = 'RequestSeenError';
  }
}

export interface AcceptDeps {
  readonly store: MessageStore;
  readonly inbound: Queue<InboundJobData>;
  readonly now: () => Date;
  readonly referencePrefix: string;
  readonly referenceSystem: string;
  readonly idempotencyTtlSeconds: number;
  readonly schedules: readonly SlotSchedule[];
  /** PAS appointments and blocks (not ours) on a slot, from the diary mirror (src/flows/diary/diary.ts). */
  readonly heldByPas?: (slot: GeneratedSlot) => Promise<number>;
}

export interface Accepted {
  readonly messageId: string;
  /**
   * The Bundle as acknowledged (receiver ids, planned Encounter), serialised as JSON, UTF-8: the bytes stored and sent
   * as the 200 body. Only bytes: the parsed Bundle is let go before the commit's round trip (see acceptMessage).
   */
  readonly bodyJson: Buffer;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const CURRENT: Record<string, readonly string[]> = { ServiceRequest: ['active', 'on-hold'], Appointment: ['booked'] };

export function patientKeyOf(patient: Resource | undefined): PatientKey {
  if (!patient) {
    return {};
  }
  const ids = (Array.isArray(patient.identifier) ? patient.identifier : []) as Array<{ system?: string; value?: string }>;
  const names = (Array.isArray(patient.name) ? patient.name : []) as Array<{ family?: string; given?: string[]; use?: string }>;
  const name = names.find((n) => n.use === 'official') ?? names[0];
  const addresses = (Array.isArray(patient.address) ? patient.address : []) as Array<{ postalCode?: string; use?: string }>;
  const address = addresses.find((a) => a.use === 'home') ?? addresses[0];
  return {
    nhsNumber: ids.find((i) => sameSystem(i.system, SYSTEMS.nhsNumber))?.value?.replace(/\s/g, ''),
    family: name?.family?.toLowerCase(),
    given: name?.given?.[0]?.toLowerCase(),
    birthDate: str(patient.birthDate),
    postcode: address?.postalCode?.replace(/\s/g, '').toUpperCase(),
  };
}

/**
 * "Key patient demographics should be cross-referenced" with the stored record (Cancellation page): every
 * demographic both sides carry must agree. A patient not yet identified (CAD to CAD C1 calls: no NHS number, name or
 * birth date) has nothing to contradict, so it matches.
 */
function samePatient(stored: PatientKey, incoming: PatientKey): boolean {
  return (['nhsNumber', 'birthDate', 'family'] as const).every((f) => !stored[f] || !incoming[f] || stored[f] === incoming[f]);
}

async function findExisting(msg: ValidatedMessage, store: MessageStore): Promise<RecordState | undefined> {
  const type = msg.root.resourceType as 'ServiceRequest' | 'Appointment';
  if (msg.root.id) {
    const byId = await store.getRecord(type, msg.root.id);
    if (byId) {
      return byId;
    }
  }
  // Senders that lost our id may identify the record by its business identifier (API 1.3.0 change log).
  const identifiers = (Array.isArray(msg.root.identifier) ? msg.root.identifier : []) as Array<{ system?: string; value?: string }>;
  for (const id of identifiers) {
    if (id.system && id.value) {
      const found = await store.findByIdentifier(type, `${id.system}|${id.value}`);
      if (found) {
        return found;
      }
    }
  }
  return undefined;
}

/** Stateful preconditions of updates and cancellations (spec §6 step 4, Cancellation page). */
function checkAgainstRecord(msg: ValidatedMessage, record: RecordState): void {
  const type = record.type;
  if (!CURRENT[type]!.includes(record.status)) {
    // "The Receiver must not process a cancellation request for a booking or referral which is not current".
    throw unprocessable('invariant', `${type} ${record.id} is ${record.status}, not current, so it cannot be ${msg.workflow.endsWith('cancel') ? 'cancelled' : 'updated'}`, `${type}.status`);
  }
  // "Key patient demographics should be cross-referenced" is a rule of the Cancellation page: a cancellation must be
  // about the record's patient. An update may correct the demographics (TKW update_service_request changes the name,
  // gender and birth date and expects 200), so updates are not cross-referenced.
  const cancelling = msg.workflow.endsWith('-cancel');
  const incomingPatient = patientKeyOf(msg.patient);
  if (cancelling && msg.patient && !samePatient(record.patientKey, incomingPatient)) {
    throw unprocessable('invariant', `The patient in this message does not match the patient of ${type} ${record.id}`, `${type}.subject`);
  }
  if (type === 'Appointment' && msg.workflow === 'booking-cancel') {
    // The cancelled Appointment itself must name the patient (a participant resolving to the message's Patient);
    // details that differ from the booking → 422 (TKW CancelAppointment_DifferencesDetected).
    const participants = (Array.isArray(msg.root.participant) ? msg.root.participant : []) as Array<{ actor?: unknown }>;
    const patientActor = participants.map((p) => msg.index.resolve(p?.actor)).find((r) => r?.resourceType === 'Patient');
    if (!msg.patient || !patientActor) {
      throw unprocessable('invariant', `Appointment.participant.actor does not refer to the patient of Appointment ${record.id}`, 'Appointment.participant');
    }
  }
  // Merge rule: an entry replaces ours only when its meta.lastUpdated is later (spec §6 step 4). Our own planned
  // Encounter is not the sender's to replace: a sender that echoes it back (TKW CADtoCAD Scenario_1 resends the copy
  // from our first 200) has its copy ignored, whatever its lastUpdated; we issue ours again (planAccept).
  for (const entry of msg.index.entries) {
    const r = entry.resource!;
    if (r.resourceType === 'Encounter' && r.id !== undefined && r.id === record.encounterId) {
      continue;
    }
    // "Replace a stored entry only when the incoming meta.lastUpdated is later and fullUrl matches": an entry whose
    // fullUrl is not the one we stored under its id is not that entry (TKW CADtoCAD_Update sends a second
    // PractitionerRole under the first one's id).
    const storedUrl = r.id ? record.fullUrlById?.[r.id] : undefined;
    if (storedUrl !== undefined && storedUrl !== entry.fullUrl) {
      continue;
    }
    const ours = r.id ? record.lastUpdatedById[r.id] : undefined;
    const theirs = r.meta?.lastUpdated;
    if (ours && theirs && Date.parse(theirs) < Date.parse(ours)) {
      throw conflict(`${r.resourceType}.meta.lastUpdated is older than the version this receiver holds; the record has been updated since`, `${r.resourceType}.meta.lastUpdated`);
    }
  }
}

function plannedEncounter(id: string, reference: string, referenceSystem: string, status: string, patientRef: string | undefined, at: string): Resource {
  return {
    resourceType: 'Encounter',
    id,
    meta: { lastUpdated: at, profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Encounter'] },
    // "This new 'planned' encounter will have both an Id and an Identifier value, indicating the Receiver's human
    // readable and local references" (APP1 Payloads, receiver's secondary Encounter).
    identifier: [{ system: referenceSystem, value: reference }],
    status,
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER', display: 'emergency' },
    ...(patientRef ? { subject: { reference: patientRef } } : {}),
  };
}

/**
 * Accepts a validated message: stateful checks, ids, atomic store, inbound job. Throws BarsError for refusals and
 * lets Redis errors propagate (the HTTP layer answers those with 503 REC_UNAVAILABLE).
 *
 * The parsed Bundle (a few hundred KB of objects for a referral) is dropped before the commit's round trip unless a
 * retry may need it: an async function keeps its parameters and locals while it waits, and the Bundles of every
 * request waiting for Redis were most of what each young-generation GC had to copy. Callers hand the message over in
 * a holder and keep no reference of their own.
 */
export async function acceptMessage(held: { msg?: ValidatedMessage }, ids: IntegrityIds, deps: AcceptDeps): Promise<Accepted> {
  const workflow = held.msg!.workflow;
  for (let attempt = 0; attempt < 3 && held.msg; attempt++) {
    const result = await tryAccept(held, ids, deps);
    if (result !== 'RECORD_CHANGED') {
      await enqueueInbound(deps.inbound, {
        messageId: result.messageId,
        workflow,
        requestId: ids.requestId,
        correlationId: ids.correlationId,
      });
      // No further write: the request stays `committed`, and the existence of its inbound job is what says it was
      // completed (a resend is then a duplicate, routes.ts). The worker's sweeper clears `pending-enqueue` off the
      // request path.
      return result;
    }
  }
  throw conflict('The record changed while this message was being processed; read it again and resend');
}

/**
 * One attempt. Only an update or cancellation (a record that exists) can lose the race for its record's version and
 * be tried again, so only then does `held` keep the message across the commit.
 */
async function tryAccept(held: { msg?: ValidatedMessage }, ids: IntegrityIds, deps: AcceptDeps): Promise<Accepted | 'RECORD_CHANGED'> {
  const existing = await findExistingFor(held.msg!, deps.store);
  const pasHeld = held.msg!.workflow === 'booking-new' && deps.heldByPas ? await pasHoldersOf(held.msg!, deps) : 0;
  const planned = planAccept(held.msg!, existing, ids, deps, pasHeld);
  if (!existing) {
    held.msg = undefined;
  }
  const outcome = await deps.store.commit(planned.plan);
  switch (outcome) {
    case 'OK':
      return { messageId: planned.messageId, bodyJson: planned.bodyJson };
    case 'BUNDLE_REUSED':
      throw badRequest(
        'invariant',
        `Bundle.id ${planned.bundleId} has already been received; a new message needs a new Bundle.id, and only the updates and cancellations of the record that first used it, from the same sender, may keep it`,
        'Bundle.id',
      );
    case 'SLOT_TAKEN':
      throw conflict(`Slot ${planned.slotId} is already booked`, 'Appointment.slot');
    case 'RECORD_CHANGED':
      return 'RECORD_CHANGED';
    case 'REQUEST_SEEN':
      throw new RequestSeenError();
    default:
      throw new BarsError('REC_SERVER_ERROR', 'The message could not be stored', { issue: 'no-store' });
  }
}

/** The record an update or cancellation is about (none for a new message); 404 when it is not known. */
async function findExistingFor(msg: ValidatedMessage, store: MessageStore): Promise<RecordState | undefined> {
  const isNew = /-new$/.test(msg.workflow) || msg.workflow.startsWith('response-');
  if (isNew) {
    return undefined;
  }
  const existing = await findExisting(msg, store);
  if (!existing) {
    throw notFound(`${msg.root.resourceType} ${msg.root.id ?? '(no id)'} is not known to this receiver`);
  }
  return existing;
}

interface PlannedAccept {
  readonly plan: CommitPlan;
  readonly messageId: string;
  readonly bodyJson: Buffer;
  readonly bundleId: string;
  readonly slotId: string | undefined;
}

/** Stateful checks, receiver ids, the planned Encounter and the commit plan: everything before the round trip. */
/** The booked Slot of a booking-new, as the sender names it (Appointment.slot, else the Bundle's Slot). */
function bookedSlot(msg: ValidatedMessage): Resource | undefined {
  const slotRef = Array.isArray(msg.root.slot) ? msg.root.slot[0] : undefined;
  return msg.index.resolve(slotRef) ?? msg.index.first('Slot');
}

/** PAS appointments already on the slot a booking names (0 when we do not offer it: planAccept refuses that). */
async function pasHoldersOf(msg: ValidatedMessage, deps: AcceptDeps): Promise<number> {
  const slot = bookedSlot(msg);
  const ours = slot?.id ? findSlot(deps.schedules, slot.id, str(slot.start) ?? str(msg.root.start)) : undefined;
  return ours ? deps.heldByPas!(ours) : 0;
}

/** The Bundle as we store and answer it: receiver ids assigned (kept for the record's own), our planned Encounter. */
function receiverBundle(msg: ValidatedMessage, existing: RecordState | undefined, deps: AcceptDeps, at: string) {
  const type = msg.root.resourceType as 'ServiceRequest' | 'Appointment';
  const keepIds = new Set(existing ? Object.keys(existing.lastUpdatedById) : []);
  const rootId = existing?.id;
  const patientId = existing?.patientId;
  const body = assignIds(msg.bundle, (r) => {
    if (r === msg.root) {
      return rootId;
    }
    if (r === msg.patient && patientId) {
      return patientId;
    }
    if (r.resourceType === 'Slot' && r.id) {
      // Slot ids are this receiver's own (served by GET /Slot; checked against the schedules below), so they are kept:
      // a fresh id would unlink the booking from its slot (TKW reads __APPT_SLOT_ID__ back from the booking response).
      return r.id;
    }
    return r.id && keepIds.has(r.id) ? r.id : undefined;
  }, msg.references);
  const index = body.entry!;
  const rootIndex = msg.index.entries.findIndex((e) => e.resource === msg.root);
  const root = index[rootIndex]!.resource!;
  const patientIndex = msg.patient ? msg.index.entries.findIndex((e) => e.resource === msg.patient) : -1;
  const patient = patientIndex >= 0 ? index[patientIndex]!.resource! : undefined;
  const patientFullUrl = patientIndex >= 0 ? index[patientIndex]!.fullUrl : undefined;

  let encounterId = existing?.encounterId;
  let reference = existing?.reference;
  if (encounterId) {
    // The sender's echo of our Encounter goes; ours is added below (same id and fullUrl, so references still resolve).
    body.entry = body.entry!.filter((e) => !(e.resource?.resourceType === 'Encounter' && e.resource.id === encounterId));
  }
  if (type === 'ServiceRequest' && !msg.workflow.startsWith('response-')) {
    encounterId ??= randomUUID();
    reference ??= newReference(deps.referencePrefix);
    const status = msg.workflow.endsWith('-cancel') ? 'cancelled' : 'planned';
    body.entry!.push({
      fullUrl: `urn:uuid:${encounterId}`,
      resource: plannedEncounter(encounterId, reference, deps.referenceSystem, status, patientFullUrl ?? (patient ? `Patient/${patient.id}` : undefined), at),
    });
  }
  if (msg.workflow === 'booking-new') {
    // "Appointment.created set by receiver in sync response" (APP1 Booking-Request-Payload).
    root.created = at;
  }
  return { type, body, root, patient, patientId, encounterId, reference };
}

/** The booking's Slot: one we offer and still free, in our bookings and in the PAS diary; its capacity left for us. */
function bookableSlot(msg: ValidatedMessage, root: Resource, deps: AcceptDeps, pasHeld: number): { slotId: string; capacity: number } {
  const slot = bookedSlot(msg);
  const slotId = slot?.id;
  if (!slotId) {
    throw badRequest('required', 'Appointment.slot must reference the Slot being booked', 'Appointment.slot');
  }
  // A Slot we never offered (no schedule generates it, which includes every Slot on an instance with no schedules)
  // cannot be free here. BaRS §6 pseudo-code accepts a new booking only when "Appointment.status=booked, slot free
  // (else 409 REC_CONFLICT conflict)", and the error table gives 409 REC_CONFLICT `conflict` for "slot not free";
  // its 422 codes are for an unsupported version/use case and a too-wide slot range only. So: 409, with a
  // diagnostic that says why, and never a 200 for a slot the PAS cannot have.
  const ours = findSlot(deps.schedules, slotId, str(slot?.start) ?? str(root.start));
  if (!ours) {
    throw conflict(`Slot ${slotId} is not a slot this service offers (unknown id or start time); search with GET /Slot first`, 'Appointment.slot');
  }
  const capacity = ours.schedule.capacity - pasHeld;
  if (capacity <= 0) {
    throw conflict(`Slot ${slotId} is already booked (in the PAS diary)`, 'Appointment.slot');
  }
  return { slotId, capacity };
}

/**
 * The stored message as bytes, and the 200 body as a view of the same bytes: the Bundle is serialised and encoded
 * once.
 */
function storedBytes(stored: StoredMessage): { storedJson: Buffer; bodyJson: Buffer } {
  const { bundle, ...storedHead } = stored;
  const head = `${JSON.stringify(storedHead).slice(0, -1)},"bundle":`;
  const bundleText = JSON.stringify(bundle);
  const headLength = Buffer.byteLength(head);
  const bundleLength = Buffer.byteLength(bundleText);
  const storedJson = Buffer.allocUnsafe(headLength + bundleLength + 1);
  storedJson.write(head, 0);
  storedJson.write(bundleText, headLength);
  storedJson.write('}', headLength + bundleLength);
  return { storedJson, bodyJson: storedJson.subarray(headLength, headLength + bundleLength) };
}

/** The patient index terms of a record (demographic searches) and its identifiers and our reference. */
function indexTermsOf(pkey: PatientKey, reference: string | undefined, root: Resource): Array<[string, string]> {
  const terms: Array<[string, string | undefined]> = [
    ['nhs', pkey.nhsNumber],
    ['family', pkey.family],
    ['birthdate', pkey.birthDate],
    ['postcode', pkey.postcode],
  ];
  if (reference) {
    // PAS events name the record by our reference (PV1-19 / RF1-6 in the default mappings).
    terms.push(['reference', reference.toLowerCase()]);
  }
  for (const id of (Array.isArray(root.identifier) ? root.identifier : []) as Array<{ system?: string; value?: string }>) {
    if (id.system && id.value) {
      terms.push(['identifier', `${id.system}|${id.value}`.toLowerCase()]);
    }
  }
  return terms.filter((t): t is [string, string] => Boolean(t[1]));
}

/** The record after this message: version, status, ids, and each resource's lastUpdated and fullUrl (merge rule). */
function nextRecord(
  msg: ValidatedMessage,
  existing: RecordState | undefined,
  ids: IntegrityIds,
  b: ReturnType<typeof receiverBundle>,
  the: { messageId: string; slotId: string | undefined; at: string },
): RecordState {
  const { body, root, patient, encounterId, reference } = b;
  const lastUpdatedById: Record<string, string> = { ...(existing?.lastUpdatedById ?? {}) };
  const fullUrlById: Record<string, string> = { ...(existing?.fullUrlById ?? {}) };
  for (const entry of body.entry!) {
    const r = entry.resource!;
    lastUpdatedById[r.id!] = r.meta?.lastUpdated ?? the.at;
    if (entry.fullUrl) {
      fullUrlById[r.id!] = entry.fullUrl;
    }
  }
  return {
    type: b.type,
    id: root.id!,
    version: (existing?.version ?? 0) + 1,
    status: str(root.status) ?? 'unknown',
    resource: root,
    correlationId: ids.correlationId,
    sourceEndpoint: msg.sourceEndpoint ?? existing?.sourceEndpoint,
    useCase: msg.useCase,
    encounterId,
    encounterStatus: msg.workflow.endsWith('-cancel') ? 'cancelled' : (existing?.encounterStatus ?? (encounterId ? 'planned' : undefined)),
    reference,
    patientId: patient?.id ?? b.patientId,
    patientKey: existing?.patientKey && !msg.patient ? existing.patientKey : patientKeyOf(patient),
    lastUpdatedById,
    fullUrlById,
    slotId: the.slotId,
    latestMessageId: the.messageId,
    createdAt: existing?.createdAt ?? the.at,
    updatedAt: the.at,
  };
}

function planAccept(msg: ValidatedMessage, existing: RecordState | undefined, ids: IntegrityIds, deps: AcceptDeps, pasHeld = 0): PlannedAccept {
  const { store } = deps;
  if (existing) {
    checkAgainstRecord(msg, existing);
  }
  const now = deps.now();
  const at = now.toISOString();
  const messageId = randomUUID();
  const b = receiverBundle(msg, existing, deps, at);
  const { type, body, root, encounterId, reference } = b;
  const booking = msg.workflow === 'booking-new' ? bookableSlot(msg, root, deps, pasHeld) : undefined;
  const slotId = booking?.slotId ?? existing?.slotId;

  const keys = new KeyTable();
  const recKey = keys.key(store.keys.record(type, root.id!));
  // Bundle.id is "generated by the originating sender of the message, retained in subsequent messages" (App1
  // Referral-Payload), and NHS England's CAD conversations (REFREQ8A→8D, 9A 1→3) keep one Bundle.id across the
  // initial referral and its updates. TKW's *_WithResentBundleID schedules resend an id on a new request and expect
  // 400. Both hold when a Bundle.id belongs to the record and sender that first used it: a new message needs an
  // unused one; an update or cancellation may reuse only the id of its own record, from the same sender.
  const bundleKey = keys.key(store.keys.bundle(msg.bundle.id!));
  const bundleOwner = `${type}/${root.id} ${msg.sourceEndpoint ?? existing?.sourceEndpoint ?? ''}`;
  const checks: Check[] = [
    // The X-Request-Id is claimed here, atomically with the message: a resend racing the first attempt loses.
    { kind: 'absent', key: keys.key(store.keys.request(ids.requestId)), fail: 'REQUEST_SEEN' },
    existing ? { kind: 'absent-or-owner', key: bundleKey, owner: bundleOwner, fail: 'BUNDLE_REUSED' } : { kind: 'absent', key: bundleKey, fail: 'BUNDLE_REUSED' },
  ];
  checks.push({ kind: 'field-equals', key: recKey, field: 'version', value: existing ? String(existing.version) : '', fail: 'RECORD_CHANGED' });
  const writes: Write[] = [];
  if (booking) {
    const slotKey = keys.key(store.keys.slot(booking.slotId));
    checks.push({ kind: 'set-below', key: slotKey, below: booking.capacity, fail: 'SLOT_TAKEN' });
    writes.push({ op: 'sadd', key: slotKey, members: [root.id!] });
  }
  if (msg.workflow === 'booking-cancel' && slotId) {
    writes.push({ op: 'srem', key: keys.key(store.keys.slot(slotId)), members: [root.id!] });
  }

  const record = nextRecord(msg, existing, ids, b, { messageId, slotId, at });
  const stored: StoredMessage = {
    id: messageId,
    workflow: msg.workflow,
    useCase: msg.useCase,
    requestId: ids.requestId,
    correlationId: ids.correlationId,
    bundleId: msg.bundle.id!,
    sourceEndpoint: msg.sourceEndpoint,
    destinationEndpoint: msg.destinationEndpoint,
    recordType: type,
    recordId: root.id!,
    encounterId,
    reference,
    receivedAt: at,
    bundle: body,
  };
  const { storedJson, bodyJson } = storedBytes(stored);
  writes.push(
    { op: 'set', key: bundleKey, value: `${messageId} ${bundleOwner}` },
    { op: 'set-arg', key: keys.key(store.keys.message(messageId)), value: storedJson },
    { op: 'hset', key: recKey, fields: { version: String(record.version), state: JSON.stringify(record) } },
    { op: 'rpush', key: keys.key(store.keys.recordVersions(type, root.id!)), values: [messageId] },
    { op: 'zadd', key: keys.key(store.keys.pendingEnqueue()), score: now.getTime(), member: messageId },
    { op: 'zadd', key: keys.key(store.keys.messages()), score: now.getTime(), member: messageId },
    // Receipt order, fixed inside the commit: delivery lanes leave in this order (ARCHITECTURE invariant 3).
    { op: 'seq', key: keys.key(store.keys.receivedSeq()), into: keys.key(store.keys.messageSeq(messageId)) },
    { op: 'hset', key: keys.key(store.keys.request(ids.requestId)), fields: { state: 'committed', messageId, committedAt: String(now.getTime()) } },
    { op: 'expire', key: keys.key(store.keys.request(ids.requestId)), ttl: deps.idempotencyTtlSeconds },
  );
  const member = `${type}/${root.id}`;
  for (const [kind, value] of indexTermsOf(record.patientKey, reference, root)) {
    writes.push({ op: 'sadd', key: keys.key(store.keys.index(kind, value)), members: [member] });
  }

  return { plan: { keys: keys.keys, checks, writes }, messageId, bodyJson, bundleId: msg.bundle.id!, slotId };
}
