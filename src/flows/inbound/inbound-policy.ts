/*
 * Loads queues/inbound.yaml: how the worker takes `inbound` jobs (one per accepted message: map, then hand to the
 * lanes). Ops edit it to trade recovery time after a crash against lock traffic. A missing file means the defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';

export const inboundPolicySchema = z
  .object({
    /** Messages mapped at once per worker process (mapping is CPU; the rest is waiting on Redis). */
    concurrency: z.number().int().min(1).max(256).default(8),
    /**
     * BullMQ lock on a job being mapped, renewed every half while the worker lives. After a kill -9 the job is
     * picked up again once the lock has expired and a stalled check has run: about lockDurationMs + stalledIntervalMs.
     */
    lockDurationMs: z.number().int().min(1000).default(10_000),
    stalledIntervalMs: z.number().int().min(500).default(5_000),
  })
  .strict();

export type InboundPolicy = z.infer<typeof inboundPolicySchema>;

/** Validates a parsed policy (throws ZodError listing every problem). */
export function parseInboundPolicy(input: unknown): InboundPolicy {
  return Object.freeze(inboundPolicySchema.parse(input ?? {}));
}

/** Reads `file` if it exists, else the defaults. */
export function loadInboundPolicy(file: string): InboundPolicy {
  return parseInboundPolicy(existsSync(file) ? YAML.parse(readFileSync(file, 'utf8')) : {});
}
