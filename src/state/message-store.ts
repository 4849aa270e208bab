/*
 * The message store in Redis: every accepted message version (BaRS: "must store all previous versions of the
 * booking, including cancellations" and of referrals), the current state of each record, the X-Request-Id and
 * Bundle.id registers that make a resend harmless, and the patient index behind the demographic searches.
 *
 * Keys (prefix P, a Redis Cluster hash tag such as `{bars}`):
 *   P:req:<requestId>          hash  state committed|done|failed, messageId, committedAt, status, body (failed only)
 *   P:bundle:<bundleId>        string  messageId that used this Bundle.id
 *   P:msg:<messageId>          string  StoredMessage JSON (the bundle as acknowledged, with receiver ids)
 *   P:rec:<Type>:<id>          hash  current state of a ServiceRequest or Appointment record (see RecordState)
 *   P:rec:<Type>:<id>:versions list  messageIds, oldest first
 *   P:idx:<kind>:<value>       set   "Type/id" members: nhs, family, birthdate, postcode, identifier
 *   P:slot:<slotId>            set   Appointment ids holding the slot
 *   P:pending-enqueue          zset  messageIds stored but not yet confirmed in the inbound queue (score = ms)
 *   P:messages                 zset  every messageId by receipt time (trace, retention)
 */
import type { Redis } from 'ioredis';
import { runCommit, type CommitPlan } from './commit.js';
import type { Resource, StoredMessage } from '../protocol/bars/types.js';

export type RequestState =
  | { readonly state: 'new' }
  /** Stored; whether its inbound job exists decides between "processed" and "finish it" (routes.ts). */
  | { readonly state: 'committed'; readonly messageId: string; readonly committedAt: number }
  | { readonly state: 'done'; readonly messageId: string }
  | { readonly state: 'failed'; readonly status: number; readonly body: string };

export interface RecordState {
  readonly type: 'ServiceRequest' | 'Appointment';
  readonly id: string;
  readonly version: number;
  readonly status: string;
  /** Current root resource (ServiceRequest or Appointment) as last accepted. */
  readonly resource: Resource;
  readonly correlationId: string;
  readonly sourceEndpoint: string | undefined;
  readonly useCase: string | undefined;
  readonly encounterId: string | undefined;
  /** Status of our (receiver) Encounter: planned → arrived/in-progress → finished, or cancelled (PAS events). */
  readonly encounterStatus?: string;
  readonly reference: string | undefined;
  readonly patientId: string | undefined;
  /** Patient reference (fullUrl or Type/id) as the record was booked, for the cancellation cross-check. */
  readonly patientKey: PatientKey;
  /** Receiver ids issued for this record's resources → their meta.lastUpdated, for the update conflict rule. */
  readonly lastUpdatedById: Readonly<Record<string, string>>;
  /** Bundle.entry.fullUrl of each resource id as we stored it (the merge rule matches an entry by id and fullUrl). */
  readonly fullUrlById?: Readonly<Record<string, string>>;
  readonly slotId: string | undefined;
  readonly latestMessageId: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface PatientKey {
  readonly nhsNumber?: string;
  readonly family?: string;
  readonly given?: string;
  readonly birthDate?: string;
  readonly postcode?: string;
}

/** How long after its commit a message may still be waiting for its inbound job to be added by the first attempt. */
export const INFLIGHT_TTL_SECONDS = 30;

const FAIL_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'failed', 'status', ARGV[1], 'body', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`;

export class MessageStore {
  readonly redis: Redis;
  readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /**
   * What an earlier attempt of this X-Request-Id left, if anything. The claim itself is part of the message's commit
   * (process-message.ts), so a request costs no extra round trip; this read happens only for resends and refusals.
   */
  async requestState(requestId: string): Promise<RequestState> {
    const h = await this.redis.hgetall(this.key('req', requestId));
    switch (h.state) {
      case 'committed':
        return { state: 'committed', messageId: h.messageId ?? '', committedAt: Number(h.committedAt ?? 0) };
      case 'done':
        return { state: 'done', messageId: h.messageId ?? '' };
      case 'failed':
        return { state: 'failed', status: Number(h.status), body: h.body ?? '' };
      default:
        return { state: 'new' };
    }
  }

  /** Remembers a refusal so that a retry of the same request gets "the response that that failure would have generated". */
  async failRequest(requestId: string, status: number, body: string, ttlSeconds: number): Promise<void> {
    // Only when nothing is recorded yet: a resend that fails must not overwrite the outcome of the first attempt.
    await this.redis.eval(FAIL_SCRIPT, 1, this.key('req', requestId), String(status), body, String(ttlSeconds));
  }

  /** Marks the request done once its job is in the queue. */
  async completeRequest(requestId: string, messageId: string, ttlSeconds: number): Promise<void> {
    const key = this.key('req', requestId);
    await this.redis
      .multi()
      .hset(key, { state: 'done', messageId })
      .expire(key, ttlSeconds)
      .zrem(this.key('pending-enqueue'), messageId)
      .exec();
  }

  async commit(plan: CommitPlan): Promise<string> {
    return runCommit(this.redis, plan);
  }

  async getMessage(messageId: string): Promise<StoredMessage | undefined> {
    const raw = await this.redis.get(this.key('msg', messageId));
    return raw ? (JSON.parse(raw) as StoredMessage) : undefined;
  }

  async getRecord(type: 'ServiceRequest' | 'Appointment', id: string): Promise<RecordState | undefined> {
    const raw = await this.redis.hget(this.key('rec', type, id), 'state');
    return raw ? (JSON.parse(raw) as RecordState) : undefined;
  }

  async getRecordVersions(type: 'ServiceRequest' | 'Appointment', id: string): Promise<string[]> {
    return this.redis.lrange(this.key('rec', type, id, 'versions'), 0, -1);
  }

  /** Records whose index sets contain all the given index entries ("Type/id" members). */
  async search(type: 'ServiceRequest' | 'Appointment', terms: ReadonlyArray<readonly [kind: string, value: string]>): Promise<RecordState[]> {
    if (terms.length === 0) {
      return [];
    }
    const keys = terms.map(([kind, value]) => this.key('idx', kind, value));
    const members = keys.length === 1 ? await this.redis.smembers(keys[0]!) : await this.redis.sinter(...keys);
    const ids = members.filter((m) => m.startsWith(`${type}/`)).map((m) => m.slice(type.length + 1)).sort();
    const records = await Promise.all(ids.slice(0, 100).map((id) => this.getRecord(type, id)));
    return records.filter((r): r is RecordState => r !== undefined);
  }

  /** The record an identifier (`system|value`) was indexed under, if any. */
  async findByIdentifier(type: 'ServiceRequest' | 'Appointment', token: string): Promise<RecordState | undefined> {
    const found = await this.search(type, [['identifier', token.toLowerCase()]]);
    return found[0];
  }

  async slotHolders(slotId: string): Promise<string[]> {
    return this.redis.smembers(this.key('slot', slotId));
  }

  /** Messages stored longer than `olderThanMs` ago whose inbound job was never confirmed (crash between the two). */
  async pendingEnqueue(olderThanMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.key('pending-enqueue'), 0, Date.now() - olderThanMs, 'LIMIT', 0, 500);
  }

  async markEnqueued(messageId: string): Promise<void> {
    await this.redis.zrem(this.key('pending-enqueue'), messageId);
  }
}
