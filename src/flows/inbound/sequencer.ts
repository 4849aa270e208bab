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
 *
 * A number is marked ready only while the cursor has not passed it (MARK_READY): a message rendered again after its
 * number was flushed (a re-run job, `bars-bridge reprocess`) is handed to the lanes at its receipt position instead
 * (handOffInReceiptOrder). Marking a flushed number would leave an entry nothing ever reads: outputs that never reach
 * a lane and a phantom "mapped and waiting for an earlier message" count.
 *
 * Not a delivery lane (lanes.ts): a lane orders what is already in it and sends it; the sequencer orders numbers that
 * arrive out of order from parallel renders and must WAIT for a missing one. Its state is two keys (cursor, ready
 * hash), not a list per destination, and it sends nothing. Lanes.ts says why the three ordered mechanisms stay apart.
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
  /** Redis key holding the rendered text ('' for a mapping failure). */
  readonly textKey: string;
  /** `ServiceRequest/<id>` or `Appointment/<id>`: the record whose messages go to the PAS in order. */
  readonly record?: string;
  /** Receipt position: receipt sequence × 1000 + output index. */
  readonly order?: number;
  /** The mapping failed (its first problem): the lanes record a dead letter in its place, holding its record. */
  readonly failure?: string;
}

export interface SequencerDeps {
  readonly redis: Redis;
  readonly prefix: string;
  /**
   * Hands outputs to their lanes in the order given, reading each text from its `textKey` (idempotent per delivery
   * id): at the back of each lane (`tail`, the flusher) or each at its receipt position (`position`, a late hand-off).
   */
  readonly handOff: (outputs: readonly SequencedOutput[], mode: 'tail' | 'position') => Promise<void>;
}

const LOCK_MS = 15_000;

/** The sequencer's keys: the last flushed number, the ready numbers (hash seq → outputs), the flush lock. */
export const sequencerKeys = (prefix: string) => ({
  cursor: `${prefix}:seq:flushed`,
  ready: `${prefix}:seq:ready`,
  lock: `${prefix}:seq:lock`,
});

/**
 * Reads what the flusher holding the lock (ARGV[1]) may hand on next: the cursor and the next ARGV[2] ready entries.
 * Returns {cursor, raw…} with false for a number not ready, or {-1} when the lock is not ours.
 */
const READ = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {-1} end
local cursor = tonumber(redis.call('GET', KEYS[1]) or '0')
local fields = {}
for i = 1, tonumber(ARGV[2]) do fields[i] = tostring(cursor + i) end
local out = {cursor}
for i, v in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do out[i + 1] = v end
return out
`;

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

/** Releases the lock and says whether the number after the cursor is ready (then someone must flush again). */
const RELEASE = `
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
local cursor = tonumber(redis.call('GET', KEYS[1]) or '0')
return redis.call('HEXISTS', KEYS[2], tostring(cursor + 1))
`;

/** KEYS: cursor, ready. ARGV: seq, outputs JSON. Marks seq ready unless the cursor has passed it; 1 when marked. */
export const MARK_READY = `
if tonumber(ARGV[1]) <= tonumber(redis.call('GET', KEYS[1]) or '0') then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`;

/** The arguments of an EVAL of MARK_READY (for a MULTI that writes the outputs in the same transaction). */
export function markReadyArgs(prefix: string, seq: number, outputs: readonly SequencedOutput[]): [string, number, string, string, string, string] {
  const k = sequencerKeys(prefix);
  return [MARK_READY, 2, k.cursor, k.ready, String(seq), JSON.stringify(outputs)];
}

/** Records that message `seq` is rendered, with its outputs (empty when nothing goes to a lane); false when the cursor has passed it. */
export async function markReady(deps: Pick<SequencerDeps, 'redis' | 'prefix'>, seq: number, outputs: readonly SequencedOutput[]): Promise<boolean> {
  return (await deps.redis.eval(...markReadyArgs(deps.prefix, seq, outputs))) === 1;
}

/**
 * Flushes every ready message in order, as far as the first gap, and returns how many numbers it flushed. Never
 * waits for another flusher: if the lock is taken it returns 0 at once, because the holder looks again after
 * releasing it (RELEASE answers whether the next number became ready meanwhile) — whoever marks a number ready and
 * then fails to take the lock did so while the holder still had it, so the holder's look comes after the mark.
 */
export async function flushReady(deps: SequencerDeps): Promise<number> {
  const k = sequencerKeys(deps.prefix);
  let flushed = 0;
  for (;;) {
    const token = randomUUID();
    if ((await deps.redis.set(k.lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
      return flushed;
    }
    let again = 0;
    try {
      for (;;) {
        const read = (await deps.redis.eval(READ, 3, k.cursor, k.ready, k.lock, token, String(BATCH))) as Array<number | string | null>;
        if (read[0] === -1) {
          return flushed; // lock expired and taken over: the new holder carries on
        }
        const cursor = Number(read[0]);
        const raws = read.slice(1);
        // Only the run of consecutive ready numbers from the cursor: the first gap stops the flush.
        const gap = raws.findIndex((r) => r === null || r === undefined);
        const ready = (gap < 0 ? raws : raws.slice(0, gap)) as string[];
        if (ready.length === 0) {
          break;
        }
        const outputs = ready.flatMap((raw) => JSON.parse(raw) as SequencedOutput[]);
        if (outputs.length > 0) {
          await deps.handOff(outputs, 'tail'); // a lane's order is the order of this list
        }
        const done = ready.map((_, i) => String(cursor + 1 + i));
        const advanced = await deps.redis.eval(ADVANCE, 3, k.cursor, k.ready, k.lock, token, String(LOCK_MS), done[done.length - 1]!, ...done);
        if (advanced !== 1) {
          // Our lock expired and another flusher took over; it repeats these numbers idempotently.
          return flushed;
        }
        flushed += ready.length;
      }
    } finally {
      again = Number(await deps.redis.eval(RELEASE, 3, k.cursor, k.ready, k.lock, token));
    }
    if (again !== 1) {
      return flushed;
    }
  }
}

/** Marks `seq` ready and flushes what can go (never waits for an earlier message or another flusher). */
export async function readyAndFlush(deps: SequencerDeps, seq: number, outputs: readonly SequencedOutput[]): Promise<void> {
  await markReady(deps, seq, outputs);
  await flushReady(deps);
}

/**
 * Hands the outputs of message `seq` to the lanes in receipt order whether or not the flusher has passed it: through
 * the sequencer while its number is ahead of the cursor, else each at its receipt position in its lane.
 */
export async function handOffInReceiptOrder(deps: SequencerDeps, seq: number | undefined, outputs: readonly SequencedOutput[]): Promise<void> {
  if (seq !== undefined && (await markReady(deps, seq, outputs))) {
    await flushReady(deps);
  } else if (outputs.length > 0) {
    await deps.handOff(outputs, 'position');
  }
}

/**
 * Receipt numbers given out, flushed, and mapped but waiting for an earlier number. `ready` counts only numbers
 * ahead of the cursor, the ones the flusher will read.
 */
export async function sequencerStatus(redis: Redis, prefix: string): Promise<{ received: number; flushed: number; ready: number }> {
  const k = sequencerKeys(prefix);
  const [received, flushed, numbers] = await Promise.all([redis.get(`${prefix}:seq:received`), redis.get(k.cursor), redis.hkeys(k.ready)]);
  const cursor = Number(flushed ?? 0);
  return { received: Number(received ?? 0), flushed: cursor, ready: numbers.filter((n) => Number(n) > cursor).length };
}
