/*
 * Reprocess: render stored messages again with the mappings as they are now (after a mapping fix) and hand what
 * comes out to the lanes in receipt order, audited with who asked (`bars-bridge reprocess`).
 *
 * Per output of each message, by what its delivery is now:
 * - never queued (a mapping failure from before dead letters, a new mapping): handed on through the sequencer
 *   (handOffInReceiptOrder: in the flush while its number is ahead of the cursor, else at its receipt position);
 * - a dead letter (mapping failure, or a PAS refusal of the old rendering): its text is replaced by the new render and
 *   it is replayed to its receipt position, the later messages of its record that were held behind it following it;
 *   if the render fails again it stays a dead letter with the new reason;
 * - delivered, queued, in flight or held: left alone (the PAS has it, or the lane will send it in its turn).
 * Messages are taken in receipt order, so a record's dead letters are replayed oldest first.
 */
import type { StoredMessage } from '../../protocol/bars/types.js';
import { audit, replayDeadLetter } from '../delivery/dead-letters.js';
import { MappingError, messageRenderer, type MappingRegistry } from '../../mapping/index.js';
import type { MessageStore } from '../../state/message-store.js';
import { controlIdFor, failedOutput, receiptOrder, recordOf, type MappingFailure } from './inbound-processor.js';
import { handOffInReceiptOrder, type SequencedOutput, type SequencerDeps } from './sequencer.js';

export interface ReprocessDeps {
  readonly store: MessageStore;
  /** The mappings as they are now. */
  readonly mappings: MappingRegistry;
  /** Destinations this deployment delivers to; mappings for others are inactive. */
  readonly destinations: ReadonlySet<string>;
  readonly sequencer: SequencerDeps;
  readonly now?: () => Date;
}

/** What to reprocess: one message or record, or every message with a dead letter. */
export type ReprocessTarget =
  | { readonly kind: 'key'; readonly key: string }
  | { readonly kind: 'failed'; readonly since?: Date; readonly workflow?: string };

/** What happened to one output. */
export interface ReprocessedOutput {
  readonly deliveryId: string;
  readonly destination: string;
  readonly result: 'queued' | 'replayed' | 'failed' | 'delivered' | 'waiting' | 'would go' | 'would fail';
  /** The failure's first problem, or the dead letter it is now held behind. */
  readonly detail?: string;
}

