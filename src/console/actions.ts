/*
 * The console's actions, each through the function the CLI uses (one way to do each thing): replay / drop a dead
 * letter (dead-letters.ts), bulk replay (replayDeadLetters) and bulk drop over the same filter, reprocess with the
 * current mappings (queues/reprocess.ts). Every one carries the actor (the credential's name) and a reason into the
 * audit list those functions write.
 */
import path from 'node:path';
import { dropDeadLetter, listDeadLetters, replayDeadLetter, replayDeadLetters, type BulkReplayItem } from '../flows/delivery/dead-letters.js';
import { handOffToLanes } from '../flows/delivery/lanes.js';
import { loadMappings } from '../mapping/index.js';
import { reprocess, type ReprocessedMessage } from '../flows/inbound/reprocess.js';
import type { ConsoleContext } from './context.js';

export interface DeadLetterFilter {
  readonly destination?: string;
  readonly since?: Date;
  readonly workflow?: string;
}

const workflowOf = (ctx: ConsoleContext) => async (messageId: string): Promise<string | undefined> => (await ctx.store.getMessage(messageId))?.workflow;

/** Bulk replay (or its dry run) over a filter, oldest receipt first, as `dead-letters replay --all`. */
export async function bulkReplay(ctx: ConsoleContext, filter: DeadLetterFilter, who: { actor: string; reason: string; dryRun: boolean }): Promise<BulkReplayItem[]> {
  return replayDeadLetters(
    { redis: ctx.redis, prefix: ctx.prefix },
    { ...(filter.destination ? { destination: filter.destination } : {}), ...(filter.since ? { since: filter.since } : {}), ...(filter.workflow ? { workflow: filter.workflow } : {}), workflowOf: workflowOf(ctx) },
    { actor: who.actor, reason: who.reason, dryRun: who.dryRun },
  );
}

/** What a bulk drop did (or would do) to one dead letter. */
export interface BulkDropItem {
  readonly destination: string;
  readonly messageId: string;
  readonly reason: string;
  readonly deadLetteredAt: string;
  readonly result: 'dropped' | 'would drop' | 'failed';
  readonly detail?: string;
}

/** Bulk drop over the same filter as bulk replay; each one through dropDeadLetter (audited). */
export async function bulkDrop(ctx: ConsoleContext, filter: DeadLetterFilter, who: { actor: string; reason: string; dryRun: boolean }): Promise<BulkDropItem[]> {
  const store = { redis: ctx.redis, prefix: ctx.prefix };
  const all = await listDeadLetters(store, { ...(filter.destination ? { destination: filter.destination } : {}), limit: 100_000 });
  const wf = workflowOf(ctx);
  const out: BulkDropItem[] = [];
  for (const d of all) {
    if (filter.since && Date.parse(d.deadLetteredAt) < filter.since.getTime()) {
      continue;
    }
    if (filter.workflow && (await wf(d.messageId.split('.')[0]!)) !== filter.workflow) {
      continue;
    }
    const base = { destination: d.destination, messageId: d.messageId, reason: d.reason, deadLetteredAt: d.deadLetteredAt };
    if (who.dryRun) {
      out.push({ ...base, result: 'would drop' });
      continue;
    }
    try {
      await dropDeadLetter(store, d.destination, d.messageId, { actor: who.actor, reason: who.reason });
      out.push({ ...base, result: 'dropped' });
    } catch (err) {
      out.push({ ...base, result: 'failed', detail: (err as Error).message });
    }
  }
  return out;
}

export async function replayOne(ctx: ConsoleContext, destination: string, deliveryId: string, who: { actor: string; reason: string; newControlId: boolean }): Promise<string> {
  return replayDeadLetter({ redis: ctx.redis, prefix: ctx.prefix }, destination, deliveryId, {
    actor: who.actor,
    reason: who.reason,
    controlId: who.newControlId ? { mode: 'new' } : { mode: 'same' },
  });
}

export async function dropOne(ctx: ConsoleContext, destination: string, deliveryId: string, who: { actor: string; reason: string }): Promise<void> {
  await dropDeadLetter({ redis: ctx.redis, prefix: ctx.prefix }, destination, deliveryId, who);
}

/** Reprocess one message (or record, by reference) with the mappings on disk now, as `bars-bridge reprocess`. */
export async function reprocessKey(ctx: ConsoleContext, key: string, who: { actor: string; reason: string; dryRun: boolean }): Promise<ReprocessedMessage[]> {
  if (!ctx.mappingsDir) {
    throw new Error('this admin server was started without a mappings directory');
  }
  return reprocess(
    {
      store: ctx.store,
      mappings: loadMappings(path.resolve(ctx.mappingsDir)),
      destinations: new Set(ctx.destinations),
      sequencer: { redis: ctx.redis, prefix: ctx.prefix, handOff: handOffToLanes({ redis: ctx.redis, prefix: ctx.prefix }) },
    },
    { kind: 'key', key },
    who,
  );
}
