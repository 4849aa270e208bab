/*
 * Keeps delivery in the order messages were received while mapping runs in parallel.
 *
 * Each accepted message gets a receipt sequence number inside its commit (process-message.ts). The inbound processor
 * renders concurrently, then marks its sequence number "ready" with the outputs it produced (possibly none: a mapping
 * failure or a workflow with no PAS mapping). A flusher, holding a short Redis lock, walks the cursor forward from the
 * last flushed number, handing each ready message's outputs to its delivery lanes in order and stopping at the first
 * gap. So message N+1 can be rendered before N but never reaches a lane before it (ARCHITECTURE invariant 3).
 *
 * Crash safety: the cursor is advanced only after the outputs of those numbers were handed to the lanes, and the
 * hand-off (enqueueDeliveries) is idempotent per delivery id, so a flusher that dies mid-way is simply repeated by the
 * next one. A step hands on all the outputs it read in one call, in order (one round trip for up to 64 messages).
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
  /** Hands outputs to their lanes in the order given, reading each text from its `textKey` (idempotent per delivery id). */
  readonly handOff: (outputs: readonly SequencedOutput[]) => Promise<void>;
}

const LOCK_MS = 15_000;

const keys = (prefix: string) => ({
  cursor: `${prefix}:seq:flushed`,
  ready: `${prefix}:seq:ready`,
  lock: `${prefix}:seq:lock`,
});

/** Moves the cursor to ARGV[3] and forgets the flushed numbers ARGV[4..], if we still hold the lock (ARGV[1]). */
const ADVANCE = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
for i = 4, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
`;

/** How many numbers one flush step reads at once (a burst of messages is handed on in few round trips). */
const BATCH = 64;

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
      const cursor = Number((await deps.redis.get(k.cursor)) ?? 0);
      const numbers = Array.from({ length: BATCH }, (_, i) => String(cursor + 1 + i));
      const raws = await deps.redis.hmget(k.ready, ...numbers);
      // Only the run of consecutive ready numbers from the cursor: the first gap stops the flush.
      const gap = raws.indexOf(null);
      const ready = (gap < 0 ? raws : raws.slice(0, gap)) as string[];
      if (ready.length === 0) {
        return flushed;
      }
      const outputs = ready.flatMap((raw) => JSON.parse(raw) as SequencedOutput[]);
      if (outputs.length > 0) {
        await deps.handOff(outputs); // a lane's order is the order of this list
      }
      const done = numbers.slice(0, ready.length);
      const advanced = await deps.redis.eval(ADVANCE, 3, k.cursor, k.ready, k.lock, token, String(LOCK_MS), done[done.length - 1]!, ...done);
      if (advanced !== 1) {
        // Our lock expired and another flusher took over; it repeats these numbers idempotently.
        return flushed;
      }
      flushed += ready.length;
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
