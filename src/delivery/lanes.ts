/*
 * Ordered delivery lanes: messages for one destination leave in the order they were queued, and a failing head
 * message is retried IN PLACE while later messages wait (ARCHITECTURE.md invariant 3).
 *
 * Design: one BullMQ queue per destination (`delivery-<destination>`), global concurrency 1, one worker per process
 * at concurrency 1. The processor never throws a delivery failure to BullMQ — BullMQ's own retry moves a job to the
 * delayed set and the next job overtakes it even at concurrency 1 (measured, anchors.md §5.1). Instead the
 * processor loops on its (head) job: send, read the ACK, apply the destination's ACK policy, and on a retryable
 * failure sleep the policy backoff and send again with the SAME MSH-10. It returns only when the message is
 * delivered or dead-lettered; only then does the lane advance.
 *
 * Why this keeps order across restarts and crashes, with all state in Redis:
 * - `Queue.setGlobalConcurrency(1)` lets at most one job per lane be active across all worker processes, so two
 *   workers (a rolling restart, a second replica) can never send two messages of one lane at once.
 * - While looping, the worker's lock on the head job is renewed by BullMQ every lockDuration/2, and re-checked
 *   (extendLock) before each retry: a worker that lost its lock stops rather than racing its successor.
 * - kill -9: the lock expires, BullMQ's stalled check moves the job from active back to the HEAD of the wait list
 *   (RPUSH on the consuming end), and the next worker resends it with the same MSH-10. maxStalledCount is set
 *   very high so a crash can never fail a message.
 * - Graceful close: the backoff sleep is aborted and the head job is put back at the head (`moveToWait` +
 *   WaitingError), never completed or failed.
 *
 * Job data carries ids only (no PHI): { messageId, destination, controlId, renderedKey }. The rendered HL7 text is
 * stored by enqueueDelivery under renderedKey; attempts, ACK codes and errors go to the history (history.ts).
 * A message that fails for good goes to the dead-letter set (dead-letters.ts) and the lane moves on.
 */
import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { mllpClientOptions, type AckAction, type Destination } from './destinations.js';
import { recordDeadLetter } from './dead-letters.js';
import { DeliveryError } from './errors.js';
import { dropFile } from './file-drop.js';
import { appendEvent, clip, deliveryJobId, deliveryKeys, type DeliveryStore } from './history.js';

export { deliveryJobId } from './history.js';
import { MllpClient, type AckResult, type MllpLogger } from './mllp-client.js';
import { backoffDelay, lanePolicy, type DeliveryPolicy, type LanePolicy } from './policy.js';

/** What the inbound processor hands to delivery: one rendered message for one destination. */
export interface DeliveryItem {
  /** Our id of the stored BaRS message version (StoredMessage.id). */
  readonly messageId: string;
  /** Destination name (destinations config). */
  readonly destination: string;
  /** MSH-10 already in `text`; reused on every resend. */
  readonly controlId: string;
  /** e.g. `x-application/hl7-v2+er7` or `text/plain` for a flat file. */
  readonly contentType: string;
  /** The rendered message. Stored in Redis, never put in job data or logs. */
  readonly text: string;
}

/** BullMQ job data of a delivery job: ids only. */
export interface DeliveryJobData {
  readonly messageId: string;
  readonly destination: string;
  readonly controlId: string;
  /** Redis key of the rendered text. */
  readonly renderedKey: string;
}

/** What a delivery job returns to BullMQ (ids and counts only). */
export interface DeliveryJobResult {
  readonly outcome: 'delivered' | 'dead-lettered';
  readonly attempts: number;
  readonly ackCode?: string;
}

/** Logger subset (pino-compatible). */
export interface LaneLogger extends MllpLogger {
  error(obj: object, msg: string): void;
}

/** The BullMQ queue name of a destination's lane. */
export function laneQueueName(destination: string): string {
  return `delivery-${destination}`;
}

