/*
 * The `responses` queue: asynchronous BaRS responses leave through the proxy one conversation at a time.
 *
 * Ordering — one lane per X-Correlation-Id: every response of a conversation is appended to a Redis list (its lane)
 * in the same script that records it, and only the head of a lane has a BullMQ job. When the head finishes
 * (delivered, duplicate-delivered or dead-lettered) a second script pops it and the next response of the lane gets
 * its job. So an APP4 full validation response never overtakes its interim, and an APP6 status update never
 * overtakes the previous one, while different conversations are sent in parallel. A sweeper repairs a lane whose
 * hand-over was interrupted (crash between the pop and the add); job ids derive from response ids, so a repeated add
 * is a no-op.
 *
 * Retries happen in place (the head keeps its lane) with exponential backoff and jitter, honouring Retry-After. Each
 * retry is a retry of one request: same body (fixed at the first attempt) and same X-Request-Id, "no other header
 * changes except possibly the token" (Transactional-integrity/Definition-of-a-retry). When the attempts run out, or
 * the answer is final (other 4xx), the response is dead-lettered in Redis with the proxy's OperationOutcome, and the
 * lane moves on — one response the proxy refuses must not hold back the rest of the conversation.
 * Job data carries the response id only (ARCHITECTURE invariant 4).
 *
 * Why not a delivery lane (delivery/lanes.ts): conversations are many and short, sent in parallel by BullMQ workers,
 * and a dead-lettered response must NOT hold the rest of its conversation; a delivery lane is one long leased list
 * per destination that holds a record behind its dead letter. lanes.ts says why the three mechanisms stay apart.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import { every } from '../../background.js';
import type { Resource, StoredMessage } from '../../protocol/bars/types.js';
import type { Logger } from '../../logging.js';
import type { MessageStore } from '../../state/message-store.js';
import { buildResponse, ResponseBuildError, type ResponderService } from './builder.js';
import { checkResponseBundle } from './check.js';
import { RESPONSE_DEFINITIONS } from './definitions.js';
import type { ProxyClient, SendResult } from './proxy-client.js';
import { ResponseStore, TERMINAL, type ResponseRecord } from '../../state/response-store.js';
import { responsesFor, type ResponseRule } from './rules.js';
import { eventWithMetaSchema, RESPONSE_KINDS, type ResponseEvent, type ResponseKind } from '../../protocol/bars/response-events.js';

export const RESPONSES_QUEUE = 'responses';

/** BullMQ job data: ids only. */
export interface ResponseJobData {
  readonly responseId: string;
}

export const responseJobId = (responseId: string): string => `resp-${responseId}`;

export interface ResponseQueueOptions {
  /** Attempts per response, the first included. */
  readonly attempts?: number;
}

/** Creates the `responses` queue (producer side). */
export function createResponseQueue(connection: ConnectionOptions, prefix: string, options: ResponseQueueOptions = {}): Queue<ResponseJobData> {
  return new Queue<ResponseJobData>(RESPONSES_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: options.attempts ?? 12,
      backoff: { type: 'bars' },
      removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
      removeOnFail: { age: 30 * 24 * 3600 },
    },
  });
}

export interface ResponseQueueDeps {
  readonly store: MessageStore;
  readonly queue: Queue<ResponseJobData>;
  readonly log?: Logger;
}

export interface EnqueueRequest {
  readonly messageId: string;
  readonly kind: ResponseKind;
  readonly event: ResponseEvent;
}

export interface Enqueued {
  readonly responseId: string;
  readonly requestId: string;
  /** False when the same event had already been enqueued (same eventId). */
  readonly created: boolean;
}

