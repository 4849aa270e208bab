/*
 * Retention of stored messages (issue 6 §6). Completed BullMQ jobs are already age-limited by their queue options;
 * this prunes the message store itself.
 *
 * What may go: BaRS requires the receiver to "store all previous versions of the booking, including cancellations"
 * (and of referrals, spec §6) — a sender may update or cancel any current record, and the update/cancel rules compare
 * against what we hold. So a record is pruned only when it is no longer current (ServiceRequest revoked,
 * entered-in-error or completed; Appointment cancelled, entered-in-error, fulfilled or noshow — any other status,
 * including ones we do not know, is kept) AND nothing has touched it (new version, PAS event) for
 * `retention.messagesDays`. Then the whole record goes at once: its state, every version's message, and their
 * companions, so trace never shows half a history. A record with work still outstanding — an output not yet delivered
 * or dead-lettered on a lane, a response not yet finished — is kept: ops may still have to act on it.
 *
 * Deleted per record (key layout in store/message-store.ts, inbound-processor.ts, delivery/history.ts,
 * responses/response-store.ts): rec:<T>:<id> (+ :versions, :events), msg:<id> (+ :seq, :outputs, :mapping-failures),
 * req:<requestId>, the members in messages / pending-enqueue / mapping-failures, each output's out:<d> (+ :meta),
 * ctl:<MSH-10>, dlv:hist/events/text/dests, the PAS events' raw HL7 (pasev:msg, pasev:seen), the record's responses
 * (resp:<id>, resp:rec:<id>, resp:dead member), and the record's memberships of the patient index sets and its slot.
 *
 * Kept by default: bundle:<Bundle.id> (`retention.keepBundleIds`). BaRS says a Bundle.id must never be reused and we
 * refuse a reused one (400 invariant); the marker holds only our message id (no PHI, ~100 bytes), so keeping it
 * preserves that check for ever at a cost of ~10 MB per 100,000 messages. A trust that prefers bounded storage sets
 * it false and accepts that a Bundle.id older than the retention period would no longer be recognised.
 *
 * Never blocks the listener: each tick examines at most `batchSize` messages from the `messages` zset (oldest first,
 * ZRANGE by rank with LIMIT), reads with plain commands, and deletes one record per short Lua script (which also
 * re-checks the record version, so a record that changed since it was read is left alone). One worker prunes at a
 * time (a lock key). Logs carry counts only.
 */
import { KeyTable, runCommit, type Check, type CommitPlan, type Write } from '../state/commit.js';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { RecordState } from '../state/message-store.js';
import type { Resource, StoredMessage } from '../protocol/bars/types.js';
import { patientKeyOf } from '../flows/intake/process-message.js';
import { deliveryKeys } from '../flows/delivery/history.js';
import { readMessageHeader } from '../protocol/hl7/header.js';
import { pasEventSeenKey } from '../flows/pas-events/listener.js';
import { senderOf } from '../flows/pas-events/header-check.js';
import type { SequencedOutput } from '../flows/inbound/sequencer.js';
import { pruneAudit } from '../state/audit-log.js';

export type RetentionRules = Config['retention'];

const DAY_MS = 86_400_000;
const RECORDS_AT_ONCE = 8;

/** Statuses after which a record can no longer be updated or cancelled by its sender. */
const FINISHED: Readonly<Record<RecordState['type'], ReadonlySet<string>>> = {
  ServiceRequest: new Set(['revoked', 'entered-in-error', 'completed']),
  Appointment: new Set(['cancelled', 'entered-in-error', 'fulfilled', 'noshow']),
};

/** Current records keep every version (BaRS). Unknown statuses count as current: never delete what might be live. */
export function isCurrent(record: Pick<RecordState, 'type' | 'status'>): boolean {
  return !FINISHED[record.type]?.has(record.status);
}

/** Delivery statuses after which an output needs nothing more (history gone = delivered and expired). */
const OUTPUT_DONE = new Set(['delivered', 'dropped']);
const RESPONSE_DONE = new Set(['delivered', 'duplicate-delivered', 'dead-letter', 'dropped']);

