/*
 * Dead letters: messages a lane gave up on (an AR/CR the ACK policy says not to retry, max attempts reached, or
 * rendered content missing). The lane moves on; ops decide what happens next (ARCHITECTURE.md invariant 3):
 * - replay: queue it again, with the same MSH-10 (the PAS may de-duplicate) or a new one (the PAS refused the old
 *   one for good). A replay goes to the BACK of its lane: later messages have already been delivered, so check the
 *   trace before replaying something that may now be out of date (e.g. an A04 after the A08 that updated it).
 * - drop: give up on it for good; its text is deleted, its history kept.
 * Every replay and drop is written to an append-only audit list with the actor who did it.
 *
 * Keys: <p>:dlv:dead (sorted set, member "<destination>/<messageId>", score = time dead-lettered),
 *       <p>:dlv:deadrec:<destination>:<messageId> (hash: reason, detail, controlId, renderedKey, attempts, at),
 *       <p>:dlv:audit (list of JSON audit entries, newest last).
 */
import { randomBytes } from 'node:crypto';
import { withControlId } from './hl7-header.js';
import { appendEvent, deliveryKeys, getDeliveryHistory, type DeliveryHistory, type DeliveryStore } from './history.js';
import { laneKey, laneWakeups, wakeupName } from './lane-store.js';
import type { LaneEntry } from './lanes.js';
import { appendAudit, readAudit } from '../store/audit-log.js';

/** One dead letter as listed. */
export interface DeadLetter {
  readonly destination: string;
  readonly messageId: string;
  readonly controlId: string;
  /** `ack-AR`, `ack-CR`, `ack-AE` (policy dead-letter), `max-attempts`, `content-missing`. */
  readonly reason: string;
  /** MSA-3 text or error message (truncated). */
  readonly detail: string;
  readonly attempts: number;
  readonly deadLetteredAt: string;
}

/** One audit entry. */
export interface DeadLetterAudit {
  readonly at: string;
  readonly actor: string;
  readonly action: 'replay' | 'drop';
  readonly destination: string;
  readonly messageId: string;
  readonly detail: string;
}

const deadSet = (prefix: string): string => `${prefix}:dlv:dead`;
const deadRecord = (prefix: string, destination: string, messageId: string): string =>
  `${prefix}:dlv:deadrec:${destination}:${messageId}`;
const member = (destination: string, messageId: string): string => `${destination}/${messageId}`;

/** Thrown when a dead letter does not exist (already replayed or dropped, or a typo). */
export class DeadLetterNotFoundError extends Error {
  constructor(destination: string, messageId: string) {
    super(`no dead letter ${member(destination, messageId)}`);
    this.name = 'DeadLetterNotFoundError';
  }
}

/** Records that the lane gave up on a message (called by the lane processor). */
export async function recordDeadLetter(
  store: DeliveryStore,
  job: LaneEntry,
  why: { reason: string; detail?: string | undefined },
): Promise<void> {
  const now = new Date();
  const keys = deliveryKeys(store.prefix, job.destination, job.messageId);
  const attempts = Number((await store.redis.hget(keys.history, 'cycleAttempts')) ?? 0);
  await store.redis
    .multi()
    .hset(deadRecord(store.prefix, job.destination, job.messageId), {
      destination: job.destination,
      messageId: job.messageId,
      controlId: job.controlId,
      renderedKey: job.renderedKey,
      reason: why.reason,
      detail: why.detail ?? '',
      attempts,
      deadLetteredAt: now.toISOString(),
    })
    .zadd(deadSet(store.prefix), now.getTime(), member(job.destination, job.messageId))
    .hset(keys.history, { status: 'dead-lettered', deadLetteredAt: now.toISOString() })
    .rpush(
      keys.events,
      JSON.stringify({ at: now.toISOString(), type: 'dead-lettered', controlId: job.controlId, detail: why.reason }),
    )
    .exec();
}

function toDeadLetter(hash: Record<string, string>): DeadLetter {
  return {
    destination: hash.destination ?? '',
    messageId: hash.messageId ?? '',
    controlId: hash.controlId ?? '',
    reason: hash.reason ?? '',
    detail: hash.detail ?? '',
    attempts: Number(hash.attempts ?? 0),
    deadLetteredAt: hash.deadLetteredAt ?? '',
  };
}

/** Lists dead letters, oldest first, optionally for one destination. */
export async function listDeadLetters(
  store: DeliveryStore,
  options: { destination?: string; limit?: number } = {},
): Promise<DeadLetter[]> {
  const members = await store.redis.zrange(deadSet(store.prefix), '0', '-1');
  const wanted = members
    .map((m) => {
      const slash = m.indexOf('/');
      return { destination: m.slice(0, slash), messageId: m.slice(slash + 1) };
    })
    .filter((m) => options.destination === undefined || m.destination === options.destination)
    .slice(0, options.limit ?? 1000);
  const pipeline = store.redis.pipeline();
  for (const m of wanted) {
    pipeline.hgetall(deadRecord(store.prefix, m.destination, m.messageId));
  }
  const results = (await pipeline.exec()) ?? [];
  return results.map(([, hash]) => toDeadLetter(hash as Record<string, string>));
}

