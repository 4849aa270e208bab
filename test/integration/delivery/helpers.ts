/* Shared set-up for delivery integration tests: fast policy, synthetic messages, polling helper. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { parseDestinations, type Destination } from '../../../src/config/destinations.js';
import { parseDeliveryPolicy, type DeliveryPolicy } from '../../../src/flows/delivery/policy.js';

/** A unique key/queue prefix per test, so tests never see each other's lanes. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${randomBytes(4).toString('hex')}`;
}

/** A worker-style connection to the test Redis. */
export function testRedis(): Redis {
  const url = process.env.TEST_REDIS_URL;
  if (!url) {
    throw new Error('TEST_REDIS_URL is not set (test/setup.ts starts a private redis-server)');
  }
  return new Redis(url, { maxRetriesPerRequest: null });
}

/** Backoff in milliseconds, ACK timeout 100 ms, short locks: whole scenarios run in seconds. */
export function fastPolicy(overrides: Partial<Record<keyof DeliveryPolicy, unknown>> = {}): DeliveryPolicy {
  return parseDeliveryPolicy({
    backoff: { initialMs: 5, maxMs: 40, multiplier: 2, jitter: 0 },
    maxAttempts: 'forever',
    lock: { leaseMs: 1000, takeoverPollMs: 50 },
    retention: { deliveredTextTtlSeconds: 3600, historyTtlSeconds: 3600 },
    ...overrides,
  });
}

/** An MLLP destination pointing at a local simulator, with test timings. */
export function pasDestination(name: string, port: number, extra: Record<string, unknown> = {}): Destination {
  return parseDestinations([
    {
      name,
      kind: 'mllp',
      host: '127.0.0.1',
      port,
      connectTimeoutMs: 300,
      ackTimeoutMs: 100,
      reconnect: { initialMs: 20, maxMs: 100 },
      ...extra,
    },
  ])[0]!;
}

/** Control id of the n-th test message (zero-padded so order is visible in failures). */
export const ctrl = (n: number): string => `C${String(n).padStart(5, '0')}`;

/** A synthetic ADT^A04 with the given MSH-10. */
export function adt(controlId: string): string {
  return `MSH|^~\\&|BARS|RXX|PAS|RXX|20260101000000||ADT^A04^ADT_A01|${controlId}|P|2.4\rEVN|A04\rPID|1||9000000009^^^NHS^NH||TEST^SYNTHETIC\r`;
}

/** Polls until `condition` is true or fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Control ids in order of their FIRST receipt. */
export function firstReceipts(controlIds: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const id of controlIds) {
    if (!seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  }
  return out;
}
