/*
 * The Redis side of the delivery lanes: one list per destination and the scripts that change it.
 *
 * Why our own list and not one BullMQ job per message: a lane is strictly one message at a time (ARCHITECTURE.md
 * invariant 3), so its throughput is one MLLP round trip after another. BullMQ spends two to four fsync-bound Redis
 * round trips per job (move to active, extend lock, move to finished) that cannot be shared between jobs, and its
 * own retry reorders a lane (anchors.md §5.1). Measured with BullMQ lanes: 355–429 msg/s against a PAS that ACKs
 * ~6,000/s. Here the bookkeeping of every message delivered during one Redis round trip is written in ONE script
 * call (group commit), so the lane runs at the speed of the PAS, not of the disk.
 *
 * Keys (p = deployment prefix; under a hash tag such as `{bars}` every key is in one Cluster slot, so these scripts
 * may name keys they build themselves):
 *   <p>:lane:<destination>         list    delivery ids waiting, oldest first; index 0 is the head being delivered
 *   <p>:lane:<destination>:lease   string  token of the worker process that owns the lane, with a TTL it renews
 * and the per-message keys of history.ts (hist, events, dests, text).
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

export const laneKey = (prefix: string, destination: string): string => `${prefix}:lane:${destination}`;
export const leaseKey = (prefix: string, destination: string): string => `${prefix}:lane:${destination}:lease`;

/**
 * Wakes this process's lane runner at once when this process queued something, instead of at its next poll.
 * Process-local by design: a runner in another process finds new entries at its next poll (tens of ms).
 */
export const laneWakeups = new EventEmitter().setMaxListeners(0);
export const wakeupName = (prefix: string, destination: string): string => `${prefix}\u0000${destination}`;

/**
 * Queues rendered messages at the tail of their lanes. ARGV: prefix, now, then per message 6 values: destination,
 * delivery id, MSH-10, content type, source key ('' = the text is the next value), text. Idempotent per
 * (destination, id): a message already queued (laneAddedAt set) is skipped, so a repeated hand-off after a crash adds
 * nothing. Every source key is checked before anything is written: a script error must not leave half a batch.
 */
const ENQUEUE = `
local p, now = ARGV[1], ARGV[2]
for i = 3, #ARGV, 6 do
  if ARGV[i+4] ~= '' and redis.call('EXISTS', ARGV[i+4]) == 0 then
    return redis.error_reply('ERR rendered output missing: ' .. ARGV[i+4])
  end
end
local added = 0
for i = 3, #ARGV, 6 do
  local dest, id, ctl = ARGV[i], ARGV[i+1], ARGV[i+2]
  local hist = p .. ':dlv:hist:' .. dest .. ':' .. id
  if redis.call('HEXISTS', hist, 'laneAddedAt') == 0 then
    local text = ARGV[i+5]
    if ARGV[i+4] ~= '' then text = redis.call('GET', ARGV[i+4]) end
    redis.call('SET', p .. ':dlv:text:' .. dest .. ':' .. id, text)
    redis.call('HSETNX', hist, 'enqueuedAt', now)
    redis.call('HSET', hist, 'messageId', id, 'destination', dest, 'controlId', ctl, 'contentType', ARGV[i+3],
      'status', 'queued', 'laneAddedAt', now)
    redis.call('SADD', p .. ':dlv:dests:' .. id, dest)
    redis.call('RPUSH', p .. ':dlv:events:' .. dest .. ':' .. id,
      '{"at":"' .. now .. '","type":"queued","controlId":' .. cjson.encode(ctl) .. '}')
    redis.call('RPUSH', p .. ':lane:' .. dest, id)
    added = added + 1
  end
end
return added
`;

