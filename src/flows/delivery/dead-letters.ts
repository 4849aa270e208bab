/*
 * Dead letters: messages that cannot be delivered (an AR/CR the ACK policy says not to retry, AE/CE until max
 * attempts, rendered content missing, or a mapping that failed to render it). Other records move on; the later
 * messages of the same record (referral or booking) are held behind it (lane-store.ts), so the PAS never gets an
 * update to something it did not receive. Ops decide what happens next (ARCHITECTURE.md invariant 3):
 * - replay: queue it again, with the same MSH-10 (the PAS may de-duplicate) or a new one (the PAS refused the old
 *   one for good). It goes back to its receipt position in its lane, and the messages held behind it follow it.
 *   A mapping failure has nothing to replay: `bars-bridge reprocess` renders it again with the current mappings.
 * - drop: give up on it for good; its text is deleted, its history kept, and what was held behind it is released.
 * Every replay and drop is written to an append-only audit list with the actor who did it.
 *
 * Keys: <p>:dlv:dead (sorted set, member "<destination>/<messageId>", score = time dead-lettered),
 *       <p>:dlv:deadrec:<destination>:<messageId> (hash: reason, detail, controlId, renderedKey, attempts, at),
 *       <p>:dlv:audit (list of JSON audit entries, newest last).
 */
import { randomBytes } from 'node:crypto';
import { withControlId } from '../../protocol/hl7/header.js';
import { appendEvent, deliveryKeys, getDeliveryHistory, type DeliveryHistory, type DeliveryStore } from './history.js';
import { deadLetterEntry, dropEntry, laneWakeups, replayEntry, wakeupName } from '../../state/lane-store.js';
import type { LaneEntry } from '../../state/lane-store.js';
import { appendAudit, readAudit } from '../../state/audit-log.js';

/** One dead letter as listed. */
export interface DeadLetter {
  readonly destination: string;
  readonly messageId: string;
  readonly controlId: string;
  /** `ack-AR`, `ack-CR`, `ack-AE` (policy dead-letter), `max-attempts`, `content-missing`, `mapping-failed`. */
  readonly reason: string;
  /** MSA-3 text or error message (truncated). */
  readonly detail: string;
  readonly attempts: number;
  readonly deadLetteredAt: string;
  /** `ServiceRequest/<id>` or `Appointment/<id>`, when known: its later messages are held behind this one. */
  readonly record?: string;
  /** Receipt position, when known. */
  readonly order?: number;
}

