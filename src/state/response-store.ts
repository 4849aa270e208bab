/*
 * Redis state of the asynchronous responses, beside the message store and under the same prefix (hash tag):
 *   P:resp:<responseId>         hash  messageId, kind, event (JSON), requestId, correlationId, recordId, state,
 *                                     body (the Bundle, fixed at the first attempt), target, attempts, last*, dead letter
 *   P:resp:lane:<correlationId> list  responses of one conversation not yet finished, in order; the head is the one
 *                                     being sent (per-correlation-id ordering)
 *   P:resp:lanes                set   correlation ids whose lane is not empty (the sweeper's work list)
 *   P:resp:rec:<recordId>       list  "<responseId>:<kind>" of every response queued for a record (reason new/update)
 *   P:resp:dead                 zset  dead-lettered responseIds by time (replay or drop takes them out)
 *   P:resp:audit                list  JSON entries of every replay and drop with its actor, newest last (bounded:
 *                                     store/audit-log.ts)
 * Job data in BullMQ carries the response id only; everything else lives here.
 */
import type { MessageStore } from './message-store.js';
import type { ResponseEvent, ResponseKind } from '../protocol/bars/response-events.js';
import { appendAudit, readAudit, type AuditEntry } from './audit-log.js';

export type ResponseState = 'queued' | 'sending' | 'delivered' | 'duplicate-delivered' | 'dead-letter' | 'dropped';
export const TERMINAL: ReadonlySet<ResponseState> = new Set<ResponseState>(['delivered', 'duplicate-delivered', 'dead-letter', 'dropped']);

/** One queued response as stored. */
export interface ResponseRecord {
  readonly id: string;
  readonly messageId: string;
  readonly kind: ResponseKind;
  readonly event: ResponseEvent;
  /** X-Request-Id of this response: new for the response, the same on every retry of it. */
  readonly requestId: string;
  readonly correlationId: string;
  readonly recordId: string;
  readonly state: ResponseState;
  readonly createdAt: string;
  readonly attempts: number;
  readonly body?: string;
  readonly bundleId?: string;
  readonly target?: string;
  readonly useContext?: string;
  readonly lastStatus?: number;
  readonly lastReason?: string;
  readonly operationOutcome?: unknown;
  readonly finishedAt?: string;
  /** Why it was dead-lettered. */
  readonly deadReason?: string;
}

const ENQUEUE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('RPUSH', KEYS[4], ARGV[1] .. ':' .. ARGV[3])
local n = redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
return n
`;

const ADVANCE = `
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then redis.call('LPOP', KEYS[1]) end
local nxt = redis.call('LINDEX', KEYS[1], 0)
if not nxt then redis.call('SREM', KEYS[2], ARGV[2]) return false end
return nxt
`;

// A dead letter goes back to the tail of its conversation's lane: state queued, attempts and the last answer
// cleared, out of the dead set — in one script, so it is never both dead and queued, nor neither. ARGV[3] = '1'
// forgets the fixed body (rebuilt at the next attempt, with a new X-Request-Id in ARGV[4]: a new request, not a retry).
const REPLAY_DEAD = `
if redis.call('HGET', KEYS[1], 'state') ~= 'dead-letter' then return -1 end
if redis.call('LINDEX', KEYS[3], 0) == ARGV[1] then return -2 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'queued', 'attempts', '0')
redis.call('HDEL', KEYS[1], 'finishedAt', 'deadReason', 'lastStatus', 'lastReason', 'operationOutcome')
if ARGV[3] == '1' then
  redis.call('HDEL', KEYS[1], 'body', 'bundleId', 'target', 'useContext')
  redis.call('HSET', KEYS[1], 'requestId', ARGV[4])