export interface PruneCounts {
  examined: number;
  prunedRecords: number;
  prunedMessages: number;
  orphanMessages: number;
  keptCurrent: number;
  keptRecent: number;
  keptPending: number;
  changedWhilePruning: number;
}

const zero = (): PruneCounts => ({
  examined: 0,
  prunedRecords: 0,
  prunedMessages: 0,
  orphanMessages: 0,
  keptCurrent: 0,
  keptRecent: 0,
  keptPending: 0,
  changedWhilePruning: 0,
});

/**
 * What pruning one record (or one orphan message) deletes: keys and set/sorted-set members. Run through the one
 * commit interpreter (store/commit.ts) with a check that the record's version is still the one that was read, so a
 * record that changed meanwhile is left alone.
 */
class DeletePlan {
  private readonly table = new KeyTable();
  private readonly writes: Write[] = [];
  private readonly deleted = new Set<number>();
  private readonly guard: number | undefined;

  constructor(guard: string) {
    this.guard = guard === '' ? undefined : this.table.key(guard);
  }
  delete(...keys: string[]): void {
    for (const key of keys) {
      const i = this.table.key(key);
      if (!this.deleted.has(i)) {
        this.deleted.add(i);
        this.writes.push({ op: 'del', key: i });
      }
    }
  }
  sremove(key: string, member: string): void {
    this.writes.push({ op: 'srem', key: this.table.key(key), members: [member] });
  }
  zremove(key: string, member: string): void {
    this.writes.push({ op: 'zrem', key: this.table.key(key), members: [member] });
  }
  toCommitPlan(version: string): CommitPlan {
    const checks: Check[] = this.guard !== undefined && version !== '' ? [{ kind: 'field-equals', key: this.guard, field: 'version', value: version, fail: 'CHANGED' }] : [];
    return { keys: this.table.keys, checks, writes: this.writes };
  }
}

export class Pruner {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly rules: RetentionRules;
  private readonly now: () => number;
  /** Rank in `messages` of the first entry not yet examined in this pass (entries before it were kept). */
  private rank = 0;

  constructor(options: { redis: Redis; prefix: string; rules: RetentionRules; now?: () => number }) {
    this.redis = options.redis;
    this.prefix = options.prefix;
    this.rules = options.rules;
    this.now = options.now ?? Date.now;
  }