/** One audit entry. */
export interface DeadLetterAudit {
  readonly at: string;
  readonly actor: string;
  readonly action: 'replay' | 'drop' | 'reprocess';
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

/** Records that the lane gave up on a message (called by the lane owner); later messages of its record are held. */
export async function recordDeadLetter(
  store: DeliveryStore,
  job: LaneEntry,
  why: { reason: string; detail?: string | undefined },
): Promise<void> {
  await deadLetterEntry(
    store.redis,
    store.prefix,
    { destination: job.destination, id: job.messageId, controlId: job.controlId, renderedKey: job.renderedKey, reason: why.reason, detail: why.detail ?? '' },
    new Date(),
  );
}

function toDeadLetter(hash: Record<string, string>, hist: ReadonlyArray<string | null> = []): DeadLetter {
  const [record, order] = hist;
  return {
    ...(record ? { record } : {}),
    ...(order ? { order: Number(order) } : {}),
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
    pipeline.hmget(deliveryKeys(store.prefix, m.destination, m.messageId).history, 'record', 'order');
  }
  const results = ((await pipeline.exec()) ?? []).map(([, v]) => v);
  return wanted.map((_, i) => toDeadLetter(results[2 * i] as Record<string, string>, results[2 * i + 1] as Array<string | null>));
}

/** What a bulk replay did (or, dry run, would do) with one dead letter. */
export interface BulkReplayItem {
  readonly destination: string;
  readonly messageId: string;
  readonly reason: string;
  readonly deadLetteredAt: string;
  readonly result: 'replayed' | 'would replay' | 'needs reprocess' | 'failed';
  readonly detail?: string;
}

/**
 * Replays every dead letter that matches, in receipt order (a record's oldest first, so each releases what it held).
 * Mapping failures are listed as `needs reprocess`: there is nothing rendered to replay.
 * @param filter - `since`: dead-lettered at or after; `workflow`: of the message (looked up by `workflowOf`, given
 *   the message id before the `.<mapping>` suffix); `destination`.
 */
export async function replayDeadLetters(
  store: DeliveryStore,
  filter: { since?: Date; workflow?: string; destination?: string; workflowOf?: (messageId: string) => Promise<string | undefined> },
  who: { actor: string; dryRun?: boolean; reason?: string },
): Promise<BulkReplayItem[]> {
  const all = await listDeadLetters(store, { ...(filter.destination ? { destination: filter.destination } : {}), limit: 1_000_000 });
  const since = filter.since?.getTime();
  const chosen: DeadLetter[] = [];
  for (const d of all) {
    if (since !== undefined && Date.parse(d.deadLetteredAt) < since) {
      continue;
    }
    if (filter.workflow && (await filter.workflowOf?.(d.messageId.split('.')[0]!)) !== filter.workflow) {
      continue;
    }
    chosen.push(d);
  }
  chosen.sort((a, b) => (a.order ?? Number.MAX_SAFE_INTEGER) - (b.order ?? Number.MAX_SAFE_INTEGER) || a.deadLetteredAt.localeCompare(b.deadLetteredAt));
  const out: BulkReplayItem[] = [];
  for (const d of chosen) {
    const base = { destination: d.destination, messageId: d.messageId, reason: d.reason, deadLetteredAt: d.deadLetteredAt };
    if (d.reason === 'mapping-failed') {
      out.push({ ...base, result: 'needs reprocess' });
    } else if (who.dryRun) {
      out.push({ ...base, result: 'would replay' });
    } else {
      try {
        await replayDeadLetter(store, d.destination, d.messageId, { actor: who.actor, ...(who.reason ? { reason: who.reason } : {}) });
        out.push({ ...base, result: 'replayed' });
      } catch (err) {
        out.push({ ...base, result: 'failed', detail: (err as Error).message });
      }
    }
  }
  return out;
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

/** Appends to the audit trail of dead-letter and reprocess actions. */
export async function audit(store: DeliveryStore, entry: DeadLetterAudit): Promise<void> {
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
 * Queues a dead letter again at its receipt position in its lane (after what the lane's owner has already read);
 * the messages of its record held behind it follow it.
 * @param deps - store and producer queues.
 * @param who - actor (user or service account) recorded in the audit trail; `text` replaces the rendered message
 *   (reprocess after a mapping fix).
 * @returns the MSH-10 the replay will carry.
 */
export async function replayDeadLetter(
  deps: DeliveryStore,
  destination: string,
  messageId: string,
  who: { actor: string; controlId?: ReplayControlId; reason?: string; text?: { text: string; contentType: string }; action?: 'replay' | 'reprocess' },
): Promise<string> {
  const { redis, prefix } = deps;
  const guard = `${prefix}:dlv:replaying:${destination}:${messageId}`;
  if ((await redis.set(guard, who.actor, 'PX', 30000, 'NX')) === null) {
    throw new Error(`dead letter ${member(destination, messageId)} is being replayed or dropped by someone else`);
  }
  try {
    const { deadLetter } = await showDeadLetter(deps, destination, messageId);
    const record = await redis.hgetall(deadRecord(prefix, destination, messageId));
    const renderedKey = record.renderedKey || deliveryKeys(prefix, destination, messageId).text;
    let text = who.text?.text ?? (await redis.get(renderedKey));
    if (text === null) {
      throw new Error(
        deadLetter.reason === 'mapping-failed'
          ? `${member(destination, messageId)} was never rendered (mapping failed); fix the mapping, then: bars-bridge reprocess ${messageId.split('.')[0]}`
          : `the rendered message of ${member(destination, messageId)} is gone; re-run the mapping instead (bars-bridge reprocess)`,
      );
    }
    const choice = who.controlId ?? { mode: 'same' };
    const controlId = choice.mode === 'same' ? deadLetter.controlId : (choice.controlId ?? newControlId());
    if (controlId !== deadLetter.controlId) {
      text = withControlId(text, controlId);
    }
    const now = new Date();
    // Out of the dead-letter set and back on the lane (or held behind an earlier dead letter of its record) in one
    // script: never both, never neither.
    const placed = await replayEntry(
      redis,
      prefix,
      {
        destination,
        id: messageId,
        controlId,
        ...(who.text || controlId !== deadLetter.controlId ? { text: { text, contentType: who.text?.contentType ?? (await redis.hget(deliveryKeys(prefix, destination, messageId).history, 'contentType')) ?? '' } } : {}),
      },
      now,
    );
    if (!placed) {
      throw new DeadLetterNotFoundError(destination, messageId);
    }
    laneWakeups.emit(wakeupName(prefix, destination));
    const action = who.action ?? 'replay';
    const detail = `${choice.mode === 'same' ? 'same' : 'new'} MSH-10 ${controlId}${placed.heldBehind ? `; held behind dead letter ${placed.heldBehind}` : ''}${placed.released > 0 ? `; ${placed.released} held message(s) released` : ''}${who.reason ? `: ${who.reason}` : ''}`;
    const at = now.toISOString();
    await appendEvent(deps, destination, messageId, { at, type: action === 'replay' ? 'replayed' : 'reprocessed', controlId, actor: who.actor, detail });
    await audit(deps, { at, actor: who.actor, action, destination, messageId, detail });
    return controlId;
  } finally {
    await redis.del(guard);
  }
}

/** Gives up on a dead letter for good: deletes its text, keeps its history, releases what was held behind it, audits. */
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
    const now = new Date();
    const released = await dropEntry(redis, prefix, destination, messageId, now);
    if (released === undefined) {
      throw new DeadLetterNotFoundError(destination, messageId);
    }
    laneWakeups.emit(wakeupName(prefix, destination));
    const detail = `${who.reason ?? ''}${released > 0 ? `${who.reason ? '; ' : ''}${released} held message(s) released` : ''}`;
    const at = now.toISOString();
    await appendEvent(store, destination, messageId, { at, type: 'dropped', actor: who.actor, detail });
    await audit(store, { at, actor: who.actor, action: 'drop', destination, messageId, detail });
  } finally {
    await redis.del(guard);
  }
}