end
local n = redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
return n
`;

export class ResponseStore {
  readonly store: MessageStore;
  constructor(store: MessageStore) {
    this.store = store;
  }

  private k(...parts: string[]): string {
    return this.store.key('resp', ...parts);
  }

  /**
   * Records a new response and appends it to its conversation's lane, atomically.
   * @returns the lane length after the append (1 = it is the head and must be scheduled), or -1 if it already existed.
   */
  async add(r: ResponseRecord): Promise<number> {
    const fields: string[] = [];
    for (const [key, value] of Object.entries(r)) {
      if (value !== undefined) {fields.push(key, typeof value === 'string' ? value : JSON.stringify(value));}
    }
    return (await this.store.redis.eval(
      ENQUEUE,
      4,
      this.k(r.id),
      this.k('lane', r.correlationId),
      this.k('lanes'),
      this.k('rec', r.recordId),
      r.id,
      r.correlationId,
      r.kind,
      ...fields,
    )) as number;
  }

  async get(id: string): Promise<ResponseRecord | undefined> {
    const h = await this.store.redis.hgetall(this.k(id));
    if (!h.id) {return undefined;}
    const json = (v: string | undefined): unknown => (v === undefined ? undefined : JSON.parse(v));
    return {
      ...(h as unknown as ResponseRecord),
      event: json(h.event) as ResponseEvent,
      attempts: Number(h.attempts ?? 0),
      lastStatus: h.lastStatus === undefined ? undefined : Number(h.lastStatus),
      operationOutcome: json(h.operationOutcome),
    };
  }

  async update(id: string, fields: Partial<Omit<ResponseRecord, 'id'>>): Promise<void> {
    const flat: Record<string, string> = {};
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) {flat[key] = typeof value === 'string' ? value : JSON.stringify(value);}
    }
    await this.store.redis.hset(this.k(id), flat);
  }

  /** Fixes the body of the response once: a retry must send the same body (Definition-of-a-retry page). */
  async fixBody(id: string, body: string, bundleId: string, target: string, useContext: string): Promise<string> {
    const set = await this.store.redis.hsetnx(this.k(id), 'body', body);
    if (set === 1) {
      await this.store.redis.hset(this.k(id), { bundleId, target, useContext });
      return body;
    }
    return (await this.store.redis.hget(this.k(id), 'body'))!;
  }

  async deadLetter(id: string, fields: { deadReason: string; lastStatus?: number; lastReason?: string; operationOutcome?: unknown; at: string }): Promise<void> {
    await this.update(id, { state: 'dead-letter', finishedAt: fields.at, deadReason: fields.deadReason, lastStatus: fields.lastStatus, lastReason: fields.lastReason, operationOutcome: fields.operationOutcome });
    await this.store.redis.zadd(this.k('dead'), Date.parse(fields.at), id);
  }

  /** Kinds of the responses queued for the record before `id`, oldest first. */
  async previousKinds(recordId: string, id: string): Promise<ResponseKind[]> {
    const all = await this.store.redis.lrange(this.k('rec', recordId), 0, -1);
    const out: ResponseKind[] = [];
    for (const item of all) {
      const [rid, kind] = item.split(':');
      if (rid === id) {break;}
      out.push(kind as ResponseKind);
    }
    return out;
  }

  /** Removes `id` from the head of its lane; returns the next response id of the conversation, if any. */
  async advance(correlationId: string, id: string): Promise<string | undefined> {
    const next = (await this.store.redis.eval(ADVANCE, 2, this.k('lane', correlationId), this.k('lanes'), id, correlationId)) as string | null;
    return next ?? undefined;
  }

  async laneHead(correlationId: string): Promise<string | undefined> {
    return (await this.store.redis.lindex(this.k('lane', correlationId), 0)) ?? undefined;
  }

  async lanes(): Promise<string[]> {
    return this.store.redis.smembers(this.k('lanes'));
  }

  async deadLetters(limit = 100): Promise<string[]> {
    return this.store.redis.zrange(this.k('dead'), '0', String(limit - 1));
  }

  /**
   * Puts a dead-lettered response back at the tail of its conversation's lane.
   * @returns the lane length after the append (1: it is the head and needs a job), -1 when it is not a dead letter,
   *   -2 when the lane has not yet handed on from it (the job that dead-lettered it is still finishing).
   */
  async requeueDead(record: ResponseRecord, rebuild: { requestId: string } | undefined): Promise<number> {
    return (await this.store.redis.eval(
      REPLAY_DEAD,
      4,
      this.k(record.id),
      this.k('dead'),
      this.k('lane', record.correlationId),
      this.k('lanes'),
      record.id,
      record.correlationId,
      rebuild ? '1' : '0',
      rebuild?.requestId ?? '',
    )) as number;
  }

  /** Takes a dead letter out of the dead set for good, keeping its record (state `dropped`). False if it was not one. */
  async dropDead(id: string, at: string): Promise<boolean> {
    const removed = await this.store.redis.zrem(this.k('dead'), id);
    if (removed === 1) {
      await this.update(id, { state: 'dropped', finishedAt: at });
    }
    return removed === 1;
  }

  async audit(entry: AuditEntry): Promise<void> {
    await appendAudit(this.store.redis, this.store.prefix, 'resp:audit', entry);
  }

  async readAudit(limit = 100): Promise<unknown[]> {
    return readAudit(this.store.redis, this.store.prefix, 'resp:audit', limit);
  }
}
