/*
 * What the console pages read, built on the same functions as the CLI (trace, lanes, dead letters, responses): one
 * way to read each thing. Every read here is bounded: a page never walks a whole key space.
 */
import type { Redis } from 'ioredis';
import { getLaneStatus, type LaneStatus } from '../flows/delivery/lanes.js';
import { listDeadLetters, type DeadLetter } from '../flows/delivery/dead-letters.js';
import { keyspace } from '../state/keys.js';
import { readLinkStatuses, type LinkStatus } from '../state/link-state.js';
import { messagesFor, traceMessage, type TracedMessage } from '../ops/trace.js';
import type { MessageStore, RecordState } from '../state/message-store.js';
import type { StoredMessage } from '../protocol/bars/types.js';
import type { ResponseRecord } from '../state/response-store.js';
import { ResponseStore } from '../state/response-store.js';

export interface DestinationRow {
  readonly destination: string;
  readonly link: LinkStatus;
  readonly lane: LaneStatus;
  /** ms since the head was queued. */
  readonly headAgeMs?: number;
  readonly deadLetters: number;
}

/** `ackText`: include the screened MSA-3 text of the last ACK (operators only: a PAS can echo patient data in it). */
export async function destinationRows(redis: Redis, prefix: string, destinations: readonly string[], now = Date.now(), options: { ackText?: boolean } = {}): Promise<DestinationRow[]> {
  const links = await readLinkStatuses(redis, prefix, destinations, { ackText: options.ackText === true });
  const dead = await listDeadLetters({ redis, prefix }, { limit: 100_000 });
  return Promise.all(
    destinations.map(async (destination, i) => {
      const lane = await getLaneStatus({ redis, prefix }, destination);
      let headAgeMs: number | undefined;
      if (lane.head) {
        const enqueuedAt = await redis.hget(keyspace(prefix).deliveryHistory(destination, lane.head.messageId), 'enqueuedAt');
        const since = Date.parse(enqueuedAt ?? lane.head.lastAttemptAt ?? '');
        headAgeMs = Number.isNaN(since) ? undefined : now - since;
      }
      return {
        destination,
        link: links[i] ?? { destination, state: 'unknown', delivered5m: 0, delivered1h: 0 },
        lane,
        ...(headAgeMs === undefined ? {} : { headAgeMs }),
        deadLetters: dead.filter((d) => d.destination === destination).length,
      };
    }),
  );
}

/** The first entries of a lane after its head, with their delivery summaries (drill-down). */
export async function laneEntries(redis: Redis, prefix: string, destination: string, limit = 50): Promise<Array<{ deliveryId: string; controlId: string; status: string; attempts: number; enqueuedAt: string; record: string }>> {
  const ids = await redis.lrange(keyspace(prefix).lane(destination), 0, limit - 1);
  const pipeline = redis.pipeline();
  for (const id of ids) {
    pipeline.hmget(keyspace(prefix).deliveryHistory(destination, id), 'controlId', 'status', 'cycleAttempts', 'enqueuedAt', 'record');
  }
  const rows = ((await pipeline.exec()) ?? []).map(([, v]) => v as Array<string | null>);
  return ids.map((deliveryId, i) => {
    const [controlId, status, attempts, enqueuedAt, record] = rows[i] ?? [];
    return { deliveryId, controlId: controlId ?? '', status: status ?? '', attempts: Number(attempts ?? 0), enqueuedAt: enqueuedAt ?? '', record: record ?? '' };
  });
}

export type MessageStatus = 'accepted' | 'mapped' | 'delivered' | 'dead-lettered' | 'held' | 'responded';
export const MESSAGE_STATUSES: readonly MessageStatus[] = ['accepted', 'mapped', 'delivered', 'dead-lettered', 'held', 'responded'];

/** One row of the message browser: ids and states only (what a viewer may see). */
export interface MessageRow {
  readonly messageId: string;
  readonly receivedAt: string;
  readonly workflow: string;
  readonly reference: string | undefined;
  readonly record: string;
  readonly status: MessageStatus;
  readonly outputs: ReadonlyArray<{ deliveryId: string; destination: string; controlId: string; status: string }>;
  readonly responses: number;
}

/** Responses queued for the message's record that belong to this message. */
export async function responsesOf(store: MessageStore, stored: Pick<StoredMessage, 'id' | 'recordId'>): Promise<ResponseRecord[]> {
  const responses = new ResponseStore(store);
  const items = await store.redis.lrange(store.keys.recordResponses(stored.recordId), 0, 99);
  const out: ResponseRecord[] = [];
  for (const item of items) {
    const r = await responses.get(item.split(':')[0]!);
    if (r && r.messageId === stored.id) {
      out.push(r);
    }
  }
  return out;
}

/** The state a message is in, from its outputs' delivery states and its responses. */
export function messageStatus(outputs: ReadonlyArray<{ status: string }>, respondedCount: number): MessageStatus {
  if (outputs.some((o) => o.status === 'dead-lettered')) {
    return 'dead-lettered';
  }
  if (outputs.some((o) => o.status === 'held')) {
    return 'held';
  }
  if (outputs.length > 0 && outputs.every((o) => o.status === 'delivered' || o.status === 'dropped')) {
    return respondedCount > 0 ? 'responded' : 'delivered';
  }
  if (outputs.length > 0) {
    return 'mapped';
  }
  return respondedCount > 0 ? 'responded' : 'accepted';
}