export interface ReprocessedMessage {
  readonly messageId: string;
  readonly workflow: string;
  readonly outputs: readonly ReprocessedOutput[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Message ids of a target, in receipt order. */
export async function selectMessages(store: MessageStore, target: ReprocessTarget): Promise<string[]> {
  const ids = new Set<string>();
  if (target.kind === 'key') {
    const key = target.key.trim();
    if (await store.getMessage(key)) {
      ids.add(key);
    } else {
      const records = [];
      if (UUID.test(key)) {
        for (const type of ['ServiceRequest', 'Appointment'] as const) {
          const r = await store.getRecord(type, key.toLowerCase());
          if (r) {
            records.push(r);
          }
        }
      }
      for (const type of ['ServiceRequest', 'Appointment'] as const) {
        records.push(...(await store.search(type, [['reference', key.toLowerCase()]])));
      }
      for (const r of records) {
        for (const id of await store.getRecordVersions(r.type, r.id)) {
          ids.add(id);
        }
      }
    }
  } else {
    const from = target.since ? String(target.since.getTime()) : '-inf';
    // Dead letters (member "<destination>/<messageId>.<mappingId>"), and mapping failures recorded before mapping
    // failures became dead letters.
    for (const member of await store.redis.zrangebyscore(store.keys.deadLetters(), from, '+inf')) {
      const deliveryId = member.slice(member.indexOf('/') + 1);
      ids.add(deliveryId.split('.')[0]!);
    }
    for (const id of await store.redis.zrangebyscore(store.keys.mappingFailures(), from, '+inf')) {
      ids.add(id);
    }
  }
  const list = [...ids];
  const seqs = list.length > 0 ? await store.redis.mget(list.map((id) => store.keys.messageSeq(id))) : [];
  const withSeq = list.map((id, i) => ({ id, seq: seqs[i] === null || seqs[i] === undefined ? Number.MAX_SAFE_INTEGER : Number(seqs[i]) }));
  withSeq.sort((a, b) => a.seq - b.seq || a.id.localeCompare(b.id));
  if (target.kind === 'failed' && target.workflow) {
    const out: string[] = [];
    for (const { id } of withSeq) {
      if ((await store.getMessage(id))?.workflow === target.workflow) {
        out.push(id);
      }
    }
    return out;
  }
  return withSeq.map((x) => x.id);
}

/**
 * Renders each message of the target again and hands its outputs on (see the file comment).
 * @param who - actor written to the audit trail; `dryRun` renders and reports without changing anything.
 */
export async function reprocess(deps: ReprocessDeps, target: ReprocessTarget, who: { actor: string; dryRun?: boolean; reason?: string }): Promise<ReprocessedMessage[]> {
  const out: ReprocessedMessage[] = [];
  for (const messageId of await selectMessages(deps.store, target)) {
    const stored = await deps.store.getMessage(messageId);
    if (stored) {
      out.push(await reprocessMessage(deps, stored, who));
    }
  }
  return out;
}

async function reprocessMessage(deps: ReprocessDeps, stored: StoredMessage, who: { actor: string; dryRun?: boolean; reason?: string }): Promise<ReprocessedMessage> {
  const { store } = deps;
  const { redis, prefix } = store;
  const now = deps.now?.() ?? new Date();
  const seqRaw = await redis.get(store.keys.messageSeq(stored.id));
  const seq = seqRaw === null ? undefined : Number(seqRaw);
  const selected = deps.mappings.select(stored).filter((m) => deps.destinations.has(m.destination));
  const render = messageRenderer(stored);
  const results: ReprocessedOutput[] = [];
  const fresh: SequencedOutput[] = [];
  const replays: Array<{ output: SequencedOutput; text: string }> = [];
  const failures: MappingFailure[] = [];
  const writes = redis.multi();
  for (const [index, mapping] of selected.entries()) {
    const deliveryId = `${stored.id}.${mapping.id}`;
    const status = await redis.hget(store.keys.deliveryHistory(mapping.destination, deliveryId), 'status');
    if (status !== null && status !== 'dead-lettered') {
      results.push({ deliveryId, destination: mapping.destination, result: status === 'delivered' || status === 'dropped' ? 'delivered' : 'waiting', detail: status });
      continue;
    }
    const order = receiptOrder(seq, index);
    let output: SequencedOutput;
    let text: string;
    try {
      const rendered = render(mapping, { now, controlId: controlIdFor(stored.id, mapping.id) });
      text = rendered.text;
      output = {
        deliveryId,
        messageId: stored.id,
        mappingId: mapping.id,
        destination: rendered.destination,
        controlId: rendered.controlId,
        contentType: rendered.contentType,
        textKey: store.keys.output(deliveryId),
        record: recordOf(stored),
        ...(order !== undefined ? { order } : {}),
      };
    } catch (err) {
      if (!(err instanceof MappingError)) {
        throw err;
      }
      failures.push({ messageId: stored.id, mappingId: mapping.id, problems: err.problems, at: now.toISOString() });
      const failed = failedOutput(stored, seq, index, mapping, err.problems);
      results.push({ deliveryId, destination: mapping.destination, result: who.dryRun ? 'would fail' : 'failed', detail: failed.failure! });
      if (status === null) {
        fresh.push(failed); // never queued: goes to the lanes as a dead letter in its place
      } else if (!who.dryRun) {
        await redis.hset(store.keys.deadLetter(mapping.destination, deliveryId), { reason: 'mapping-failed', detail: failed.failure! });
      }
      continue;
    }
    if (who.dryRun) {
      results.push({ deliveryId, destination: mapping.destination, result: 'would go' });
      continue;
    }
    writes
      .set(output.textKey, text)
      .set(store.keys.outputMeta(deliveryId), JSON.stringify(output))
      .sadd(store.keys.messageOutputs(stored.id), deliveryId)
      .set(store.keys.controlId(output.controlId), deliveryId);
    if (status === null) {
      fresh.push(output);
    } else {
      replays.push({ output, text });
    }
  }
  if (who.dryRun) {
    return { messageId: stored.id, workflow: stored.workflow, outputs: results };
  }
  if (failures.length > 0) {
    writes.set(store.keys.messageMappingFailures(stored.id), JSON.stringify(failures)).zadd(store.keys.mappingFailures(), now.getTime(), stored.id);
  } else {
    writes.del(store.keys.messageMappingFailures(stored.id)).zrem(store.keys.mappingFailures(), stored.id);
  }
  await writes.exec();
  // The dead letters first: an output never queued that comes after one of them in its record would otherwise be
  // held behind it. Each goes to its receipt position either way.
  for (const { output, text } of replays) {
    await replayDeadLetter({ redis, prefix }, output.destination, output.deliveryId, {
      actor: who.actor,
      action: 'reprocess',
      reason: `re-rendered with the current mappings${who.reason ? `: ${who.reason}` : ''}`,
      text: { text, contentType: output.contentType },
    });
    const heldBehind = await redis.hget(store.keys.deliveryHistory(output.destination, output.deliveryId), 'heldBehind');
    results.push({ deliveryId: output.deliveryId, destination: output.destination, result: 'replayed', ...(heldBehind ? { detail: `held behind dead letter ${heldBehind}` } : {}) });
  }
  await handOffInReceiptOrder(deps.sequencer, seq, fresh);
  for (const o of fresh.filter((f) => f.failure === undefined)) {
    results.push({ deliveryId: o.deliveryId, destination: o.destination, result: 'queued' });
  }
  const summary = results.map((r) => `${r.deliveryId.slice(stored.id.length + 1)} ${r.result}`).join(', ');
  await audit({ redis, prefix }, { at: now.toISOString(), actor: who.actor, action: 'reprocess', destination: '*', messageId: stored.id, detail: who.reason ? `${summary}: ${who.reason}` : summary });
  return { messageId: stored.id, workflow: stored.workflow, outputs: results };
}