/** Producer-side lane queues, created on first use and shared. */
export interface LaneQueues {
  get(destination: string): Queue<DeliveryJobData, DeliveryJobResult>;
  close(): Promise<void>;
}

/**
 * Creates the producer side of the lanes.
 * @param connection - ioredis connection (producers: `enableOfflineQueue: false` so enqueue fails fast).
 * @param prefix - BullMQ and key prefix.
 */
export function createLaneQueues(connection: Redis, prefix: string): LaneQueues {
  const queues = new Map<string, Queue<DeliveryJobData, DeliveryJobResult>>();
  return {
    get(destination) {
      let queue = queues.get(destination);
      if (!queue) {
        queue = new Queue<DeliveryJobData, DeliveryJobResult>(laneQueueName(destination), { connection, prefix });
        // Redis errors reach the caller of add(); BullMQ would otherwise print each reconnect attempt to stderr.
        queue.on('error', () => undefined);
        queues.set(destination, queue);
      }
      return queue;
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}

/** Dependencies of enqueueDelivery. */
export interface EnqueueDeps extends DeliveryStore {
  readonly lanes: LaneQueues;
  /** Completed-job retention (from the policy file); defaults keep 10,000 for 7 days. */
  readonly retention?: Pick<DeliveryPolicy['retention'], 'completedJobs' | 'completedAgeSeconds'>;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Queues one rendered message on its destination's lane: stores the text, records the history, then adds the job.
 * Idempotent per (messageId, destination): a second call (e.g. the inbound job re-run after a crash) adds nothing.
 */
export async function enqueueDelivery(deps: EnqueueDeps, item: DeliveryItem): Promise<void> {
  if (!SAFE_ID.test(item.messageId) || !SAFE_ID.test(item.destination) || item.controlId === '') {
    throw new Error('enqueueDelivery: messageId/destination must be [A-Za-z0-9._-] and controlId non-empty');
  }
  const keys = deliveryKeys(deps.prefix, item.destination, item.messageId);
  if ((await deps.redis.hget(keys.history, 'jobAddedAt')) !== null) {
    return; // already on the lane (or delivered); adding again would send twice
  }
  const now = new Date().toISOString();
  await deps.redis
    .multi()
    .set(keys.text, item.text)
    .hsetnx(keys.history, 'enqueuedAt', now)
    .hset(keys.history, {
      messageId: item.messageId,
      destination: item.destination,
      controlId: item.controlId,
      contentType: item.contentType,
      status: 'queued',
    })
    .sadd(keys.destinations, item.destination)
    .exec();
  const retention = deps.retention ?? { completedJobs: 10000, completedAgeSeconds: 604800 };
  // If we crashed between this add and the marker below, the retry re-adds with the same jobId: a BullMQ no-op.
  await deps.lanes.get(item.destination).add(
    'deliver',
    { messageId: item.messageId, destination: item.destination, controlId: item.controlId, renderedKey: keys.text },
    {
      jobId: deliveryJobId(item.destination, item.messageId),
      removeOnComplete: { count: retention.completedJobs, age: retention.completedAgeSeconds },
      removeOnFail: false,
    },
  );
  await deps.redis
    .multi()
    .hset(keys.history, 'jobAddedAt', now)
    .rpush(keys.events, JSON.stringify({ at: now, type: 'queued', controlId: item.controlId }))
    .exec();
}

/** How one attempt ended at the transport level. */
export type TransportOutcome = { readonly kind: 'ack'; readonly ack: AckResult } | { readonly kind: 'file'; readonly path: string };

/** Sends rendered messages to one destination. */
export interface LaneTransport {
  deliver(text: string, job: DeliveryJobData): Promise<TransportOutcome>;
  close(): Promise<void>;
}

/** The transport for a destination: an MLLP client, or an atomic file drop. */
export function createTransport(destination: Destination, logger?: LaneLogger): LaneTransport {
  if (destination.kind === 'file') {
    return {
      async deliver(text, job) {
        const path = await dropFile(destination, text, {
          controlId: job.controlId,
          messageId: job.messageId,
          destination: destination.name,
          now: new Date(),
        });
        return { kind: 'file', path };
      },
      async close() {},
    };
  }
  const client = new MllpClient({ ...mllpClientOptions(destination), ...(logger ? { logger } : {}) });
  return {
    async deliver(text, job) {
      return { kind: 'ack', ack: await client.send(text, job.controlId) };
    },
    close: () => client.close(),
  };
}

/** Everything the lane processor needs, passed in. */
export interface LaneProcessorDeps extends DeliveryStore {
  readonly destination: Destination;
  readonly transport: LaneTransport;
  readonly policy: LanePolicy;
  readonly retention: DeliveryPolicy['retention'];
  readonly lockDurationMs: number;
  /** Aborted on close: stop sleeping and put the head job back. */
  readonly signal: AbortSignal;
  readonly logger?: LaneLogger;
  readonly random?: () => number;
}

/** What the ACK policy says about one attempt. */
type Decision = 'delivered' | AckAction;

function decide(destination: Destination, outcome: TransportOutcome | undefined): Decision {
  if (outcome === undefined) {
    return 'retry'; // transport failure: connection, ACK timeout, mismatched ACK, file write
  }
  if (outcome.kind === 'file') {
    return 'delivered';
  }
  const code = outcome.ack.code;
  if (code === 'AA' || code === 'CA') {
    return 'delivered';
  }
  return destination.kind === 'mllp' ? destination.ackPolicy[code] : 'retry';
}

/** Thrown when this worker no longer holds the head job's lock: another worker owns the lane now. */
export class LaneLockLostError extends Error {
  constructor(jobId: string | undefined) {
    super(`lost the lock on delivery job ${jobId ?? '?'}`);
    this.name = 'LaneLockLostError';
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The lane processor: delivers the head job of a lane, retrying it in place until it is delivered or
 * dead-lettered. Never throws a delivery failure to BullMQ (that would reorder the lane).
 * @param job - the head job.
 * @param token - BullMQ lock token of this worker.
 * @param deps - transport, policy, store.
 */
export async function processDeliveryJob(
  job: Job<DeliveryJobData, DeliveryJobResult>,
  token: string | undefined,
  deps: LaneProcessorDeps,
): Promise<DeliveryJobResult> {
  const { messageId, destination, controlId, renderedKey } = job.data;
  const keys = deliveryKeys(deps.prefix, destination, messageId);
  const redis = deps.redis;

  // One round trip for what every attempt starts with (each round trip waits for Redis's fsync).
  const [[, previousRaw], [, textRaw]] = (await redis.pipeline().hget(keys.history, 'status').get(renderedKey).exec()) as [
    [Error | null, string | null],
    [Error | null, string | null],
  ];
  const previous = previousRaw;
  let prefetched: string | null | undefined = textRaw;
  if (previous === 'sending') {
    // The last worker died between sending and recording the answer: the PAS may have this message already.
    await appendEvent(deps, destination, messageId, { at: new Date().toISOString(), type: 'interrupted', controlId });
  }

  for (let first = true; ; first = false) {
    if (deps.signal.aborted) {
      await job.moveToWait(token); // back to the head of the lane for the next worker
      throw new WaitingError();
    }
    if (!first && token !== undefined && (await job.extendLock(token, deps.lockDurationMs)) !== 1) {
      throw new LaneLockLostError(job.id);
    }
    const text = prefetched !== undefined ? prefetched : await redis.get(renderedKey);
    prefetched = undefined;
    if (text === null) {
      await recordDeadLetter(deps, job.data, { reason: 'content-missing', detail: 'rendered message not found' });
      return { outcome: 'dead-lettered', attempts: 0 };
    }
    const startedAt = new Date();
    const [, , attemptsRaw] = (await redis
      .multi()
      .hset(keys.history, { status: 'sending', lastAttemptAt: startedAt.toISOString() })
      .hincrby(keys.history, 'attempts', 1)
      .hincrby(keys.history, 'cycleAttempts', 1)
      .exec()) as [unknown, unknown, [Error | null, number]];
    const cycleAttempts = attemptsRaw[1];

    let outcome: TransportOutcome | undefined;
    let failure: DeliveryError | Error | undefined;
    try {
      outcome = await deps.transport.deliver(text, job.data);
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    }
    const durationMs = Date.now() - startedAt.getTime();
    let decision = decide(deps.destination, outcome);
    const max = deps.policy.maxAttempts;
    const exhausted = decision === 'retry' && max !== 'forever' && cycleAttempts >= max;
    if (exhausted) {
      decision = 'dead-letter';
    }
    const ack = outcome?.kind === 'ack' ? outcome.ack : undefined;
    const errorKind = failure instanceof DeliveryError ? failure.kind : failure ? 'internal' : undefined;
    const outcomeLabel = ack ? ack.code : outcome?.kind === 'file' ? 'written' : (errorKind ?? 'unknown');
    const event = {
      at: new Date().toISOString(),
      type: 'attempt' as const,
      attempt: cycleAttempts,
      controlId,
      ...(ack ? { ackCode: ack.code } : {}),
      ...(ack?.text ? { ackText: clip(ack.text) } : {}),
      ...(errorKind ? { error: errorKind, errorMessage: clip(failure?.message) } : {}),
      durationMs,
      action: exhausted ? 'dead-letter (max attempts)' : decision,
    };
    const status = decision === 'delivered' ? 'delivered' : decision === 'hold' ? 'held' : decision === 'retry' ? 'retrying' : 'sending';
    deps.logger?.[decision === 'delivered' ? 'debug' : 'warn'](
      { destination, messageId, controlId, attempt: cycleAttempts, outcome: outcomeLabel, durationMs, decision },
      'delivery attempt',
    );

    if (decision === 'delivered') {
      // The attempt and the delivery are recorded in one transaction (one fsync-bound round trip, not two).
      const deliveredAt = new Date().toISOString();
      await redis
        .multi()
        .rpush(keys.events, JSON.stringify(event), JSON.stringify({ at: deliveredAt, type: 'delivered', controlId }))
        .hset(keys.history, { status: 'delivered', lastOutcome: outcomeLabel, deliveredAt })
        .expire(renderedKey, deps.retention.deliveredTextTtlSeconds)
        .expire(keys.history, deps.retention.historyTtlSeconds)
        .expire(keys.events, deps.retention.historyTtlSeconds)
        .exec();
      return { outcome: 'delivered', attempts: cycleAttempts, ...(ack ? { ackCode: ack.code } : {}) };
    }
    await appendEvent(deps, destination, messageId, event, { status, lastOutcome: outcomeLabel });
    if (decision === 'dead-letter') {
      await recordDeadLetter(deps, job.data, {
        reason: exhausted ? 'max-attempts' : `ack-${ack?.code ?? 'unknown'}`,
        detail: clip(ack?.text ?? failure?.message),
      });
      return { outcome: 'dead-lettered', attempts: cycleAttempts, ...(ack ? { ackCode: ack.code } : {}) };
    }
    // retry or hold: wait in place; 'hold' ignores maxAttempts and settles at the longest backoff.
    await sleep(backoffDelay(deps.policy.backoff, cycleAttempts, deps.random), deps.signal);
  }
}

/** Dependencies of the lane workers. */
export interface LaneWorkerDeps extends DeliveryStore {
  /** Connection for BullMQ workers: ioredis with `maxRetriesPerRequest: null`. Also used for delivery keys. */
  readonly redis: Redis;
  readonly logger?: LaneLogger;
  /** Test hook: replace the transport of a destination. */
  readonly transportFor?: (destination: Destination) => LaneTransport;
}

/** The running lane workers of this process. */
export interface LaneWorkers {
  readonly destinations: readonly string[];
  /** Stops taking jobs, puts any head job back at the head of its lane, closes transports. */
  close(): Promise<void>;
}

/**
 * Starts one lane worker per destination; the lanes run in parallel, each strictly in order.
 * @param deps - Redis, prefix, logger.
 * @param destinations - validated destination config.
 * @param policy - queues/delivery.yaml.
 */
export async function startLaneWorkers(
  deps: LaneWorkerDeps,
  destinations: readonly Destination[],
  policy: DeliveryPolicy,
): Promise<LaneWorkers> {
  const abort = new AbortController();
  const lanes: Array<{ worker: Worker; queue: Queue; transport: LaneTransport }> = [];
  for (const destination of destinations) {
    const name = laneQueueName(destination.name);
    const queue = new Queue(name, { connection: deps.redis, prefix: deps.prefix });
    queue.on('error', () => undefined); // reported by the lane worker's own error handler
    await queue.setGlobalConcurrency(1);
    const transport = deps.transportFor?.(destination) ?? createTransport(destination, deps.logger);
    const processorDeps: LaneProcessorDeps = {
      redis: deps.redis,
      prefix: deps.prefix,
      destination,
      transport,
      policy: lanePolicy(policy, destination.name),
      retention: policy.retention,
      lockDurationMs: policy.lock.durationMs,
      signal: abort.signal,
      ...(deps.logger ? { logger: deps.logger } : {}),
    };
    const worker = new Worker<DeliveryJobData, DeliveryJobResult>(
      name,
      (job, token) => processDeliveryJob(job, token, processorDeps),
      {
        connection: deps.redis,
        prefix: deps.prefix,
        concurrency: 1,
        lockDuration: policy.lock.durationMs,
        stalledInterval: policy.lock.stalledIntervalMs,
        // A crash must never fail a message: a stalled head job always goes back to the head of its lane.
        maxStalledCount: 1_000_000,
        drainDelay: 1,
      },
    );
    worker.on('error', (err) => deps.logger?.error({ destination: destination.name, err: err.message }, 'lane worker error'));
    lanes.push({ worker, queue, transport });
  }
  let closing: Promise<void> | undefined;
  return {
    destinations: destinations.map((d) => d.name),
    close() {
      closing ??= (async () => {
        abort.abort();
        await Promise.all(lanes.map((l) => l.worker.close()));
        await Promise.all(lanes.map((l) => l.transport.close()));
        await Promise.all(lanes.map((l) => l.queue.close()));
      })();
      return closing;
    },
  };
}

/** What ops see of one lane: how much is waiting and what the head is doing (Mirth users' most asked-for view). */
export interface LaneStatus {
  readonly destination: string;
  readonly waiting: number;
  /** The message being delivered (or retried in place) now, if any. */
  readonly head?: {
    readonly messageId: string;
    readonly controlId: string;
    readonly status: string;
    readonly attempts: number;
    readonly lastOutcome?: string;
    readonly lastAttemptAt?: string;
  };
}

/**
 * Reads a lane's status, e.g. "head m42 retrying since 10:02, attempt 7, last outcome ack-timeout; 130 waiting".
 */
export async function getLaneStatus(deps: DeliveryStore & { readonly lanes: LaneQueues }, destination: string): Promise<LaneStatus> {
  const queue = deps.lanes.get(destination);
  const [waiting, active] = await Promise.all([queue.getWaitingCount(), queue.getActive(0, 0)]);
  const job = active[0];
  if (!job) {
    return { destination, waiting };
  }
  const hash = await deps.redis.hgetall(deliveryKeys(deps.prefix, destination, job.data.messageId).history);
  return {
    destination,
    waiting,
    head: {
      messageId: job.data.messageId,
      controlId: job.data.controlId,
      status: hash.status ?? 'unknown',
      attempts: Number(hash.cycleAttempts ?? 0),
      ...(hash.lastOutcome ? { lastOutcome: hash.lastOutcome } : {}),
      ...(hash.lastAttemptAt ? { lastAttemptAt: hash.lastAttemptAt } : {}),
    },
  };
}