/** A response id that is stable for one (message, kind, eventId), so a re-reported event is not sent twice. */
function responseIdFor(req: EnqueueRequest): string {
  if (!req.event.eventId) {return randomUUID();}
  const h = createHash('sha256').update(`${req.messageId}|${req.kind}|${req.event.eventId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Queues one response to the sender of a stored message. Throws when the event is malformed, the kind unknown, or
 * the message not in the store.
 */
export async function enqueueResponse(deps: ResponseQueueDeps, req: EnqueueRequest): Promise<Enqueued> {
  if (!RESPONSE_KINDS.includes(req.kind)) {throw new Error(`unknown response kind ${String(req.kind)}`);}
  const event = eventWithMetaSchema.parse(req.event);
  const stored = await deps.store.getMessage(req.messageId);
  if (!stored) {throw new Error(`message ${req.messageId} is not in the store`);}
  const responses = new ResponseStore(deps.store);
  const record: ResponseRecord = {
    id: responseIdFor(req),
    messageId: stored.id,
    kind: req.kind,
    event,
    requestId: randomUUID(),
    correlationId: stored.correlationId,
    recordId: stored.recordId,
    state: 'queued',
    createdAt: new Date().toISOString(),
    attempts: 0,
  };
  const laneLength = await responses.add(record);
  if (laneLength === -1) {
    const existing = (await responses.get(record.id))!;
    return { responseId: existing.id, requestId: existing.requestId, created: false };
  }
  if (laneLength === 1) {
    await deps.queue.add('response', { responseId: record.id }, { jobId: responseJobId(record.id) });
  }
  deps.log?.info({ responseId: record.id, messageId: stored.id, kind: req.kind, event: event.type, correlationId: stored.correlationId, requestId: record.requestId, laneLength }, 'response queued');
  return { responseId: record.id, requestId: record.requestId, created: true };
}

/** Queues every response the rules call for (mappings/responses/rules.yaml); returns what was queued. */
export async function enqueueResponsesFor(
  deps: ResponseQueueDeps,
  req: { readonly messageId: string; readonly event: ResponseEvent; readonly rules?: readonly ResponseRule[] },
): Promise<Enqueued[]> {
  const stored = await deps.store.getMessage(req.messageId);
  if (!stored) {throw new Error(`message ${req.messageId} is not in the store`);}
  const out: Enqueued[] = [];
  for (const kind of responsesFor(req.event, stored, req.rules)) {
    out.push(await enqueueResponse(deps, { messageId: req.messageId, kind, event: req.event }));
  }
  return out;
}

export interface ResponseWorkerDeps extends ResponseQueueDeps {
  /** Sends one response (the proxy client). */
  readonly sender: Pick<ProxyClient, 'send'>;
  readonly service: ResponderService;
  readonly log: Logger;
  readonly now?: () => Date;
}

/** Thrown for a response that should be tried again later (BullMQ retries it with the `bars` backoff). */
export class RetryLaterError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(reason: string, retryAfterMs?: number) {
    super(`retry later: ${reason}`);
    this.name = 'RetryLaterError';
    this.retryAfterMs = retryAfterMs;
  }
}

export interface ResponseJobResult {
  readonly responseId: string;
  readonly state: ResponseRecord['state'];
  readonly status?: number;
}

/** The DNA feedback's Appointment: named by the event, else linked from ServiceRequest.supportingInfo (APP1). */
async function appointmentFor(stored: StoredMessage, event: ResponseEvent, store: MessageStore): Promise<Resource | undefined> {
  if (event.type !== 'appointment-no-show') {return undefined;}
  let id = event.appointmentId;
  if (!id) {
    const sr = stored.bundle.entry?.find((e) => e.resource?.resourceType === 'ServiceRequest')?.resource;
    const refs = (Array.isArray(sr?.supportingInfo) ? sr.supportingInfo : []) as Array<{ reference?: string }>;
    id = refs.map((r) => /^Appointment\/([A-Za-z0-9\-.]{1,64})$/.exec(r.reference ?? '')?.[1]).find(Boolean);
  }
  return id ? (await store.getRecord('Appointment', id))?.resource : undefined;
}

async function finish(deps: ResponseWorkerDeps, record: ResponseRecord): Promise<void> {
  const responses = new ResponseStore(deps.store);
  const next = await responses.advance(record.correlationId, record.id);
  if (next) {
    await deps.queue.add('response', { responseId: next }, { jobId: responseJobId(next) });
  }
}

/**
 * Processes one `responses` job: builds the Bundle once, checks it, sends it, and settles the outcome. A plain
 * function with its dependencies passed in, so tests call it with a job-shaped object.
 */
export async function processResponse(job: Pick<Job<ResponseJobData>, 'data' | 'attemptsMade' | 'opts' | 'id'>, deps: ResponseWorkerDeps): Promise<ResponseJobResult> {
  const started = Date.now();
  const now = (deps.now ?? (() => new Date()))();
  const responses = new ResponseStore(deps.store);
  const record = await responses.get(job.data.responseId);
  if (!record) {throw new UnrecoverableError(`response ${job.data.responseId} is not in the store`);}
  const attempt = job.attemptsMade + 1;
  const lastAttempt = attempt >= (job.opts.attempts ?? 1);
  const ids = { responseId: record.id, messageId: record.messageId, kind: record.kind, requestId: record.requestId, correlationId: record.correlationId, attempt };
  if (TERMINAL.has(record.state)) {
    await finish(deps, record); // a repeated job after a lost hand-over: just move the lane on
    return { responseId: record.id, state: record.state };
  }
  const deadLetter = async (deadReason: string, result?: SendResult): Promise<ResponseJobResult> => {
    await responses.deadLetter(record.id, { deadReason, lastStatus: result?.status, lastReason: result?.reason, operationOutcome: result?.operationOutcome, at: now.toISOString() });
    deps.log.warn({ ...ids, status: result?.status, reason: deadReason, durationMs: Date.now() - started }, 'response dead-lettered');
    await finish(deps, record);
    return { responseId: record.id, state: 'dead-letter', status: result?.status };
  };

  try {
    let body = record.body;
    let target = record.target;
    let useContext = record.useContext;
    if (!body) {
      const stored = await deps.store.getMessage(record.messageId);
      if (!stored) {return await deadLetter('original-message-missing');}
      let bundle;
      try {
        bundle = buildResponse({
          kind: record.kind,
          event: record.event,
          original: stored,
          previous: await responses.previousKinds(record.recordId, record.id),
          appointment: await appointmentFor(stored, record.event, deps.store),
          service: deps.service,
          now,
        });
      } catch (err) {
        if (err instanceof ResponseBuildError) {return await deadLetter(`build-failed: ${err.message}`);}
        throw err;
      }
      const problems = checkResponseBundle(bundle, record.kind);
      if (problems.length > 0) {return await deadLetter(`invalid-response: ${problems.join('; ')}`);}
      const reason = (bundle.entry![0]!.resource as unknown as { reason: { coding: Array<{ code: string }> } }).reason.coding[0]!.code;
      useContext = `${stored.useCase ?? ''}|${RESPONSE_DEFINITIONS[record.kind].category}|servicerequest-response|${reason}`;
      target = stored.sourceEndpoint!;
      body = await responses.fixBody(record.id, JSON.stringify(bundle), bundle.id!, target, useContext);
    }
    await responses.update(record.id, { state: 'sending', attempts: attempt });
    const result = await deps.sender.send({ body, requestId: record.requestId, correlationId: record.correlationId, targetEndpoint: target!, useContext });
    switch (result.outcome) {
      case 'delivered':
      case 'duplicate-delivered':
        await responses.update(record.id, { state: result.outcome, lastStatus: result.status, lastReason: result.reason, finishedAt: new Date().toISOString() });
        deps.log.info({ ...ids, status: result.status, outcome: result.outcome, durationMs: Date.now() - started }, 'response delivered');
        await finish(deps, record);
        return { responseId: record.id, state: result.outcome, status: result.status };
      case 'dead-letter':
        return await deadLetter(result.reason, result);
      case 'retry':
        await responses.update(record.id, { state: 'queued', lastStatus: result.status, lastReason: result.reason, operationOutcome: result.operationOutcome });
        if (lastAttempt) {return await deadLetter(`retries-exhausted: ${result.reason}`, result);}
        deps.log.info({ ...ids, status: result.status, reason: result.reason, durationMs: Date.now() - started }, 'response will be retried');
        throw new RetryLaterError(result.reason, result.retryAfterMs);
    }
  } catch (err) {
    if (err instanceof RetryLaterError) {throw err;}
    // Redis or programming errors: retried like a transient failure; never left to block the lane at the end.
    if (lastAttempt) {return deadLetter(`error: ${(err as Error).message}`);}
    throw err;
  }
}

export interface BackoffOptions {
  /** First retry delay. */
  readonly baseMs?: number;
  /** Ceiling for one delay. */
  readonly maxMs?: number;
}

/** Exponential backoff with ±20 % jitter ("exponential backoff recommended", Sender-responsibilities), or Retry-After when longer. */
export function backoffDelay(attemptsMade: number, err: Error | undefined, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 2000;
  const max = options.maxMs ?? 300_000;
  const exp = Math.min(max, base * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = Math.round(exp * (0.8 + Math.random() * 0.4));
  const after = err instanceof RetryLaterError ? err.retryAfterMs : undefined;
  return Math.min(max, Math.max(jittered, after ?? 0));
}

export interface StartResponseWorkerDeps extends ResponseWorkerDeps {
  /** A connection for the worker (blocking; maxRetriesPerRequest null). */
  readonly connection: Redis;
  readonly concurrency?: number;
  readonly backoff?: BackoffOptions;
  /** Counts failed sweeper passes (bars_bridge_background_failures_total). */
  readonly failures?: Counter<'loop'>;
  /** How often lanes are checked for an interrupted hand-over (ms). */
  readonly sweepIntervalMs?: number;
}

export interface ResponseWorker {
  readonly worker: Worker<ResponseJobData, ResponseJobResult>;
  /** One sweep now (also runs on an interval). */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

/** Repairs lanes: a finished head is popped, a head without a job gets one. Returns how many lanes it repaired. */
async function sweepLanes(deps: ResponseWorkerDeps): Promise<number> {
  const responses = new ResponseStore(deps.store);
  let repaired = 0;
  for (const correlationId of await responses.lanes()) {
    const head = await responses.laneHead(correlationId);
    if (!head) {
      await responses.advance(correlationId, '');
      continue;
    }
    const record = await responses.get(head);
    const job = await deps.queue.getJob(responseJobId(head));
    if (record && TERMINAL.has(record.state)) {
      await finish(deps, record);
      repaired++;
    } else if (!job) {
      await deps.queue.add('response', { responseId: head }, { jobId: responseJobId(head) });
      repaired++;
    } else if ((await job.getState()) === 'failed') {
      await job.retry('failed');
      repaired++;
    }
  }
  if (repaired > 0) {deps.log.warn({ repaired }, 'response lanes repaired');}
  return repaired;
}

/** Starts the `responses` worker and the lane sweeper. */
export function startResponseWorker(deps: StartResponseWorkerDeps): ResponseWorker {
  const worker = new Worker<ResponseJobData, ResponseJobResult>(RESPONSES_QUEUE, (job) => processResponse(job, deps), {
    connection: deps.connection,
    prefix: deps.store.prefix,
    concurrency: deps.concurrency ?? 8,
    settings: { backoffStrategy: (attemptsMade, _type, err) => backoffDelay(attemptsMade, err, deps.backoff) },
  });
  worker.on('error', (err) => deps.log.error({ err: { message: err.message } }, 'responses worker error'));
  const sweeper = every('response-lane-sweeper', deps.sweepIntervalMs ?? 30_000, () => sweepLanes(deps), { log: deps.log, ...(deps.failures ? { failures: deps.failures } : {}) });
  return {
    worker,
    sweep: () => sweepLanes(deps),
    close: async () => {
      await sweeper.stop();
      await worker.close();
    },
  };
}
