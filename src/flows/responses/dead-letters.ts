/*
 * Responses that failed for good — the proxy refused them (400 and other final 4xx), the retries ran out, or the
 * Bundle could not be built — are kept as dead letters (P:resp:dead). The sender of the original request heard
 * nothing, so ops must see them, and replay them once the cause is fixed or drop them knowingly (issue 12 item 8).
 *
 * Replay puts the response back at the tail of its conversation's lane (X-Correlation-Id), so it is sent after any
 * response of that conversation already waiting. Two modes, after the BaRS Definition-of-a-retry page:
 *   same     the same body and the same X-Request-Id: a retry of the one request (after an outage, exhausted retries);
 *   rebuild  the body is built again from the stored original with the current code and a new X-Request-Id: a new
 *            request (after the proxy refused the body, or the build failed, and the cause was fixed).
 * Every replay and drop is audited with its actor.
 */
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { MessageStore } from '../../state/message-store.js';
import { responseJobId, type ResponseJobData } from './queue.js';
import { ResponseStore, type ResponseRecord } from '../../state/response-store.js';

/** One dead-lettered response as listed: ids, codes and the reason — never the body (it carries patient data). */
export interface ResponseDeadLetter {
  readonly responseId: string;
  readonly kind: ResponseRecord['kind'];
  readonly messageId: string;
  readonly recordId: string;
  readonly correlationId: string;
  readonly requestId: string;
  readonly deadReason?: string;
  readonly lastStatus?: number;
  readonly attempts: number;
  readonly at?: string;
}

export class ResponseDeadLetterNotFoundError extends Error {
  constructor(readonly responseId: string) {
    super(`response ${responseId} is not a dead letter`);
  }
}

const summary = (r: ResponseRecord): ResponseDeadLetter => ({
  responseId: r.id,
  kind: r.kind,
  messageId: r.messageId,
  recordId: r.recordId,
  correlationId: r.correlationId,
  requestId: r.requestId,
  deadReason: r.deadReason,
  lastStatus: r.lastStatus,
  attempts: r.attempts,
  at: r.finishedAt,
});

/** Dead-lettered responses, oldest first. */
export async function listResponseDeadLetters(store: MessageStore, limit = 100): Promise<ResponseDeadLetter[]> {
  const responses = new ResponseStore(store);
  const out: ResponseDeadLetter[] = [];
  for (const id of await responses.deadLetters(limit)) {
    const r = await responses.get(id);
    if (r) {
      out.push(summary(r));
    }
  }
  return out;
}

/** One dead letter with the proxy's OperationOutcome (no body). */
export async function showResponseDeadLetter(store: MessageStore, responseId: string): Promise<ResponseDeadLetter & { operationOutcome?: unknown; lastReason?: string }> {
  const r = await new ResponseStore(store).get(responseId);
  if (!r || r.state !== 'dead-letter') {
    throw new ResponseDeadLetterNotFoundError(responseId);
  }
  return { ...summary(r), lastReason: r.lastReason, operationOutcome: r.operationOutcome };
}

export type ResponseReplayMode = 'same' | 'rebuild';

/**
 * Replays a dead-lettered response (see the header for the two modes).
 * @returns the X-Request-Id the replay will carry.
 */
export async function replayResponseDeadLetter(
  deps: { readonly store: MessageStore; readonly queue: Queue<ResponseJobData> },
  responseId: string,
  who: { readonly actor: string; readonly mode?: ResponseReplayMode; readonly reason?: string },
): Promise<string> {
  const responses = new ResponseStore(deps.store);
  const record = await responses.get(responseId);
  if (!record || record.state !== 'dead-letter') {
    throw new ResponseDeadLetterNotFoundError(responseId);
  }
  const mode = who.mode ?? 'same';
  await removeSettledJob(deps.queue, responseId);
  const requestId = mode === 'rebuild' ? randomUUID() : record.requestId;
  const length = await responses.requeueDead(record, mode === 'rebuild' ? { requestId } : undefined);
  if (length === -1) {
    throw new ResponseDeadLetterNotFoundError(responseId);
  }
  if (length === -2) {
    throw new Error(`response ${responseId} is still leaving its lane; try again in a moment`);
  }
  if (length === 1) {
    await deps.queue.add('response', { responseId }, { jobId: responseJobId(responseId) });
  }
  await responses.audit({ at: new Date().toISOString(), actor: who.actor, action: 'replay', responseId, mode, requestId, detail: who.reason ?? '' });
  return requestId;
}

/**
 * The dead letter's job must be gone before the response is scheduled again: a job id that exists is not added
 * again, and a finished job keeps its id for days (removeOnComplete by age). The job that dead-lettered it may still
 * be finishing (handing the lane on), so it is given a few seconds to settle.
 */
async function removeSettledJob(queue: Queue<ResponseJobData>, responseId: string): Promise<void> {
  const until = Date.now() + 5000;
  for (;;) {
    const job = await queue.getJob(responseJobId(responseId));
    const state = job ? await job.getState() : 'unknown';
    if (!job || state === 'completed' || state === 'failed' || state === 'unknown') {
      await job?.remove();
      return;
    }
    if (Date.now() > until) {
      throw new Error(`response ${responseId} still has a ${state} job; try again in a moment`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Gives up on a dead-lettered response for good (it stays in the record's history as `dropped`), audited. */
export async function dropResponseDeadLetter(store: MessageStore, responseId: string, who: { readonly actor: string; readonly reason?: string }): Promise<void> {
  const responses = new ResponseStore(store);
  const at = new Date().toISOString();
  if (!(await responses.dropDead(responseId, at))) {
    throw new ResponseDeadLetterNotFoundError(responseId);
  }
  await responses.audit({ at, actor: who.actor, action: 'drop', responseId, detail: who.reason ?? '' });
}

/** The audit trail of response dead-letter actions, newest last. */
export async function readResponseDeadLetterAudit(store: MessageStore, limit = 100): Promise<unknown[]> {
  return new ResponseStore(store).readAudit(limit);
}