/**
 * One step of a lane owner: records the outcomes the sender has reached since the last step, marks the message now
 * in flight, and reads the next entries — one round trip, one fsync, however many messages it covers.
 * ARGV: prefix, destination, lease token, text TTL, history TTL, fetch offset, fetch count, in-flight id ('' none),
 * now, then per outcome 6 values: kind ('d' delivered | 's' skip: already settled), id, attempt event JSON,
 * delivered event JSON, last outcome, attempt start time.
 * Returns {-1} when the lease is not ours, {-2, head} when the list's head is not the first id to pop (someone else
 * changed the lane; re-read it), else {1, then per fetched entry: id, status, cycleAttempts, MSH-10, text}.
 */
const STEP = `
local p, dest, token = ARGV[1], ARGV[2], ARGV[3]
local lane = p .. ':lane:' .. dest
if redis.call('GET', lane .. ':lease') ~= token then return {-1} end
local pops = (#ARGV - 9) / 6
if pops > 0 then
  local heads = redis.call('LRANGE', lane, 0, pops - 1)
  for j = 1, pops do
    if heads[j] ~= ARGV[10 + (j - 1) * 6 + 1] then return {-2, heads[1] or ''} end
  end
end
local textTtl, histTtl, now = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[9]
for i = 10, #ARGV, 6 do
  local id = ARGV[i+1]
  redis.call('LPOP', lane)
  if ARGV[i] == 'd' then
    local hist = p .. ':dlv:hist:' .. dest .. ':' .. id
    local events = p .. ':dlv:events:' .. dest .. ':' .. id
    redis.call('RPUSH', events, ARGV[i+2], ARGV[i+3])
    redis.call('HSET', hist, 'status', 'delivered', 'lastOutcome', ARGV[i+4], 'lastAttemptAt', ARGV[i+5], 'deliveredAt', now)
    redis.call('HINCRBY', hist, 'attempts', 1)
    redis.call('HINCRBY', hist, 'cycleAttempts', 1)
    redis.call('EXPIRE', p .. ':dlv:text:' .. dest .. ':' .. id, textTtl)
    redis.call('EXPIRE', hist, histTtl)
    redis.call('EXPIRE', events, histTtl)
  end
end
if ARGV[8] ~= '' then
  redis.call('HSET', p .. ':dlv:hist:' .. dest .. ':' .. ARGV[8], 'status', 'sending', 'lastAttemptAt', now)
end
local out = {1}
local count = tonumber(ARGV[7])
if count > 0 then
  local from = tonumber(ARGV[6])
  for _, id in ipairs(redis.call('LRANGE', lane, from, from + count - 1)) do
    local h = redis.call('HMGET', p .. ':dlv:hist:' .. dest .. ':' .. id, 'status', 'cycleAttempts', 'controlId')
    local text = redis.call('GET', p .. ':dlv:text:' .. dest .. ':' .. id)
    out[#out + 1] = id
    out[#out + 1] = h[1] or ''
    out[#out + 1] = h[2] or '0'
    out[#out + 1] = h[3] or ''
    out[#out + 1] = text or false
  end
end
return out
`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type Scripted = Redis & {
  barsLaneEnqueue(...args: string[]): Promise<number>;
  barsLaneStep(...args: string[]): Promise<Array<number | string | null>>;
  barsLaneRenew(key: string, token: string, ms: string): Promise<number>;
  barsLaneRelease(key: string, token: string): Promise<number>;
};