/** A dead letter with its full delivery history (attempts, ACK codes, errors). */
export async function showDeadLetter(
  store: DeliveryStore,
  destination: string,
  messageId: string,
): Promise<{ deadLetter: DeadLetter; history: DeliveryHistory | undefined }> {
  const hash = await store.redis.hgetall(deadRecord(store.prefix, destination, messageId));
  if (Object.keys(hash).length === 0) {
    throw new DeadLetterNotFoundError(destination, messageId);
  }
  return { deadLetter: toDeadLetter(hash), history: await getDeliveryHistory(store, destination, messageId) };
}

async function audit(store: DeliveryStore, entry: DeadLetterAudit): Promise<void> {
  await appendAudit(store.redis, store.prefix, 'dlv:audit', { ...entry });
}

/** The audit trail of dead-letter actions, newest last. */
export async function readDeadLetterAudit(store: DeliveryStore, limit = 100): Promise<DeadLetterAudit[]> {
  return (await readAudit(store.redis, store.prefix, 'dlv:audit', limit)) as DeadLetterAudit[];
}

/** A fresh MSH-10: 20 characters at most (the v2.4 length of MSH-10), unique enough per destination. */
export function newControlId(): string {
  return `R${Date.now().toString(36)}${randomBytes(4).toString('hex')}`.slice(0, 20).toUpperCase();
}

/** How a replay picks its MSH-10. */
export type ReplayControlId = { readonly mode: 'same' } | { readonly mode: 'new'; readonly controlId?: string };

/**
 * Queues a dead letter again at the back of its lane.
 * @param deps - store and producer queues.
 * @param who - actor (user or service account) recorded in the audit trail.
 * @returns the MSH-10 the replay will carry.
 */
export async function replayDeadLetter(
  deps: DeliveryStore,
  destination: string,
  messageId: string,
  who: { actor: string; controlId?: ReplayControlId; reason?: string },
): Promise<string> {
  const { redis, prefix } = deps;
  const guard = `${prefix}:dlv:replaying:${destination}:${messageId}`;
  if ((await redis.set(guard, who.actor, 'PX', 30000, 'NX')) === null) {
    throw new Error(`dead letter ${member(destination, messageId)} is being replayed or dropped by someone else`);
  }
  try {
    const { deadLetter } = await showDeadLetter(deps, destination, messageId);
    const record = await redis.hgetall(deadRecord(prefix, destination, messageId));
    const renderedKey = record.renderedKey ?? deliveryKeys(prefix, destination, messageId).text;
    const text = await redis.get(renderedKey);
    if (text === null) {
      throw new Error(`the rendered message of ${member(destination, messageId)} is gone; re-run the mapping instead`);
    }
    const choice = who.controlId ?? { mode: 'same' };
    const controlId = choice.mode === 'same' ? deadLetter.controlId : (choice.controlId ?? newControlId());
    const keys = deliveryKeys(prefix, destination, messageId);
    const now = new Date().toISOString();
    const multi = redis.multi().hincrby(keys.history, 'replays', 1);
    if (controlId !== deadLetter.controlId) {
      multi.set(renderedKey, withControlId(text, controlId));
    }
    // Back on the lane and out of the dead-letter set in one transaction: never both, never neither.
    await multi
      .hset(keys.history, { status: 'queued', controlId, cycleAttempts: 0 })
      .hdel(keys.history, 'deadLetteredAt')
      .rpush(laneKey(prefix, destination), messageId)
      .zrem(deadSet(prefix), member(destination, messageId))
      .del(deadRecord(prefix, destination, messageId))
      .exec();
    laneWakeups.emit(wakeupName(prefix, destination));
    const detail = `${choice.mode === 'same' ? 'same' : 'new'} MSH-10 ${controlId}${who.reason ? `: ${who.reason}` : ''}`;
    await appendEvent(deps, destination, messageId, { at: now, type: 'replayed', controlId, actor: who.actor, detail });
    await audit(deps, { at: now, actor: who.actor, action: 'replay', destination, messageId, detail });
    return controlId;
  } finally {
    await redis.del(guard);
  }
}

/** Gives up on a dead letter for good: deletes its text, keeps its history, audits who did it. */
export async function dropDeadLetter(
  store: DeliveryStore,
  destination: string,
  messageId: string,
  who: { actor: string; reason?: string },
): Promise<void> {
  const { redis, prefix } = store;
  const guard = `${prefix}:dlv:replaying:${destination}:${messageId}`;
  if ((await redis.set(guard, who.actor, 'PX', 30000, 'NX')) === null) {
    throw new Error(`dead letter ${member(destination, messageId)} is being replayed or dropped by someone else`);
  }
  try {
    const record = await redis.hgetall(deadRecord(prefix, destination, messageId));
    if (Object.keys(record).length === 0) {
      throw new DeadLetterNotFoundError(destination, messageId);
    }
    const keys = deliveryKeys(prefix, destination, messageId);
    const now = new Date().toISOString();
    const detail = who.reason ?? '';
    await redis
      .multi()
      .zrem(deadSet(prefix), member(destination, messageId))
      .del(deadRecord(prefix, destination, messageId))
      .del(record.renderedKey ?? keys.text)
      .hset(keys.history, { status: 'dropped' })
      .exec();
    await appendEvent(store, destination, messageId, { at: now, type: 'dropped', actor: who.actor, detail });
    await audit(store, { at: now, actor: who.actor, action: 'drop', destination, messageId, detail });
  } finally {
    await redis.del(guard);
  }
}
