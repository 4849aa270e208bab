/*
 * Redis state of the asynchronous responses, beside the message store and under the same prefix (hash tag):
 *   P:resp:<responseId>         hash  messageId, kind, event (JSON), requestId, correlationId, recordId, state,
 *                                     body (the Bundle, fixed at the first attempt), target, attempts, last*, dead letter
 *   P:resp:lane:<correlationId> list  responses of one conversation not yet finished, in order; the head is the one
 *                                     being sent (per-correlation-id ordering)
 *   P:resp:lanes                set   correlation ids whose lane is not empty (the sweeper's work list)
 *   P:resp:rec:<recordId>       list  "<responseId>:<kind>" of every response queued for a record (reason new/update)
 *   P:resp:dead                 zset  dead-lettered responseIds by time
 * Job data in BullMQ carries the response id only; everything else lives here.
 */
import type { MessageStore } from '../store/message-store.js';
import type { ResponseEvent, ResponseKind } from './types.js';

export type ResponseState = 'queued' | 'sending' | 'delivered' | 'duplicate-delivered' | 'dead-letter';
export const TERMINAL: ReadonlySet<ResponseState> = new Set<ResponseState>(['delivered', 'duplicate-delivered', 'dead-letter']);

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
}
