/*
 * The `pas-events` processor: one PAS-originated HL7 message (stored by the listener before it was ACKed) → the rule
 * for its message type → the record it names (by our reference or id) → a new status, kept as a new version of the
 * record state with the event in its history → a status event for the asynchronous BaRS responses.
 */
import type { Job } from 'bullmq';
import type { Counter } from 'prom-client';
import type { Logger } from '../../logging.js';
import { readHl7, valueAt } from '../../protocol/hl7/er7.js';
import type { MessageStore, RecordState } from '../../state/message-store.js';
import type { PasEventJobData } from './listener.js';
import { ruleFor, type PasEventRule } from './rules.js';
import { keepEvent } from './kept.js';
import type { RejectedReason } from '../../protocol/bars/response-events.js';

export interface StatusEvent {
  readonly event: PasEventRule['event'];
  readonly rule: string;
  readonly recordType: RecordState['type'];
  readonly recordId: string;
  readonly from: string | undefined;
  readonly to: string;
  /** MSH-10 of the PAS message. */
  readonly pasControlId: string;
  /** rejected-reasons-bars code of a rejection (rule `reasonCode`). */
  readonly reasonCode?: RejectedReason;
  readonly at: string;
}

export interface PasEventDeps {
  readonly store: MessageStore;
  readonly log: Logger;
  readonly rules: () => readonly PasEventRule[];
  readonly now: () => Date;
  /** Called once the new status is stored (the responses queue subscribes here). */
  readonly onStatus?: (event: StatusEvent, record: RecordState) => Promise<void>;
  /** How long unmatched and no-rule events are listed (their text expires with the listener's TTL). */
  readonly retentionMs: number;
  readonly metrics?: { readonly pasEventsProcessed: Counter<'result'> };
  /** Sees every stored PAS message before its status rule (the diary mirror, src/flows/diary/diary.ts). Must be idempotent. */
  readonly onMessage?: (text: string) => Promise<unknown>;
}

/** Longer than any id (FHIR id: 64) or reference of ours: such a value cannot name one of our records. */
const MAX_KEY = 64;

export type PasEventResult =
  | { readonly outcome: 'applied'; readonly event: StatusEvent }
  | { readonly outcome: 'unchanged' | 'no-rule' | 'no-record'; readonly messageType: string };

function fieldValue(text: string, path: string): string {
  const m = /^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?$/.exec(path)!;
  const segment = readHl7(text).find((s) => s.type === m[1]);
  return segment ? valueAt(segment, Number(m[2]), 1, Number(m[3] ?? 1), 1) : '';
}

const REASONS: readonly string[] = ['RRNA', 'FC', 'OTH'];

/** The rule's reason code: the field's value when it is a rejected-reasons-bars code, else the default. */
function reasonOf(text: string, spec: NonNullable<PasEventRule['reasonCode']>): RejectedReason {
  const v = spec.field ? fieldValue(text, spec.field).trim().toUpperCase() : '';
  return REASONS.includes(v) ? (v as RejectedReason) : spec.default;
}

export async function processPasEvent(job: Job<PasEventJobData>, deps: PasEventDeps): Promise<PasEventResult> {
  const result = await applyPasEvent(job, deps);
  deps.metrics?.pasEventsProcessed.inc({ result: result.outcome });
  return result;
}

async function applyPasEvent(job: Job<PasEventJobData>, deps: PasEventDeps): Promise<PasEventResult> {
  const { store, log } = deps;
  const text = await store.redis.get(store.keys.pasEvent(job.data.eventId));
  if (text === null) {
    throw new Error(`PAS event ${job.data.eventId} is not in the store`);
  }
  await deps.onMessage?.(text);
  const messageType = fieldValue(text, 'MSH-9.1') + '^' + fieldValue(text, 'MSH-9.2');
  const pasControlId = fieldValue(text, 'MSH-10.1');
  const rule = ruleFor(deps.rules(), messageType);
  if (!rule) {
    await keepEvent(store.redis, store.prefix, 'no-rule', job.data.eventId, deps.now().getTime(), deps.retentionMs);
    log.info({ eventId: job.data.eventId, messageType, pasControlId }, 'PAS event has no status rule; kept, not applied');
    return { outcome: 'no-rule', messageType };
  }
  const key = fieldValue(text, rule.find.field).trim();
  let record: RecordState | undefined;
  if (key && key.length <= MAX_KEY) {
    record =
      rule.find.by === 'id'
        ? await store.getRecord(rule.find.record, key.toLowerCase())
        : (await store.search(rule.find.record, [['reference', key.toLowerCase()]]))[0];
  }
  if (!record) {
    await keepEvent(store.redis, store.prefix, 'no-record', job.data.eventId, deps.now().getTime(), deps.retentionMs);
    log.warn({ eventId: job.data.eventId, messageType, pasControlId, rule: rule.name }, 'PAS event names no record of ours; kept as unmatched');
    return { outcome: 'no-record', messageType };
  }

  for (let attempt = 0; attempt < 5; attempt++) {
    const from = rule.set.encounter !== undefined ? record.encounterStatus : record.status;
    const to = (rule.set.encounter ?? rule.set.record)!;
    if (from === to) {
      return { outcome: 'unchanged', messageType };
    }
    const at = deps.now().toISOString();
    const next: RecordState = {
      ...record,
      version: record.version + 1,
      ...(rule.set.encounter !== undefined ? { encounterStatus: rule.set.encounter } : {}),
      ...(rule.set.record !== undefined ? { status: rule.set.record, resource: { ...record.resource, status: rule.set.record } } : {}),
      updatedAt: at,
    };
    const event: StatusEvent = {
      event: rule.event,
      rule: rule.name,
      recordType: record.type,
      recordId: record.id,
      from,
      to,
      pasControlId,
      at,
      ...(rule.reasonCode ? { reasonCode: reasonOf(text, rule.reasonCode) } : {}),
    };
    const outcome = await store.commit({
      keys: [store.keys.record(record.type, record.id), store.keys.recordEvents(record.type, record.id)],
      checks: [{ kind: 'field-equals', key: 1, field: 'version', value: String(record.version), fail: 'RECORD_CHANGED' }],
      writes: [
        { op: 'hset', key: 1, fields: { version: String(next.version), state: JSON.stringify(next) } },
        { op: 'rpush', key: 2, values: [JSON.stringify({ ...event, eventId: job.data.eventId })] },
      ],
    });
    if (outcome === 'OK') {
      // Applied: the raw message now belongs to the record's history and goes with the record (ops/retention.ts).
      await store.redis.persist(store.keys.pasEvent(job.data.eventId));
      log.info({ eventId: job.data.eventId, messageType, recordType: record.type, recordId: record.id, from, to, rule: rule.name }, 'PAS event applied');
      await deps.onStatus?.(event, next);
      return { outcome: 'applied', event };
    }
    record = (await store.getRecord(record.type, record.id))!;
  }
  throw new Error(`record ${record.id} kept changing while a PAS event was applied`);
}

/** The status history of a record (trace). */
export async function recordEvents(store: MessageStore, type: RecordState['type'], id: string): Promise<Array<StatusEvent & { eventId: string }>> {
  const raw = await store.redis.lrange(store.keys.recordEvents(type, id), 0, -1);
  return raw.map((r) => JSON.parse(r) as StatusEvent & { eventId: string });
}