export async function messageRow(store: MessageStore, stored: StoredMessage, traced?: TracedMessage): Promise<MessageRow> {
  const t = traced ?? (await traceMessage(store, stored.id));
  const outputs = (t?.outputs ?? []).map((o) => ({
    deliveryId: o.deliveryId,
    destination: o.destination,
    controlId: o.delivery?.summary.controlId ?? o.controlId,
    status: o.delivery?.summary.status ?? 'not queued',
  }));
  const failures = (t?.mappingFailures ?? []).map((f) => ({ deliveryId: `${stored.id}.${f.mappingId}`, destination: '-', controlId: '', status: 'dead-lettered' }));
  const responded = (await responsesOf(store, stored)).filter((r) => r.state === 'delivered' || r.state === 'duplicate-delivered').length;
  const all = [...outputs, ...failures.filter((f) => !outputs.some((o) => o.deliveryId === f.deliveryId))];
  return {
    messageId: stored.id,
    receivedAt: stored.receivedAt,
    workflow: stored.workflow,
    reference: stored.reference,
    record: `${stored.recordType}/${stored.recordId}`,
    status: messageStatus(all, responded),
    outputs: all,
    responses: responded,
  };
}

export interface MessageFilter {
  /** Our reference, message id, X-Request-Id, Bundle id, MSH-10, record id, or (PHI) an NHS number. */
  readonly key?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly workflow?: string;
  readonly status?: MessageStatus;
  readonly destination?: string;
  /** Receipt time (ms) to page back from: rows strictly older. */
  readonly before?: number;
}

export const NHS_NUMBER = /^\d{10}$/;

/** Messages a key names (reference, ids, MSH-10) or, for an NHS number, every message of the patient's records. */
async function messagesForKey(store: MessageStore, key: string): Promise<StoredMessage[]> {
  if (!NHS_NUMBER.test(key)) {
    return messagesFor(store, key.trim());
  }
  const records: RecordState[] = [];
  for (const type of ['ServiceRequest', 'Appointment'] as const) {
    records.push(...(await store.search(type, [['nhs', key]])));
  }
  const out: StoredMessage[] = [];
  for (const r of records) {
    for (const id of await store.getRecordVersions(r.type, r.id)) {
      const m = await store.getMessage(id);
      if (m) {
        out.push(m);
      }
    }
  }
  return out;
}

/** Rows examined at most per page when browsing without a key (the receipt index is walked newest first). */
export const SCAN_LIMIT = 500;

/**
 * A page of the message browser, newest first. With a key, the messages it names (an index look-up each); without,
 * the receipt index `P:messages` walked back from `before` within the date range, at most SCAN_LIMIT entries per page
 * (`next` says where the following page starts, even when this one came back short because of the filters).
 */
export async function searchMessages(store: MessageStore, filter: MessageFilter, pageSize = 25): Promise<{ rows: MessageRow[]; next?: number; scanned: number }> {
  const matches = async (m: StoredMessage): Promise<MessageRow | undefined> => {
    if (filter.workflow && m.workflow !== filter.workflow) {
      return undefined;
    }
    const at = Date.parse(m.receivedAt);
    if ((filter.from && at < filter.from.getTime()) || (filter.to && at > filter.to.getTime())) {
      return undefined;
    }
    const row = await messageRow(store, m);
    if (filter.status && row.status !== filter.status) {
      return undefined;
    }
    if (filter.destination && !row.outputs.some((o) => o.destination === filter.destination)) {
      return undefined;
    }
    return row;
  };
  if (filter.key) {
    const found = await messagesForKey(store, filter.key);
    const rows: MessageRow[] = [];
    for (const m of found.slice(0, 200)) {
      const row = await matches(m);
      if (row) {
        rows.push(row);
      }
    }
    rows.sort((a, b) => b.receivedAt.localeCompare(a.receivedAt));
    return { rows: rows.slice(0, pageSize), scanned: found.length };
  }
  const max = filter.before !== undefined ? `(${filter.before}` : filter.to ? String(filter.to.getTime()) : '+inf';
  const min = filter.from ? String(filter.from.getTime()) : '-inf';
  const flat = await store.redis.zrevrangebyscore(store.keys.messages(), max, min, 'WITHSCORES', 'LIMIT', 0, SCAN_LIMIT);
  const rows: MessageRow[] = [];
  let next: number | undefined;
  let scanned = 0;
  for (let i = 0; i < flat.length; i += 2) {
    scanned += 1;
    const m = await store.getMessage(flat[i]!);
    const row = m ? await matches(m) : undefined;
    if (row) {
      rows.push(row);
    }
    if (rows.length === pageSize) {
      next = Number(flat[i + 1]);
      break;
    }
  }
  if (next === undefined && flat.length === SCAN_LIMIT * 2) {
    next = Number(flat[flat.length - 1]);
  }
  return { rows, ...(next === undefined ? {} : { next }), scanned };
}

export type { DeadLetter };
