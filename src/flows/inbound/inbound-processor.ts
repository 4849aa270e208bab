/*
 * The `inbound` processor: one accepted message version → the mapping(s) for its workflow, use case and configured
 * destinations → rendered output stored beside the message (for trace and replay) → the delivery lanes, in receipt
 * order (sequencer.ts). A plain exported function with its dependencies passed in.
 *
 * A mapping failure is permanent: retrying cannot change the message, so it is recorded with its problems (trace)
 * and handed to the lanes in its place as a dead letter (reason `mapping-failed`): the later messages of its record
 * are held behind it until ops reprocess it (after fixing the mapping) or drop it; other records flow on. The job
 * fails without retries.
 */
import { createHash } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import { reportFailure } from '../../background.js';
import type { Logger } from '../../logging.js';
import type { StoredMessage } from '../../protocol/bars/types.js';
import type { MessageStore } from '../../state/message-store.js';
import type { CompiledMapping, MappingRegistry } from '../../mapping/index.js';
import { MappingError, messageRenderer } from '../../mapping/index.js';
import type { Metrics } from '../../metrics.js';
import type { InboundJobData } from './inbound.js';
import { flushReady, markReadyArgs, readyAndFlush, type SequencedOutput, type SequencerDeps } from './sequencer.js';

export interface InboundDeps {
  readonly store: MessageStore;
  readonly log: Logger;
  readonly mappings: () => MappingRegistry;
  /** Names of the destinations this deployment delivers to; mappings for others are inactive. */
  readonly destinations: ReadonlySet<string>;
  readonly sequencer: SequencerDeps;
  readonly now: () => Date;
  readonly metrics?: Metrics;
  /** Attempts BullMQ makes; on the last one a transient failure still releases the sequence number. */
  readonly attempts: number;
}

