/*
 * The message store in Redis: every accepted message version (BaRS: "must store all previous versions of the
 * booking, including cancellations" and of referrals), the current state of each record, the X-Request-Id and
 * Bundle.id registers that make a resend harmless, and the patient index behind the demographic searches.
 *
 * Keys (prefix P, a Redis Cluster hash tag such as `{bars}`):
 *   P:req:<requestId>          hash  state inflight|committed|done|failed, messageId, status, body (failed only)
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
import type { Resource, StoredMessage } from '../bars/types.js';

export type RequestState =
  | { readonly state: 'new' }
  | { readonly state: 'inflight' }
  | { readonly state: 'committed'; readonly messageId: string }
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

export const INFLIGHT_TTL_SECONDS = 30;

const CLAIM_SCRIPT = `
if redis.call('HSETNX', KEYS[1], 'state', 'inflight') == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return 1
end
return redis.call('HGETALL', KEYS[1])
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
   * Claims an X-Request-Id for processing, or reports what happened to it before. "Receiver stores X-Request-ID …
   * ahead of the message being processed but after any access control" (Transactional-integrity).
   */
  async beginRequest(requestId: string): Promise<RequestState> {
    const key = this.key('req', requestId);
    // One round trip: claim (with the in-flight expiry) or read what an earlier attempt left.
    const reply = (await this.redis.eval(CLAIM_SCRIPT, 1, key, String(INFLIGHT_TTL_SECONDS))) as string[] | number;
    if (reply === 1) {
      return { state: 'new' };
    }
    const flat = reply as string[];
    const h: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) {
      h[flat[i]!] = flat[i + 1]!;
    }
    switch (h.state) {
      case 'committed':
        // Stored but not yet confirmed in the queue: while the first attempt may still be finishing, the retry is
        // too early; after the in-flight window the first attempt is presumed dead and the retry completes it.
        if (Date.now() - Number(h.committedAt ?? 0) < INFLIGHT_TTL_SECONDS * 1000) {
          return { state: 'inflight' };
        }
        return { state: 'committed', messageId: h.messageId ?? '' };
      case 'done':
        return { state: 'done', messageId: h.messageId ?? '' };
      case 'failed':
        return { state: 'failed', status: Number(h.status), body: h.body ?? '' };
      default:
        return { state: 'inflight' };
    }
  }

  /** Remembers a refusal so that a retry of the same request gets "the response that that failure would have generated". */
  async failRequest(requestId: string, status: number, body: string, ttlSeconds: number): Promise<void> {
    const key = this.key('req', requestId);
    await this.redis.multi().hset(key, { state: 'failed', status: String(status), body }).expire(key, ttlSeconds).exec();
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

  /** Forgets an in-flight claim after a transient failure, so the sender's retry is processed afresh. */
  async releaseRequest(requestId: string): Promise<void> {
    const key = this.key('req', requestId);
    // Only an `inflight` claim is released; a committed message must keep its request id.
    await this.redis.eval(
      "if redis.call('HGET', KEYS[1], 'state') == 'inflight' then return redis.call('DEL', KEYS[1]) end return 0",
      1,
      key,
    );
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
