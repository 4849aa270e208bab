/*
 * The inbound flow in a worker process: the `inbound` worker that maps each accepted message, the mappings it maps
 * with (watched, SIGHUP), the receipt-order hand-off to the delivery lanes (sequencer), and the two loops invariant 1
 * (nothing acknowledged is lost) and the receipt order rest on: the pending-enqueue sweeper and the sequencer flusher.
 */
import path from 'node:path';
import { Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../logging.js';
import type { Metrics } from '../../metrics.js';
import type { ReloadResult } from '../../mapping/registry.js';
import { onSighup, StopStack, type Stoppable } from '../../lifecycle.js';
import { MessageStore } from '../../state/message-store.js';
import { every, reportFailure, type LoopDeps } from '../../background.js';
import { handOffToLanes } from '../delivery/lanes.js';
import { enqueueInbound, inboundJobId, INBOUND_ATTEMPTS, INBOUND_QUEUE, type InboundJobData } from './inbound.js';
import { loadInboundPolicy } from './inbound-policy.js';
import { flushReady, readyAndFlush, type SequencerDeps } from './sequencer.js';

export interface InboundFlowDeps {
  readonly config: Readonly<Config>;
  /** The worker's (blocking) connection. */
  readonly redis: Redis;
  /** The queue accepted messages are added to (the sweeper adds what the request path did not confirm). */
  readonly queue: Queue<InboundJobData>;
  /** Destinations with a lane in this deployment; mappings to others are inactive. */
  readonly destinations: ReadonlySet<string>;
  readonly log: Logger;
  readonly metrics: Metrics;
}

export interface InboundFlow extends Stoppable {
  isRunning(): boolean;
}

/** Marks a message's receipt-order number as done with no output, unless it was already marked (idempotent). */
async function releaseSequence(store: MessageStore, sequencer: SequencerDeps, messageId: string): Promise<void> {
  const k = store.keys;
  const seq = await store.redis.get(k.messageSeq(messageId));
  if (seq !== null && (await store.redis.hexists(k.sequencerReady(), seq)) === 0 && Number((await store.redis.get(k.sequencerCursor())) ?? 0) < Number(seq)) {
    await readyAndFlush(sequencer, Number(seq), []);
  }
}

/**
 * A message stored but whose job was never confirmed (crash or Redis loss between the two) is enqueued here; the job
 * id is derived from the message id, so this never duplicates a job. The request path does not confirm its job (one
 * round trip less per message); this sweeper does, off that path.
 */
async function sweepPendingEnqueue(store: MessageStore, queue: Queue<InboundJobData>, log: Logger): Promise<void> {
  for (const id of await store.pendingEnqueue(10_000)) {
    if (!(await queue.getJob(inboundJobId(id)))) {
      const stored = await store.getMessage(id);
      if (stored) {
        await enqueueInbound(queue, { messageId: id, workflow: stored.workflow, requestId: stored.requestId, correlationId: stored.correlationId });
        log.warn({ messageId: id }, 'enqueued a stored message whose job had not been added');
      }
    }
    await store.markEnqueued(id);
  }
}

/**
 * Mappings are compiled once here; a broken file stops start-up with every problem listed. Later edits are picked up
 * on file change or SIGHUP, and a broken edit keeps the previous good set running. Loaded here, not at module load:
 * the web process never maps, and the HL7 dictionaries are large.
 */
async function watchMappings(config: Readonly<Config>, destinations: ReadonlySet<string>, log: Logger, stack: StopStack, record: (fields: Record<string, string>) => void) {
  const { loadLiveMappings } = await import('../../mapping/index.js');
  const registry = loadLiveMappings(config.mappingsDir);
  const loadedAt = new Date().toISOString();
  record({ hash: registry.hash, mappings: String(registry.mappings.length), loadedAt, reloadedAt: loadedAt, lastOutcome: 'loaded', lastProblems: '[]' });
  const short = (hash: string): string => hash.slice(0, 12);
  // pas-events/ and responses/ rules are part of the directory (and of its hash) but are read at start-up only.
  const restartOnly = (changed: readonly string[]): string[] => changed.filter((f) => /^(?:pas-events|responses)\//.test(f));
  const onReload = (r: ReloadResult): void => {
    // What the console shows as the active set (any process's console; this state is the worker's).
    const at = new Date().toISOString();
    record(
      r.ok
        ? { hash: r.hash, mappings: String(r.mappings), ...(r.outcome === 'reloaded' ? { loadedAt: at } : {}), reloadedAt: at, lastOutcome: r.outcome, lastProblems: '[]' }
        : { reloadedAt: at, lastOutcome: 'rejected', rejected: r.candidate, lastProblems: JSON.stringify(r.problems.slice(0, 50)) },
    );
    if (r.outcome === 'unchanged') {
      log.info({ hash: short(r.hash) }, 'mappings unchanged');
    } else if (r.ok) {
      log.info({ mappings: r.mappings, hash: short(r.hash), changed: r.changed, restartToApply: restartOnly(r.changed) }, 'mappings reloaded');
    } else {
      log.error({ problems: r.problems, changed: r.changed, rejected: short(r.candidate), hash: short(r.hash) }, 'mapping edit rejected; previous mappings still running');
    }
  };
  const unwatch = registry.watch(onReload, { pollMs: config.mappingsPollSeconds * 1000 });
  stack.push('mappings watcher', async () => unwatch());
  stack.push('SIGHUP mappings handler', onSighup(() => onReload(registry.reload())));
  const inactive = registry.mappings.filter((m) => !destinations.has(m.destination)).map((m) => m.id);
  log.info({ mappings: registry.mappings.length, inactive, hash: short(registry.hash) }, 'mappings loaded (inactive: destination not configured)');
  return registry;
}

export async function startInbound(deps: InboundFlowDeps): Promise<InboundFlow> {
  const { config, redis, log, metrics } = deps;
  const prefix = config.redis.prefix;
  const store = new MessageStore(redis, prefix);
  const loops: LoopDeps = { log, failures: metrics.backgroundFailures };
  const stack = new StopStack();
  try {
    const activeKey = store.keys.mappingsActive();
    const record = (fields: Record<string, string>): void => {
      redis.hset(activeKey, fields).catch((err: unknown) => reportFailure(loops, 'mappings-active', err));
    };
    const registry = await watchMappings(config, deps.destinations, log, stack, record);
    const { processInbound } = await import('./inbound-processor.js');
    const sequencer: SequencerDeps = { redis, prefix, handOff: handOffToLanes({ redis, prefix }) };
    const policy = loadInboundPolicy(path.join(config.queuesDir, 'inbound.yaml'));
    // Safety net: anything marked ready but not flushed (a flusher that lost its lock) goes out within a second.
    stack.push('sequencer flusher', every('sequencer-flusher', 1000, () => flushReady(sequencer), loops));
    const worker = new Worker<InboundJobData>(
      INBOUND_QUEUE,
      (job: Job<InboundJobData>) =>
        processInbound(job, {
          store,
          log,
          mappings: () => registry,
          destinations: deps.destinations,
          sequencer,
          now: () => new Date(),
          metrics,
          attempts: INBOUND_ATTEMPTS,
        }),
      // A worker crash (even a crash loop) must never fail a message: BullMQ's default maxStalledCount of 1 would fail
      // a job stalled twice, and its receipt-order number would never be released, blocking every lane.
      {
        connection: redis,
        prefix,
        concurrency: policy.concurrency,
        lockDuration: policy.lockDurationMs,
        stalledInterval: policy.stalledIntervalMs,
        maxStalledCount: 1_000_000,
      },
    );
    // A job that failed for good without its processor releasing its number (belt and braces): release it here, so
    // the messages behind it are not held.
    worker.on('failed', (job) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        releaseSequence(store, sequencer, job.data.messageId).catch((err: unknown) => reportFailure(loops, 'release-sequence', err));
      }
    });
    worker.on('error', (err) => log.error({ err: { message: err.message } }, 'inbound worker error'));
    stack.push('inbound worker', () => worker.close());
    stack.push('pending-enqueue sweeper', every('pending-enqueue-sweeper', 5000, () => sweepPendingEnqueue(store, deps.queue, log), loops));
    return { stop: () => stack.stopAll(log, 10_000), isRunning: () => worker.isRunning() };
  } catch (err) {
    await stack.stopAll(log, 5000);
    throw err;
  }
}