/** Registers the scripts on a connection once (ioredis sends EVALSHA and falls back to EVAL after a restart). */
function scripted(redis: Redis): Scripted {
  const r = redis as Scripted;
  if (typeof r.barsLaneStep !== 'function') {
    redis.defineCommand('barsLaneEnqueue', { numberOfKeys: 0, lua: ENQUEUE });
    redis.defineCommand('barsLaneStep', { numberOfKeys: 0, lua: STEP });
    redis.defineCommand('barsLaneRenew', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('barsLaneRelease', { numberOfKeys: 1, lua: RELEASE });
  }
  return r;
}

/** One message to queue; `text` is the rendered message or the key where it is already stored. */
export interface LaneEnqueue {
  readonly destination: string;
  readonly id: string;
  readonly controlId: string;
  readonly contentType: string;
  readonly text: string | { readonly key: string };
}

/** Queues messages in the order given; returns how many were new. */
export async function enqueueEntries(redis: Redis, prefix: string, entries: readonly LaneEnqueue[], now: string): Promise<number> {
  if (entries.length === 0) {
    return 0;
  }
  const args = [prefix, now];
  for (const e of entries) {
    args.push(e.destination, e.id, e.controlId, e.contentType, typeof e.text === 'string' ? '' : e.text.key, typeof e.text === 'string' ? e.text : '');
  }
  return scripted(redis).barsLaneEnqueue(...args);
}

/** An outcome the owner records in its next step. */
export type StepOutcome =
  | {
      readonly kind: 'delivered';
      readonly id: string;
      readonly attemptEvent: string;
      readonly deliveredEvent: string;
      readonly lastOutcome: string;
      readonly startedAt: string;
    }
  | { readonly kind: 'skip'; readonly id: string };

/** One lane entry as the owner reads it. */
export interface FetchedEntry {
  readonly id: string;
  readonly status: string;
  readonly cycleAttempts: number;
  readonly controlId: string;
  /** null when the rendered text is gone (dead-lettered as content-missing). */
  readonly text: string | null;
}

export type StepResult = { readonly kind: 'ok'; readonly fetched: FetchedEntry[] } | { readonly kind: 'lease-lost' } | { readonly kind: 'head-moved' };

/** Runs one owner step (see STEP). */
export async function laneStep(
  redis: Redis,
  o: {
    prefix: string;
    destination: string;
    token: string;
    textTtlSeconds: number;
    historyTtlSeconds: number;
    fetchFrom: number;
    fetchCount: number;
    inFlight: string | undefined;
    now: string;
    outcomes: readonly StepOutcome[];
  },
): Promise<StepResult> {
  const args = [
    o.prefix,
    o.destination,
    o.token,
    String(o.textTtlSeconds),
    String(o.historyTtlSeconds),
    String(o.fetchFrom),
    String(o.fetchCount),
    o.inFlight ?? '',
    o.now,
  ];
  for (const x of o.outcomes) {
    if (x.kind === 'delivered') {
      args.push('d', x.id, x.attemptEvent, x.deliveredEvent, x.lastOutcome, x.startedAt);
    } else {
      args.push('s', x.id, '', '', '', '');
    }
  }
  const reply = await scripted(redis).barsLaneStep(...args);
  if (reply[0] === -1) {
    return { kind: 'lease-lost' };
  }
  if (reply[0] === -2) {
    return { kind: 'head-moved' };
  }
  const fetched: FetchedEntry[] = [];
  for (let i = 1; i + 4 < reply.length; i += 5) {
    fetched.push({
      id: String(reply[i]),
      status: String(reply[i + 1] ?? ''),
      cycleAttempts: Number(reply[i + 2] ?? 0),
      controlId: String(reply[i + 3] ?? ''),
      text: reply[i + 4] === null || reply[i + 4] === undefined ? null : String(reply[i + 4]),
    });
  }
  return { kind: 'ok', fetched };
}

/** Takes the lane if nobody owns it. */
export async function acquireLease(redis: Redis, prefix: string, destination: string, token: string, ms: number): Promise<boolean> {
  return (await redis.set(leaseKey(prefix, destination), token, 'PX', ms, 'NX')) === 'OK';
}

/** Extends our lease; false when it is no longer ours. */
export async function renewLease(redis: Redis, prefix: string, destination: string, token: string, ms: number): Promise<boolean> {
  return (await scripted(redis).barsLaneRenew(leaseKey(prefix, destination), token, String(ms))) === 1;
}

/** Gives the lane up (graceful close), so a standby takes over at its next poll instead of after the TTL. */
export async function releaseLease(redis: Redis, prefix: string, destination: string, token: string): Promise<void> {
  await scripted(redis).barsLaneRelease(leaseKey(prefix, destination), token);
}