  /** The clock this pruner judges age by (tests move it). */
  nowMs(): number {
    return this.now();
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /**
   * Examines the next batch of old messages and prunes the finished, untouched records they belong to.
   * @returns counts, and whether the pass reached messages younger than the limit (then the next pass starts over).
   */
  async tick(counts: PruneCounts = zero()): Promise<{ counts: PruneCounts; passDone: boolean }> {
    const cutoff = this.now() - this.rules.messagesDays * DAY_MS;
    const flat = await this.redis.zrange(this.key('messages'), String(this.rank), String(this.rank + this.rules.batchSize - 1), 'WITHSCORES');
    const old: string[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      if (Number(flat[i + 1]) <= cutoff) {
        old.push(flat[i]!);
      }
    }
    const passDone = old.length < this.rules.batchSize;
    if (old.length === 0) {
      this.rank = 0;
      return { counts, passDone };
    }
    counts.examined += old.length;
    // Reads are batched (one MGET, one pipeline) and records are examined concurrently: a tick costs a few event-loop
    // turns, not one per Redis round trip, which matters when the worker shares its process with the listener.
    const raws = await this.redis.mget(...old.map((id) => this.key('msg', id)));
    const byRecord = new Map<string, { message: StoredMessage; entries: string[] }>();
    const orphans: StoredMessage[] = [];
    const gone: string[] = [];
    old.forEach((id, i) => {
      const raw = raws[i];
      if (raw === null || raw === undefined) {
        gone.push(id);
        return;
      }
      const message = JSON.parse(raw) as StoredMessage;
      const key = `${message.recordType}:${message.recordId}`;
      const group = byRecord.get(key);
      if (group) {
        group.entries.push(id);
      } else {
        byRecord.set(key, { message, entries: [id] });
      }
    });
    if (gone.length > 0) {
      // Members whose message is gone (an earlier, interrupted run): just drop them.
      await this.redis.zrem(this.key('messages'), ...gone);
    }
    const groups = [...byRecord.values()];
    const states = await this.redis.pipeline(groups.map((g) => ['hget', this.key('rec', g.message.recordType, g.message.recordId), 'state'])).exec();
    let kept = 0;
    const work: Array<() => Promise<void>> = groups.map((g, i) => async () => {
      const stateRaw = (states?.[i]?.[1] as string | null | undefined) ?? null;
      if (stateRaw === null) {
        orphans.push(...[g.message]);
        return;
      }
      if (!(await this.examine(JSON.parse(stateRaw) as RecordState, cutoff, counts, g.message))) {
        kept += g.entries.length;
      }
    });
    // A few records at a time: enough to hide round trips, few enough that a listener read is never queued behind
    // hundreds of pruner commands in Redis.
    for (let i = 0; i < work.length; i += RECORDS_AT_ONCE) {
      await Promise.all(work.slice(i, i + RECORDS_AT_ONCE).map((w) => w()));
    }
    for (const message of orphans) {
      // The record is gone but this version was left behind: it belongs to nothing current.
      const plan = new DeletePlan('');
      await this.planMessage(plan, message);
      if ((await this.run(plan, '')) === 1) {
        counts.orphanMessages++;
        counts.prunedMessages++;
      }
      // Other versions of the same missing record in this batch are handled on their own next pass.
      kept += (byRecord.get(`${message.recordType}:${message.recordId}`)?.entries.length ?? 1) - 1;
    }
    this.rank = passDone ? 0 : this.rank + kept;
    return { counts, passDone };
  }

  /** Runs ticks until the pass is done (CLI, tests). */
  async pass(): Promise<PruneCounts> {
    const counts = zero();
    for (;;) {
      const { passDone } = await this.tick(counts);
      if (passDone) {
        return counts;
      }
    }
  }

  /** Decides on one record and prunes it if it may go. @returns true when pruned. */
  private async examine(record: RecordState, cutoff: number, counts: PruneCounts, known: StoredMessage): Promise<boolean> {
    if (isCurrent(record)) {
      counts.keptCurrent++;
      return false;
    }
    if (Date.parse(record.updatedAt) > cutoff) {
      counts.keptRecent++;
      return false;
    }
    const recKey = this.key('rec', record.type, record.id);
    const versions = await this.redis.lrange(`${recKey}:versions`, 0, -1);
    const plan = new DeletePlan(recKey);
    const pending = { value: false };
    const others = versions.filter((id) => id !== known.id);
    const raws = others.length > 0 ? await this.redis.mget(...others.map((id) => this.key('msg', id))) : [];
    const messages: StoredMessage[] = [known];
    others.forEach((id, i) => {
      const raw = raws[i];
      if (raw) {
        messages.push(JSON.parse(raw) as StoredMessage);
      } else {
        plan.zremove(this.key('messages'), id);
      }
    });
    await Promise.all(messages.map((m) => this.planMessage(plan, m, pending)));
    await this.planResponses(plan, record, pending);
    if (pending.value) {
      counts.keptPending++;
      return false;
    }
    await this.planRecord(plan, record, messages);
    if ((await this.run(plan, String(record.version))) !== 1) {
      counts.changedWhilePruning++;
      return false;
    }
    counts.prunedRecords++;
    counts.prunedMessages += versions.length;
    return true;
  }

  /** One message version and what the worker made of it: outputs, delivery history, control-id look-ups. */
  private async planMessage(plan: DeletePlan, m: StoredMessage, pending?: { value: boolean }): Promise<void> {
    const id = m.id;
    const outputsKey = this.key('msg', id, 'outputs');
    const deliveryIds = await this.redis.smembers(outputsKey);
    const metas = deliveryIds.length > 0 ? await this.redis.mget(...deliveryIds.map((d) => `${this.key('out', d)}:meta`)) : [];
    const outputs = deliveryIds.map((deliveryId, i) => ({ deliveryId, meta: metas[i] ? (JSON.parse(metas[i]!) as SequencedOutput) : undefined }));
    const withMeta = outputs.filter((o) => o.meta !== undefined);
    const statuses = withMeta.length > 0
      ? await this.redis.pipeline(withMeta.map((o) => ['hget', deliveryKeys(this.prefix, o.meta!.destination, o.deliveryId).history, 'status'])).exec()
      : [];
    withMeta.forEach((o, i) => {
      const status = (statuses?.[i]?.[1] as string | null | undefined) ?? null;
      if (status !== null && !OUTPUT_DONE.has(status) && pending) {
        pending.value = true; // queued, being sent, held, or dead-lettered: ops may still need it
      }
      const keys = deliveryKeys(this.prefix, o.meta!.destination, o.deliveryId);
      plan.delete(keys.history, keys.events, keys.text, this.key('ctl', o.meta!.controlId));
    });
    if (pending && (await this.redis.exists(this.key('msg', id, 'mapping-failures'))) === 1) {
      // A mapping that failed is a dead letter with no output record (nothing was rendered): ops may still reprocess it.
      pending.value = true;
    }
    for (const { deliveryId } of outputs) {
      const outKey = this.key('out', deliveryId);
      plan.delete(outKey, `${outKey}:meta`, deliveryKeys(this.prefix, '', deliveryId).destinations);
    }
    plan.delete(this.key('msg', id), this.key('msg', id, 'seq'), outputsKey, this.key('msg', id, 'mapping-failures'), this.key('req', m.requestId));
    if (!this.rules.keepBundleIds) {
      plan.delete(this.key('bundle', m.bundleId));
    }
    plan.zremove(this.key('messages'), id);
    plan.zremove(this.key('pending-enqueue'), id);
    plan.zremove(this.key('mapping-failures'), id);
  }

  /** Responses queued for the record; any not finished keeps the record. */
  private async planResponses(plan: DeletePlan, record: RecordState, pending: { value: boolean }): Promise<void> {
    const listKey = this.key('resp', 'rec', record.id);
    for (const entry of await this.redis.lrange(listKey, 0, -1)) {
      const responseId = entry.slice(0, entry.lastIndexOf(':'));
      const state = await this.redis.hget(this.key('resp', responseId), 'state');
      if (state !== null && !RESPONSE_DONE.has(state)) {
        pending.value = true;
      }
      plan.delete(this.key('resp', responseId));
      plan.zremove(this.key('resp', 'dead'), responseId);
    }
    plan.delete(listKey);
  }

  /** The record itself, its PAS events and its index memberships (recomputed from every version, as commit wrote them). */
  private async planRecord(plan: DeletePlan, record: RecordState, messages: readonly StoredMessage[]): Promise<void> {
    const recKey = this.key('rec', record.type, record.id);
    for (const raw of await this.redis.lrange(`${recKey}:events`, 0, -1)) {
      const eventId = (JSON.parse(raw) as { eventId?: string }).eventId;
      if (!eventId) {
        continue;
      }
      const textKey = this.key('pasev', 'msg', eventId);
      const text = await this.redis.get(textKey);
      if (text !== null) {
        try {
          const h = readMessageHeader(text);
          plan.delete(pasEventSeenKey(this.prefix, senderOf(h), h.controlId));
        } catch {
          // unreadable header: the seen marker cannot be named; it holds an id only
        }
      }
      plan.delete(textKey);
    }
    plan.delete(recKey, `${recKey}:versions`, `${recKey}:events`);

    const member = `${record.type}/${record.id}`;
    const terms = new Set<string>();
    const addKey = (k: RecordState['patientKey']): void => {
      const pairs: Array<[string, string | undefined]> = [['nhs', k.nhsNumber], ['family', k.family], ['birthdate', k.birthDate], ['postcode', k.postcode]];
      for (const [kind, value] of pairs) {
        if (value) {
          terms.add(`${kind}:${value}`);
        }
      }
    };
    addKey(record.patientKey);
    const roots: Resource[] = [record.resource];
    for (const m of messages) {
      const resources = (m.bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
      resources.filter((r) => r.resourceType === 'Patient').forEach((p) => addKey(patientKeyOf(p)));
      roots.push(...resources.filter((r) => r.resourceType === record.type && r.id === record.id));
      if (m.reference) {
        terms.add(`reference:${m.reference.toLowerCase()}`);
      }
    }
    if (record.reference) {
      terms.add(`reference:${record.reference.toLowerCase()}`);
    }
    for (const root of roots) {
      for (const id of (Array.isArray(root.identifier) ? root.identifier : []) as Array<{ system?: string; value?: string }>) {
        if (id.system && id.value) {
          terms.add(`identifier:${`${id.system}|${id.value}`.toLowerCase()}`);
        }
      }
    }
    for (const term of terms) {
      const colon = term.indexOf(':');
      plan.sremove(this.key('idx', term.slice(0, colon), term.slice(colon + 1)), member);
    }
    if (record.slotId) {
      plan.sremove(this.key('slot', record.slotId), record.id);
    }
  }

  private async run(plan: DeletePlan, version: string): Promise<number> {
    const commitPlan = plan.toCommitPlan(version);
    if (commitPlan.keys.length === 0) {
      return 1;
    }
    return (await runCommit(this.redis, commitPlan)) === 'OK' ? 1 : 0;
  }
}

export interface RetentionRunner {
  /** Runs one tick now (tests). */
  tick(): Promise<{ counts: PruneCounts; passDone: boolean } | undefined>;
  stop(): Promise<void>;
}

/**
 * Runs passes in the worker: a tick every `tickMs` while a pass is running, then a pause of `passIntervalSeconds`.
 * Only the worker that holds the lock prunes; a pass's totals are logged once, counts only.
 */
export function startRetention(options: {
  readonly redis: Redis;
  readonly prefix: string;
  readonly rules: RetentionRules;
  readonly log: Logger;
  readonly metrics?: Metrics;
  readonly now?: () => number;
  /** Start the timer (default true). */
  readonly timer?: boolean;
}): RetentionRunner {
  const { redis, prefix, rules, log } = options;
  const pruner = new Pruner({ redis, prefix, rules, ...(options.now ? { now: options.now } : {}) });
  const lockKey = `${prefix}:retention:lock`;
  const token = randomUUID();
  let counts = zero();
  let passStarted = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<{ counts: PruneCounts; passDone: boolean } | undefined> | undefined;

  const holdLock = async (): Promise<boolean> => {
    const ttl = Math.max(30_000, rules.tickMs * 10);
    if ((await redis.set(lockKey, token, 'PX', ttl, 'NX')) === 'OK') {
      return true;
    }
    const extended = await redis.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0",
      1,
      lockKey,
      token,
      String(ttl),
    );
    return extended === 1;
  };

  const tickOnce = async (): Promise<{ counts: PruneCounts; passDone: boolean } | undefined> => {
    if (!(await holdLock())) {
      return undefined;
    }
    const before = { records: counts.prunedRecords, messages: counts.prunedMessages };
    const result = await pruner.tick(counts);
    options.metrics?.retentionPruned.inc({ kind: 'records' }, counts.prunedRecords - before.records);
    options.metrics?.retentionPruned.inc({ kind: 'messages' }, counts.prunedMessages - before.messages);
    if (result.passDone) {
      const audit = await pruneAudit(redis, prefix, new Date(pruner.nowMs() - rules.auditDays * DAY_MS));
      options.metrics?.retentionPruned.inc({ kind: 'audit' }, audit);
      if (counts.examined > 0 || audit > 0) {
        log.info({ ...counts, auditEntries: audit, days: rules.messagesDays, ms: Date.now() - passStarted }, 'retention pass done');
      }
      counts = zero();
      passStarted = Date.now();
      await redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, lockKey, token);
    }
    return result;
  };

  const tick = (): Promise<{ counts: PruneCounts; passDone: boolean } | undefined> =>
    (running ??= tickOnce().finally(() => (running = undefined)));

  const schedule = (ms: number): void => {
    if (stopped || options.timer === false) {
      return;
    }
    timer = setTimeout(() => {
      void tick().then(
        (r) => schedule(r === undefined || r.passDone ? rules.passIntervalSeconds * 1000 : rules.tickMs),
        (err: unknown) => {
          log.warn({ err: { message: (err as Error).message } }, 'retention tick failed; retrying later');
          schedule(rules.passIntervalSeconds * 1000);
        },
      );
    }, ms);
    timer.unref();
  };
  // The first pass starts a little after start-up, not in the middle of it.
  schedule(Math.min(30_000, rules.passIntervalSeconds * 1000));

  return {
    tick,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
