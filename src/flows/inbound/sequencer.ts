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
import { keyspace } from '../../state/keys.js';

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

/** The sequencer's keys (state/keys.ts): the last flushed number, the ready numbers (hash seq → outputs), the flush lock. */
export const sequencerKeys = (prefix: string) => {
  const k = keyspace(prefix);
  return { cursor: k.sequencerCursor(), ready: k.sequencerReady(), lock: k.sequencerLock() };
};

/**
 * Takes the flush lock (ARGV[1], for ARGV[2] ms) and reads what may be handed on next: the cursor and the next ARGV[3]
 * ready numbers — one round trip where a SET NX and a read were two. When the number after the cursor is not ready the
 * lock is not taken (nothing to flush). Returns {cursor, raw…} with false for a number not ready, or {-1} when
 * another flusher holds the lock.
 */
const ACQUIRE_READ = `
if redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2], 'NX') == false then return {-1} end
local cursor = tonumber(redis.call('GET', KEYS[1]) or '0')
local fields = {}
for i = 1, tonumber(ARGV[3]) do fields[i] = tostring(cursor + i) end
local out = {cursor}
for i, v in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do out[i + 1] = v end
if out[2] == false then redis.call('DEL', KEYS[3]) end
return out
`;

/**
 * If we still hold the lock (ARGV[1]): moves the cursor to ARGV[4], forgets the flushed numbers ARGV[5..], renews the
 * lock (ARGV[2] ms) and reads the next ARGV[3] numbers as ACQUIRE_READ does; when the next number is not ready it
 * releases the lock in the same call. A number marked ready while we held the lock is seen here (the mark ran before
 * this script), and one marked after the release takes the lock itself. Returns {-1} when the lock is not ours.
 */
const ADVANCE_READ = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {-1} end
redis.call('SET', KEYS[1], ARGV[4])
for i = 5, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
local cursor = tonumber(ARGV[4])
local fields = {}
for i = 1, tonumber(ARGV[3]) do fields[i] = tostring(cursor + i) end
local out = {cursor}
for i, v in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do out[i + 1] = v end
if out[2] == false then redis.call('DEL', KEYS[3]) else redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
return out
`;

/** How many numbers one flush step reads at once (a burst of messages is handed on in few round trips). */
const BATCH = 64;

/** Releases the lock after a failed hand-off and says whether the number after the cursor is ready. */
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
 * waits for another flusher: if the lock is taken it returns 0 at once, because the holder looks again before
 * releasing it (ADVANCE_READ releases the lock only in the same atomic call that found the next number not ready) —
 * whoever marks a number ready and then fails to take the lock did so while the holder still had it, so the holder's
 * look comes after the mark. Round trips per flush: one to take the lock and read, one per batch handed on (advance
 * and read the next, releasing the lock when nothing follows), plus the hand-off itself.
 */
export async function flushReady(deps: SequencerDeps): Promise<number> {
  const k = sequencerKeys(deps.prefix);
  let flushed = 0;
  const token = randomUUID();
  let read = (await deps.redis.eval(ACQUIRE_READ, 3, k.cursor, k.ready, k.lock, token, String(LOCK_MS), String(BATCH))) as Array<number | string | null>;
  for (;;) {
    if (read[0] === -1) {
      return flushed; // another flusher holds the lock (it looks again before releasing it), or ours expired
    }
    const cursor = Number(read[0]);
    const raws = read.slice(1);
    // Only the run of consecutive ready numbers from the cursor: the first gap stops the flush.
    const gap = raws.findIndex((r) => r === null || r === undefined);
    const ready = (gap < 0 ? raws : raws.slice(0, gap)) as string[];
    if (ready.length === 0) {
      return flushed; // the script released the lock
    }
    const outputs = ready.flatMap((raw) => JSON.parse(raw) as SequencedOutput[]);
    if (outputs.length > 0) {
      try {
        await deps.handOff(outputs, 'tail'); // a lane's order is the order of this list
      } catch (err) {
        // Let the next flusher (the safety loop, or the next marker) repeat these numbers idempotently.
        await deps.redis.eval(RELEASE, 3, k.cursor, k.ready, k.lock, token).catch(() => undefined);
        throw err;
      }
    }
    const done = ready.map((_, i) => String(cursor + 1 + i));
    read = (await deps.redis.eval(ADVANCE_READ, 3, k.cursor, k.ready, k.lock, token, String(LOCK_MS), String(BATCH), done[done.length - 1]!, ...done)) as Array<number | string | null>;
    if (read[0] !== -1) {
      flushed += ready.length;
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
  const [received, flushed, numbers] = await Promise.all([redis.get(keyspace(prefix).receivedSeq()), redis.get(k.cursor), redis.hkeys(k.ready)]);
  const cursor = Number(flushed ?? 0);
  return { received: Number(received ?? 0), flushed: cursor, ready: numbers.filter((n) => Number(n) > cursor).length };
}
