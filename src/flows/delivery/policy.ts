/*
 * Loads queues/delivery.yaml: how hard a lane tries before a message is dead-lettered, how long it waits between
 * attempts, and how long delivery data is kept. Ops edit that file; this module validates it all at once and
 * freezes it.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';

const backoffSchema = z
  .object({
    initialMs: z.number().int().positive(),
    maxMs: z.number().int().positive(),
    multiplier: z.number().min(1).default(2),
    /** Fraction of the delay randomised (0.2 = ±20%) so many lanes recovering together do not beat in step. */
    jitter: z.number().min(0).max(1).default(0.2),
  })
  .strict()
  .refine((b) => b.maxMs >= b.initialMs, 'backoff.maxMs must be ≥ backoff.initialMs');

const maxAttemptsSchema = z.union([z.literal('forever'), z.number().int().positive()]);

const overrideSchema = z
  .object({ backoff: backoffSchema.optional(), maxAttempts: maxAttemptsSchema.optional() })
  .strict();

/** Schema of queues/delivery.yaml. */
export const deliveryPolicySchema = z
  .object({
    backoff: backoffSchema,
    /** Attempts of one message before it is dead-lettered ('forever' = never). ACK policy 'hold' ignores it. */
    maxAttempts: maxAttemptsSchema,
    lock: z
      .object({
        /** A lane belongs to one worker process at a time; its lease lasts this long unless renewed (every third). */
        leaseMs: z.number().int().min(200),
        /** How often a process that does not own a lane tries to take it (after a close, or an expired lease). */
        takeoverPollMs: z.number().int().min(10),
      })
      .strict(),
    retention: z
      .object({
        /** Rendered HL7 kept after a positive ACK, for trace and replay. */
        deliveredTextTtlSeconds: z.number().int().positive(),
        /** Delivery history kept after a positive ACK. */
        historyTtlSeconds: z.number().int().positive(),
      })
      .strict(),
    /** Per-destination overrides of backoff and maxAttempts. */
    destinations: z.record(z.string(), overrideSchema).default({}),
  })
  .strict();

/** A validated delivery policy. */
export type DeliveryPolicy = z.infer<typeof deliveryPolicySchema>;
/** Backoff settings of one lane. */
export type BackoffPolicy = z.infer<typeof backoffSchema>;

/** The policy in effect for one lane. */
export interface LanePolicy {
  readonly backoff: BackoffPolicy;
  readonly maxAttempts: number | 'forever';
}

/** Validates a parsed policy object (throws ZodError listing every problem). */
export function parseDeliveryPolicy(input: unknown): DeliveryPolicy {
  return Object.freeze(deliveryPolicySchema.parse(input));
}

/** Reads and validates a policy YAML file, e.g. `queues/delivery.yaml`. */
export function loadDeliveryPolicy(file: string): DeliveryPolicy {
  return parseDeliveryPolicy(YAML.parse(readFileSync(file, 'utf8')));
}

/** The policy for one destination: its overrides over the defaults. */
export function lanePolicy(policy: DeliveryPolicy, destination: string): LanePolicy {
  const override = policy.destinations[destination];
  return {
    backoff: override?.backoff ?? policy.backoff,
    maxAttempts: override?.maxAttempts ?? policy.maxAttempts,
  };
}

/**
 * Delay before attempt `attempt + 1`, after `attempt` failed attempts (1-based): initial × multiplier^(attempt-1),
 * capped at maxMs, with ± jitter.
 */
export function backoffDelay(backoff: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.multiplier ** Math.max(0, attempt - 1));
  const spread = base * backoff.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}