export interface InboundResult {
  readonly messageId: string;
  readonly outputs: number;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * MSH-10 Message Control ID for one output of one message: derived from the message and mapping ids, so a re-render
 * after a crash produces the same control id and a resend is the same message (ARCHITECTURE invariant 2). 20
 * characters: the HL7 v2.4 length of MSH-10 (ST 20).
 */
export function controlIdFor(messageId: string, mappingId: string): string {
  const digest = createHash('sha256').update(`${messageId}:${mappingId}`).digest();
  let out = 'BB';
  for (let i = 0; i < 18; i++) {
    out += CROCKFORD[digest[i]! % 32];
  }
  return out;
}

export interface MappingFailure {
  readonly messageId: string;
  readonly mappingId: string;
  readonly problems: readonly string[];
  readonly at: string;
}

/** The record a message belongs to, as the lanes key it (later messages of a record wait behind its dead letters). */
export const recordOf = (stored: Pick<StoredMessage, 'recordType' | 'recordId'>): string => `${stored.recordType}/${stored.recordId}`;

/** Receipt position of output `index` of message `seq`: receipt order first, then mapping order. */
export const receiptOrder = (seq: number | undefined, index: number): number | undefined => (seq === undefined ? undefined : seq * 1000 + index);

/** A mapping failure as the lanes record it in the output's place (the first problem: file:line and field, no PHI). */
export function failedOutput(stored: StoredMessage, seq: number | undefined, index: number, mapping: { id: string; destination: string }, problems: readonly string[]): SequencedOutput {
  const order = receiptOrder(seq, index);
  return {
    deliveryId: `${stored.id}.${mapping.id}`,
    messageId: stored.id,
    mappingId: mapping.id,
    destination: mapping.destination,
    controlId: controlIdFor(stored.id, mapping.id),
    contentType: '',
    textKey: '',
    record: recordOf(stored),
    ...(order !== undefined ? { order } : {}),
    failure: `${problems[0] ?? 'mapping failed'}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`.slice(0, 300),
  };
}

/**
 * Renders every selected mapping of a message into `writes` (text, meta, MSH-10 look-up): an output rendered by an
 * earlier attempt of this job goes out again as it was (same bytes, same MSH-10); a mapping failure becomes a failed
 * output that takes its place in receipt order.
 */
function renderOutputs(
  store: MessageStore,
  stored: StoredMessage,
  seq: number | undefined,
  selected: readonly CompiledMapping[],
  previousMeta: ReadonlyArray<string | null>,
  writes: ChainableCommander,
  now: Date,
): { outputs: SequencedOutput[]; failures: MappingFailure[]; renderedIds: string[] } {
  const messageId = stored.id;
  const outputs: SequencedOutput[] = [];
  const failures: MappingFailure[] = [];
  /** Delivery ids rendered now: one SADD for all of them (one command per message, not per output). */
  const renderedIds: string[] = [];
  // One environment (and the results of the expressions the mappings share) for all mappings of this message.
  const render = messageRenderer(stored);
  for (const [index, mapping] of selected.entries()) {
    const deliveryId = `${messageId}.${mapping.id}`;
    const textKey = store.keys.output(deliveryId);
    const previous = previousMeta[index];
    const order = receiptOrder(seq, index);
    if (previous) {
      // Rendered by an earlier attempt of this job: the same bytes and MSH-10 go out.
      outputs.push({ ...(JSON.parse(previous) as SequencedOutput), record: recordOf(stored), ...(order !== undefined ? { order } : {}) });
      continue;
    }
    try {
      const rendered = render(mapping, { now, controlId: controlIdFor(messageId, mapping.id) });
      const output: SequencedOutput = {
        deliveryId,
        messageId,
        mappingId: mapping.id,
        destination: rendered.destination,
        controlId: rendered.controlId,
        contentType: rendered.contentType,
        textKey,
        record: recordOf(stored),
        ...(order !== undefined ? { order } : {}),
      };
      writes
        .set(textKey, rendered.text)
        .set(store.keys.outputMeta(deliveryId), JSON.stringify(output))
        // Trace by MSH-10: what the PAS team quotes when they ring about a message.
        .set(store.keys.controlId(rendered.controlId), deliveryId);
      outputs.push(output);
      renderedIds.push(deliveryId);
    } catch (err) {
      if (!(err instanceof MappingError)) {
        throw err;
      }
      failures.push({ messageId, mappingId: mapping.id, problems: err.problems, at: now.toISOString() });
      outputs.push(failedOutput(stored, seq, index, mapping, err.problems));
    }
  }
  return { outputs, failures, renderedIds };
}

export async function processInbound(job: Job<InboundJobData>, deps: InboundDeps): Promise<InboundResult> {
  const { store, log } = deps;
  const messageId = job.data.messageId;
  // Reads share one round trip; the writes of all outputs and the "ready" mark share one transaction (one fsync).
  const [[, seqRaw], [, storedRaw]] = (await store.redis.pipeline().get(store.keys.messageSeq(messageId)).get(store.keys.message(messageId)).exec()) as [
    [Error | null, string | null],
    [Error | null, string | null],
  ];
  const seq = seqRaw === null ? undefined : Number(seqRaw);
  const release = async (outputs: readonly SequencedOutput[]): Promise<void> => {
    if (seq !== undefined) {
      await readyAndFlush(deps.sequencer, seq, outputs);
    }
  };

  const stored = storedRaw === null ? undefined : (JSON.parse(storedRaw) as StoredMessage);
  if (!stored) {
    await release([]);
    // The store is written before the job is added, so a missing message is corruption, not a race: never retry.
    throw new UnrecoverableError(`message ${messageId} is not in the store`);
  }
  try {
    const selected = deps.mappings().select(stored).filter((m) => deps.destinations.has(m.destination));
    const previousMeta = selected.length > 0 ? await store.redis.mget(selected.map((m) => store.keys.outputMeta(`${messageId}.${m.id}`))) : [];
    const writes = store.redis.multi();
    const { outputs, failures, renderedIds } = renderOutputs(store, stored, seq, selected, previousMeta, writes, deps.now());
    // The job is running, so it exists: confirm it here, in the same transaction, rather than leave it to the
    // pending-enqueue sweeper (a range read, a job look-up and a ZREM per message, 10 s later).
    writes.zrem(store.keys.pendingEnqueue(), messageId);
    if (renderedIds.length > 0) {
      writes.sadd(store.keys.messageOutputs(messageId), ...renderedIds);
    }
    if (failures.length > 0) {
      writes.set(store.keys.messageMappingFailures(messageId), JSON.stringify(failures)).zadd(store.keys.mappingFailures(), Date.now(), messageId);
    }
    if (seq !== undefined) {
      // Marked ready in the same transaction as the outputs (markReady's write, one fsync fewer), then flushed; unless
      // the flusher has passed this number (this job ran before and its number was released): then the outputs go to
      // the lanes at their receipt position.
      writes.eval(...markReadyArgs(deps.sequencer.prefix, seq, outputs));
    }
    const results = (await writes.exec()) ?? [];
    if (seq !== undefined) {
      if (results[results.length - 1]?.[1] === 1) {
        await flushReady(deps.sequencer);
      } else if (outputs.length > 0) {
        await deps.sequencer.handOff(outputs, 'position');
      }
    }
    if (failures.length > 0) {
      for (const f of failures) {
        deps.metrics?.mappingFailures.inc({ mapping: f.mappingId });
      }
      log.error({ messageId, workflow: stored.workflow, mappings: failures.map((f) => f.mappingId), problems: failures.reduce((n, f) => n + f.problems.length, 0) }, 'mapping failed; message kept for ops (dead letter)');
    }
    deps.metrics?.inboundProcessed.inc({ workflow: stored.workflow, outcome: failures.length > 0 ? 'mapping-failed' : 'ok' });
    log.info({ jobId: job.id, messageId, workflow: stored.workflow, requestId: stored.requestId, outputs: outputs.length, mappings: selected.length }, 'inbound message mapped');
    if (failures.length > 0) {
      throw new UnrecoverableError(`mapping failed: ${failures.map((f) => `${f.mappingId}: ${f.problems.join('; ')}`).join(' | ')}`);
    }
    return { messageId, outputs: outputs.length };
  } catch (err) {
    if (err instanceof UnrecoverableError) {
      throw err;
    }
    if (job.attemptsMade + 1 >= deps.attempts) {
      // Last attempt: let the messages behind this one go; ops see it in the failed set. (If this fails too, the
      // worker's failed-job handler releases the number again: flows/inbound/start.ts.)
      await release([]).catch((e: unknown) => reportFailure({ log, ...(deps.metrics ? { failures: deps.metrics.backgroundFailures } : {}) }, 'release-sequence', e));
    }
    throw err;
  }
}
