/*
 * The `inbound` queue: one job per accepted message version. Job data carries ids only — never Bundle content
 * (ARCHITECTURE invariant 4; BullMQ stores job data in clear text). The job id is derived from the message id, so a
 * second add of the same message (a retried request, the pending-enqueue sweeper) is a no-op.
 */
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Workflow } from '../../protocol/bars/types.js';

export const INBOUND_QUEUE = 'inbound';
/** Transient failures (Redis blips) are retried; mapping failures are permanent and not retried at all. */
export const INBOUND_ATTEMPTS = 10;

export interface InboundJobData {
  readonly messageId: string;
  readonly workflow: Workflow;
  readonly requestId: string;
  readonly correlationId: string;
}

/** BullMQ ids may not contain ':' nor be all digits. */
export const inboundJobId = (messageId: string): string => `msg-${messageId}`;

export function createInboundQueue(connection: ConnectionOptions, prefix: string): Queue<InboundJobData> {
  return new Queue<InboundJobData>(INBOUND_QUEUE, {
    connection,
    prefix,
    // BullMQ checks the Redis version once, with INFO, when the queue first connects, and keeps that promise: if the
    // INFO fails (the request path's 800 ms command timeout while Redis is slow at start-up), every later add rejects
    // with the same error for the life of the process, i.e. 503 for ever. Measured under CPU load (shutdown.test.ts).
    // The Redis version is checked by /readyz instead.
    skipVersionCheck: true,
    defaultJobOptions: {
      attempts: INBOUND_ATTEMPTS,
      backoff: { type: 'exponential', delay: 1000 },
      // Age only: the job id doubles as the de-duplication key of a message for as long as X-Request-Ids are kept.
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: false,
    },
  });
}

export async function enqueueInbound(queue: Queue<InboundJobData>, data: InboundJobData): Promise<void> {
  await queue.add('inbound', data, { jobId: inboundJobId(data.messageId) });
}
