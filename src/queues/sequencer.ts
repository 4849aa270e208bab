/*
 * Keeps delivery in the order messages were received while mapping runs in parallel.
 *
 * Each accepted message gets a receipt sequence number inside its commit (process-message.ts). The inbound processor
 * renders concurrently, then marks its sequence number "ready" with the outputs it produced (possibly none: a mapping
 * failure or a workflow with no PAS mapping). A flusher, holding a short Redis lock, walks the cursor forward from the
 * last flushed number, handing each ready message's outputs to its delivery lanes in order and stopping at the first
 * gap. So message N+1 can be rendered before N but never reaches a lane before it (ARCHITECTURE invariant 3).
 *
 * Crash safety: the cursor is advanced only after the outputs of that number were handed to the lanes, and the hand-off
 * (enqueueDelivery) is idempotent per delivery id, so a flusher that dies mid-way is simply repeated by the next one.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface SequencedOutput {
  /** Delivery id: `<messageId>.<mappingId>`, unique per output. */
  readonly deliveryId: string;
  readonly messageId: string;
  readonly mappingId: string;
  readonly destination: string;
  readonly controlId: string;
  readonly contentType: string;
  /** Redis key holding the rendered text. */
  readonly textKey: string;
}

export interface SequencerDeps {
  readonly redis: Redis;
  readonly prefix: string;
  /** Hands one output to its lane (idempotent per delivery id). */
  readonly handOff: (output: SequencedOutput, text: string) => Promise<void>;
}

const LOCK_MS = 15_000;

const keys = (prefix: string) => ({
  cursor: `${prefix}:seq:flushed`,
  ready: `${prefix}:seq:ready`,
  lock: `${prefix}:seq:lock`,
});

const ADVANCE = `
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Records that message `seq` is rendered, with its outputs (empty when nothing goes to a lane). */
export async function markReady(deps: Pick<SequencerDeps, 'redis' | 'prefix'>, seq: number, outputs: readonly SequencedOutput[]): Promise<void> {
  await deps.redis.hset(keys(deps.prefix).ready, String(seq), JSON.stringify(outputs));
}

/**
 * Flushes every ready message in order, as far as the first gap. Returns how many sequence numbers were flushed.
 * Returns 0 at once when another flusher holds the lock (it will pick up what is ready).
 */
export async function flushReady(deps: SequencerDeps): Promise<number> {
  const k = keys(deps.prefix);
  const token = randomUUID();
  if ((await deps.redis.set(k.lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
    return 0;
  }
  let flushed = 0;
  try {
    for (;;) {
      const next = Number((await deps.redis.get(k.cursor)) ?? 0) + 1;
      const raw = await deps.redis.hget(k.ready, String(next));
      if (raw === null) {
        return flushed;
      }
      for (const output of JSON.parse(raw) as SequencedOutput[]) {
        const text = await deps.redis.get(output.textKey);
        if (text === null) {
          throw new Error(`rendered output ${output.deliveryId} is missing from the store`);
        }
        await deps.handOff(output, text);
      }
      const advanced = await deps.redis.eval(ADVANCE, 3, k.cursor, k.ready, k.lock, String(next), token, String(LOCK_MS));
      if (advanced !== 1) {
        // Our lock expired and another flusher took over; it repeats this number idempotently.
        return flushed;
      }
      flushed++;
    }
  } finally {
    await deps.redis.eval(RELEASE, 1, k.lock, token);
  }
}

/**
 * Marks `seq` ready and flushes; if another flusher holds the lock, waits briefly and tries again until the cursor
 * has passed `seq` or nobody is flushing (so a ready number is never left behind a flusher that just looked past it).
 */
export async function readyAndFlush(deps: SequencerDeps, seq: number, outputs: readonly SequencedOutput[], waitMs = 2000): Promise<void> {
  await markReady(deps, seq, outputs);
  const k = keys(deps.prefix);
  const deadline = Date.now() + waitMs;
  for (;;) {
    await flushReady(deps);
    const cursor = Number((await deps.redis.get(k.cursor)) ?? 0);
    if (cursor >= seq || Date.now() > deadline) {
      return;
    }
    const locked = (await deps.redis.exists(k.lock)) === 1;
    const gap = !locked && (await deps.redis.hexists(k.ready, String(cursor + 1))) === 0;
    if (gap) {
      // An earlier message is still being rendered; its processor will flush this one too.
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Numbers received but not yet flushed, and the age in ms of the oldest ready one (ops: a stuck gap). */
export async function sequencerStatus(redis: Redis, prefix: string): Promise<{ received: number; flushed: number; ready: number }> {
  const k = keys(prefix);
  const [received, flushed, ready] = await Promise.all([redis.get(`${prefix}:seq:received`), redis.get(k.cursor), redis.hlen(k.ready)]);
  return { received: Number(received ?? 0), flushed: Number(flushed ?? 0), ready };
}
