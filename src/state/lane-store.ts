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
 * Keys: the `lane*` and `dlv:*` families of state/keys.ts (what each holds is described there). Under a hash tag such
 * as `{bars}` every key is in one Cluster slot, so these scripts build keys from the prefix themselves, with Lua
 * functions generated from the same table (luaKeyFunctions).
 *
 * Record-level consistency: a referral's or booking's messages are one story for the PAS (A05 → I12 → I13 …); once
 * one of them cannot be delivered, delivering the later ones would tell the PAS about updates to something it never
 * received. So they wait, visibly, in the held set until ops replay or drop the dead letter; other records flow on.
 * Every entry carries its receipt position (`order` = receipt sequence × 1000 + output index), so a replayed dead
 * letter and what was held behind it go back to where they were received, not to the back of the lane.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { keyspace, luaKeyFunctions } from './keys.js';
import { deliveredLinkArgs, LINK_LUA } from './link-state.js';


/**
 * Wakes this process's lane runner at once when this process queued something, instead of at its next poll.
 * Process-local by design: a runner in another process finds new entries at its next poll (tens of ms).
 */
export const laneWakeups = new EventEmitter().setMaxListeners(0);
export const wakeupName = (prefix: string, destination: string): string => `${prefix}\u0000${destination}`;

/** Lua shared by the scripts that place entries: key names (state/keys.ts), receipt position, dead letters of a record, held sets. */
const LIB = `
${luaKeyFunctions(['lane', 'laneLease', 'laneReadTo', 'deliveryHistory', 'deliveryEvents', 'deliveryText', 'deliveryDestinations', 'deadLetter', 'deadLetters', 'deliveryBlockers', 'deliveryHeld', 'deliveryBlocked'])}
local function orderOf(p, dest, id) return tonumber(redis.call('HGET', key_deliveryHistory(p, dest, id), 'order') or '') end
local function firstBlocker(p, dest, record)
  if record == nil or record == '' then return nil end
  local b = redis.call('ZRANGE', key_deliveryBlockers(p, dest, record), 0, 0, 'WITHSCORES')
  if #b == 0 then return nil end
  return b[1], tonumber(b[2])
end
local function event(p, dest, id, json) redis.call('RPUSH', key_deliveryEvents(p, dest, id), json) end
-- Where an insertion may go: after the entries the owner holds in memory (0 when nobody owns the lane).
local function safeFrom(p, dest)
  if redis.call('EXISTS', key_laneLease(p, dest)) == 0 then return 0 end
  return tonumber(redis.call('GET', key_laneReadTo(p, dest)) or '0')
end
-- Inserts before the first entry (from index 'from' on) received after it; an entry without a position goes last.
local function insertInLane(p, dest, id, order, from)
  local lane = key_lane(p, dest)
  if order ~= nil then
    local i = from
    while true do
      local ids = redis.call('LRANGE', lane, i, i + 255)
      if #ids == 0 then break end
      for _, other in ipairs(ids) do
        local o = orderOf(p, dest, other)
        if o ~= nil and o > order then
          redis.call('LINSERT', lane, 'BEFORE', other, id)
          return
        end
      end
      i = i + #ids
    end
  end
  redis.call('RPUSH', lane, id)
end
-- Puts an entry on its lane (at the tail when from is nil, else at its receipt position), or in its record's held
-- set when an earlier message of the record is a dead letter. Returns the dead letter it is held behind, if any.
local function place(p, dest, id, record, order, from, now)
  local blocker, border = firstBlocker(p, dest, record)
  local hist = key_deliveryHistory(p, dest, id)
  if blocker ~= nil and blocker ~= id and (order == nil or border < order) then
    redis.call('ZADD', key_deliveryHeld(p, dest, record), order or 1e15, id)
    redis.call('HSET', hist, 'status', 'held', 'heldBehind', blocker)
    event(p, dest, id, '{"at":"' .. now .. '","type":"held","detail":' .. cjson.encode('behind dead letter ' .. blocker) .. '}')
    return blocker
  end
  redis.call('HSET', hist, 'status', 'queued')
  redis.call('HDEL', hist, 'heldBehind')
  if from == nil then redis.call('RPUSH', key_lane(p, dest), id) else insertInLane(p, dest, id, order, from) end
  return nil
end
-- Makes a dead letter block the later messages of its record.
local function block(p, dest, id, record, order)
  if record == nil or record == '' then return end
  redis.call('ZADD', key_deliveryBlockers(p, dest, record), order or 1e15, id)
  redis.call('SADD', key_deliveryBlocked(p, dest), record)
end
-- After a dead letter of the record was replayed or dropped: what was held behind it goes back to the lane at its
-- receipt position, up to the record's next dead letter (behind which the rest stays held). Returns how many.
local function release(p, dest, record, from, now)
  if record == nil or record == '' then return 0 end
  local heldKey = key_deliveryHeld(p, dest, record)
  local blocker, border = firstBlocker(p, dest, record)
  local ids
  if blocker ~= nil then
    ids = redis.call('ZRANGEBYSCORE', heldKey, '-inf', '(' .. border)
  else
    ids = redis.call('ZRANGE', heldKey, 0, -1)
    redis.call('SREM', key_deliveryBlocked(p, dest), record)
  end
  for _, id in ipairs(ids) do
    redis.call('ZREM', heldKey, id)
    local hist = key_deliveryHistory(p, dest, id)
    redis.call('HSET', hist, 'status', 'queued')
    redis.call('HDEL', hist, 'heldBehind')
    event(p, dest, id, '{"at":"' .. now .. '","type":"released"}')
    insertInLane(p, dest, id, orderOf(p, dest, id), from)
  end
  if blocker ~= nil then
    for _, id in ipairs(redis.call('ZRANGE', heldKey, 0, -1)) do redis.call('HSET', key_deliveryHistory(p, dest, id), 'heldBehind', blocker) end
  end
  return #ids
end
`;

/**
 * Queues rendered messages. ARGV: prefix, now (ISO), now (ms), mode ('tail': the sequencer's hand-off in receipt
 * order; 'position': a late hand-off, each at its receipt position), then per message 9 values: destination,
 * delivery id, MSH-10, content type, source key ('' = the text is the next value), text (or, for a mapping failure,
 * its reason), record ('' = none), receipt position ('' = none), kind ('m' a rendered message, 'f' a mapping failure:
 * recorded as a dead letter in its place, holding the later messages of its record).
 * Idempotent per (destination, id): a message already queued (laneAddedAt set) is skipped, so a repeated hand-off
 * after a crash adds nothing. Every source key is checked before anything is written: a script error must not leave
 * half a batch. A message of a record with an earlier dead letter goes to the record's held set instead of the lane.
 */
const ENQUEUE = `${LIB}
local p, now, nowMs, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local N = 9
-- Each source text is read once, here, before anything is written (the check and the read are one GET).
local texts = {}
for i = 5, #ARGV, N do
  if ARGV[i+8] == 'm' and ARGV[i+4] ~= '' then
    local t = redis.call('GET', ARGV[i+4])
    if not t then return redis.error_reply('ERR rendered output missing: ' .. ARGV[i+4]) end
    texts[i] = t
  end
end
local added, froms, blocked = 0, {}, {}
for i = 5, #ARGV, N do
  local dest, id, ctl, record, order = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+6], tonumber(ARGV[i+7])
  local hist = key_deliveryHistory(p, dest, id)
  local seen = redis.call('HMGET', hist, 'laneAddedAt', 'enqueuedAt')
  if not seen[1] then
    local fields = {'messageId', id, 'destination', dest, 'controlId', ctl, 'contentType', ARGV[i+3], 'laneAddedAt', now, 'status', 'queued'}
    -- enqueuedAt keeps the first enqueue's time (HSETNX before; one HMGET now reads both fields).
    if not seen[2] then fields[#fields + 1] = 'enqueuedAt'; fields[#fields + 1] = now end
    if record ~= '' then fields[#fields + 1] = 'record'; fields[#fields + 1] = record end
    if order ~= nil then fields[#fields + 1] = 'order'; fields[#fields + 1] = ARGV[i+7] end
    redis.call('HSET', hist, unpack(fields))
    redis.call('SADD', key_deliveryDestinations(p, id), dest)
    if ARGV[i+8] == 'f' then
      redis.call('HSET', hist, 'status', 'dead-lettered', 'deadLetteredAt', now, 'lastOutcome', 'mapping-failed')
      event(p, dest, id, '{"at":"' .. now .. '","type":"dead-lettered","controlId":' .. cjson.encode(ctl) .. ',"detail":"mapping-failed"}')
      redis.call('HSET', key_deadLetter(p, dest, id), 'destination', dest, 'messageId', id, 'controlId', ctl,
        'renderedKey', '', 'reason', 'mapping-failed', 'detail', ARGV[i+5], 'attempts', 0, 'deadLetteredAt', now)
      redis.call('ZADD', key_deadLetters(p), nowMs, dest .. '/' .. id)
      block(p, dest, id, record, order)
      if record ~= '' then blocked[dest] = true end
    else
      local text = ARGV[i+5]
      if ARGV[i+4] ~= '' then text = texts[i] end
      redis.call('SET', key_deliveryText(p, dest, id), text)
      event(p, dest, id, '{"at":"' .. now .. '","type":"queued","controlId":' .. cjson.encode(ctl) .. '}')
      if blocked[dest] == nil then blocked[dest] = redis.call('EXISTS', key_deliveryBlocked(p, dest)) == 1 end
      if mode == 'position' then
        if froms[dest] == nil then froms[dest] = safeFrom(p, dest) end
        place(p, dest, id, record, order, froms[dest], now)
      elseif blocked[dest] then
        place(p, dest, id, record, order, nil, now)
      else
        redis.call('RPUSH', key_lane(p, dest), id)
      end
    end
    added = added + 1
  end
end
return added
`;

/**
 * One step of a lane owner: records the outcomes the sender has reached since the last step, marks the message now
 * in flight, and reads the next entries — one round trip, one fsync, however many messages it covers.
 * ARGV: prefix, destination, lease token, text TTL, history TTL, fetch offset, fetch count, in-flight id ('' none),
 * now, now (ms), the last delivered ACK's code and screened text for the link state ('' for a file drop; see
 * link-state.ts: the batch's deliveries are recorded there in this same call), then per outcome 6 values: kind ('d' delivered | 's' skip: already settled | 'h' hold: an earlier message of
 * its record is a dead letter), id, attempt event JSON, delivered event JSON, last outcome, attempt start time.
 * Returns {-1} when the lease is not ours, {-2, head} when the list's head is not the first id to pop (someone else
 * changed the lane; re-read it), else {1, then per fetched entry: id, status, cycleAttempts, MSH-10, record, receipt
 * position, held ('1' when an earlier message of its record is a dead letter), text}.
 * It also notes how far the owner has read (readTo): a replay inserted later goes after what the owner holds.
 */
const STEP = `${LIB}${LINK_LUA}
local p, dest, token = ARGV[1], ARGV[2], ARGV[3]
local lane = key_lane(p, dest)
if redis.call('GET', key_laneLease(p, dest)) ~= token then return {-1} end
local pops = (#ARGV - 12) / 6
if pops > 0 then
  local heads = redis.call('LRANGE', lane, 0, pops - 1)
  for j = 1, pops do
    if heads[j] ~= ARGV[13 + (j - 1) * 6 + 1] then return {-2, heads[1] or ''} end
  end
end
local textTtl, histTtl, now = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[9]
local from = tonumber(ARGV[6])
local holds = {}
local delivered = 0
for i = 13, #ARGV, 6 do
  local id = ARGV[i+1]
  redis.call('LPOP', lane)
  if ARGV[i] == 'd' then
    delivered = delivered + 1
    local hist = key_deliveryHistory(p, dest, id)
    local events = key_deliveryEvents(p, dest, id)
    redis.call('RPUSH', events, ARGV[i+2], ARGV[i+3])
    redis.call('HSET', hist, 'status', 'delivered', 'lastOutcome', ARGV[i+4], 'lastAttemptAt', ARGV[i+5], 'deliveredAt', now)
    redis.call('HINCRBY', hist, 'attempts', 1)
    redis.call('HINCRBY', hist, 'cycleAttempts', 1)
    redis.call('EXPIRE', key_deliveryText(p, dest, id), textTtl)
    redis.call('EXPIRE', hist, histTtl)
    redis.call('EXPIRE', events, histTtl)
  elseif ARGV[i] == 'h' then
    holds[#holds + 1] = id
  elseif redis.call('HGET', key_deliveryHistory(p, dest, id), 'status') == 'queued' then
    -- Skipped as settled (dead-lettered), but ops replayed it before this pop: it goes back, not away.
    holds[#holds + 1] = id
  end
end
-- Held entries leave the lane for their record's held set; if ops replayed or dropped the dead letter since the
-- owner read them, they go back to the lane at their receipt position instead (after what the owner holds).
for _, id in ipairs(holds) do
  local h = redis.call('HMGET', key_deliveryHistory(p, dest, id), 'record', 'order')
  place(p, dest, id, h[1] or '', tonumber(h[2] or ''), from, now)
end
if ARGV[8] ~= '' then
  redis.call('HSET', key_deliveryHistory(p, dest, ARGV[8]), 'status', 'sending', 'lastAttemptAt', now)
end
if delivered > 0 then linkRecord(p, dest, 'connected', now, tonumber(ARGV[10]), ARGV[11], ARGV[12], '', delivered, '') end
local out = {1}
local count = tonumber(ARGV[7])
local read = 0
if count > 0 then
  local anyBlocked = redis.call('EXISTS', key_deliveryBlocked(p, dest)) == 1
  for _, id in ipairs(redis.call('LRANGE', lane, from, from + count - 1)) do
    local h = redis.call('HMGET', key_deliveryHistory(p, dest, id), 'status', 'cycleAttempts', 'controlId', 'record', 'order')
    local text = redis.call('GET', key_deliveryText(p, dest, id))
    local held = '0'
    if anyBlocked and h[4] then
      local blocker, border = firstBlocker(p, dest, h[4])
      local order = tonumber(h[5] or '')
      if blocker ~= nil and blocker ~= id and (order == nil or border < order) then held = '1' end
    end
    out[#out + 1] = id
    out[#out + 1] = h[1] or ''
    out[#out + 1] = h[2] or '0'
    out[#out + 1] = h[3] or ''
    out[#out + 1] = h[4] or ''
    out[#out + 1] = h[5] or ''
    out[#out + 1] = held
    out[#out + 1] = text or false
    read = read + 1
  end
end
redis.call('SET', key_laneReadTo(p, dest), from + read)
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

/**
 * Replays a dead letter: out of the dead-letter set, back on its lane at its receipt position (after what the owner
 * holds), or into its record's held set when an earlier message of the record is still a dead letter; then what was
 * held behind it is released the same way. ARGV: prefix, destination, id, MSH-10, now, replacement text ('' = keep)
 * and its content type. Returns {0} when it is not a dead letter, else {1, held behind ('' none), released count}.
 */
const REPLAY = `${LIB}
local p, dest, id, ctl, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rec = key_deadLetter(p, dest, id)
if redis.call('EXISTS', rec) == 0 then return {0} end
local hist = key_deliveryHistory(p, dest, id)
if ARGV[6] ~= '' then
  redis.call('SET', key_deliveryText(p, dest, id), ARGV[6])
  redis.call('HSET', hist, 'contentType', ARGV[7])
end
redis.call('ZREM', key_deadLetters(p), dest .. '/' .. id)
redis.call('DEL', rec)
redis.call('HINCRBY', hist, 'replays', 1)
redis.call('HSET', hist, 'controlId', ctl, 'cycleAttempts', 0)
redis.call('HDEL', hist, 'deadLetteredAt')
local h = redis.call('HMGET', hist, 'record', 'order')
local record, order = h[1] or '', tonumber(h[2] or '')
if record ~= '' then redis.call('ZREM', key_deliveryBlockers(p, dest, record), id) end
local from = safeFrom(p, dest)
local behind = nil
if redis.call('LPOS', key_lane(p, dest), id) == false then
  behind = place(p, dest, id, record, order, from, now)
else
  -- Dead-lettered by an owner that has not popped it yet: its step sees it queued again and puts it back.
  redis.call('HSET', hist, 'status', 'queued')
end
local released = release(p, dest, record, from, now)
return {1, behind or '', released}
`;

/**
 * Drops a dead letter for good (its text deleted, its history kept) and releases what was held behind it.
 * ARGV: prefix, destination, id, now. Returns {0} when it is not a dead letter, else {1, released count}.
 */
const DROP = `${LIB}
local p, dest, id, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local rec = key_deadLetter(p, dest, id)
if redis.call('EXISTS', rec) == 0 then return {0} end
local renderedKey = redis.call('HGET', rec, 'renderedKey')
if renderedKey == false or renderedKey == '' then renderedKey = key_deliveryText(p, dest, id) end
redis.call('ZREM', key_deadLetters(p), dest .. '/' .. id)
redis.call('DEL', rec, renderedKey)
local hist = key_deliveryHistory(p, dest, id)
redis.call('HSET', hist, 'status', 'dropped')
local record = redis.call('HGET', hist, 'record') or ''
if record ~= '' then redis.call('ZREM', key_deliveryBlockers(p, dest, record), id) end
return {1, release(p, dest, record, safeFrom(p, dest), now)}
`;

/**
 * Records that the lane gave up on a message and makes it hold the later messages of its record. ARGV: prefix,
 * destination, id, MSH-10, rendered key, reason, detail, now (ISO), now (ms).
 */
const DEAD_LETTER = `${LIB}
local p, dest, id, now = ARGV[1], ARGV[2], ARGV[3], ARGV[8]
local hist = key_deliveryHistory(p, dest, id)
local h = redis.call('HMGET', hist, 'cycleAttempts', 'record', 'order')
redis.call('HSET', key_deadLetter(p, dest, id), 'destination', dest, 'messageId', id, 'controlId', ARGV[4],
  'renderedKey', ARGV[5], 'reason', ARGV[6], 'detail', ARGV[7], 'attempts', h[1] or '0', 'deadLetteredAt', now)
redis.call('ZADD', key_deadLetters(p), ARGV[9], dest .. '/' .. id)
redis.call('HSET', hist, 'status', 'dead-lettered', 'deadLetteredAt', now)
event(p, dest, id, '{"at":"' .. now .. '","type":"dead-lettered","controlId":' .. cjson.encode(ARGV[4]) .. ',"detail":' .. cjson.encode(ARGV[6]) .. '}')
block(p, dest, id, h[2] or '', tonumber(h[3] or ''))
return 1
`;

type Scripted = Redis & {
  barsLaneEnqueue(...args: string[]): Promise<number>;
  barsLaneStep(...args: string[]): Promise<Array<number | string | null>>;
  barsLaneRenew(key: string, token: string, ms: string): Promise<number>;
  barsLaneRelease(key: string, token: string): Promise<number>;
  barsLaneReplay(...args: string[]): Promise<Array<number | string>>;
  barsLaneDrop(...args: string[]): Promise<number[]>;
  barsLaneDeadLetter(...args: string[]): Promise<number>;
};

/** Registers the scripts on a connection once (ioredis sends EVALSHA and falls back to EVAL after a restart). */
function scripted(redis: Redis): Scripted {
  const r = redis as Scripted;
  if (typeof r.barsLaneDeadLetter !== 'function') {
    redis.defineCommand('barsLaneEnqueue', { numberOfKeys: 0, lua: ENQUEUE });
    redis.defineCommand('barsLaneStep', { numberOfKeys: 0, lua: STEP });
    redis.defineCommand('barsLaneRenew', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('barsLaneRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('barsLaneReplay', { numberOfKeys: 0, lua: REPLAY });
    redis.defineCommand('barsLaneDrop', { numberOfKeys: 0, lua: DROP });
    redis.defineCommand('barsLaneDeadLetter', { numberOfKeys: 0, lua: DEAD_LETTER });
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
  /** `ServiceRequest/<id>` or `Appointment/<id>`: the record whose messages must reach the PAS in order. */
  readonly record?: string;
  /** Receipt position (receipt sequence × 1000 + output index). */
  readonly order?: number;
  /** Set when the mapping failed: recorded as a dead letter (reason `mapping-failed`, this detail) in its place. */
  readonly failure?: string;
}

/**
 * Queues messages in the order given; returns how many were new.
 * @param mode - `tail` (the sequencer's hand-off, already in receipt order) or `position` (a late hand-off: each at
 *   its receipt position).
 */
export async function enqueueEntries(
  redis: Redis,
  prefix: string,
  entries: readonly LaneEnqueue[],
  now: Date,
  mode: 'tail' | 'position' = 'tail',
): Promise<number> {
  if (entries.length === 0) {
    return 0;
  }
  const args = [prefix, now.toISOString(), String(now.getTime()), mode];
  for (const e of entries) {
    const keyed = typeof e.text !== 'string' && e.failure === undefined;
    args.push(
      e.destination,
      e.id,
      e.controlId,
      e.contentType,
      keyed ? (e.text as { key: string }).key : '',
      e.failure ?? (typeof e.text === 'string' ? e.text : ''),
      e.record ?? '',
      e.order === undefined ? '' : String(e.order),
      e.failure === undefined ? 'm' : 'f',
    );
  }
  return scripted(redis).barsLaneEnqueue(...args);
}

/** Records a dead letter made by a lane owner (see DEAD_LETTER). */
export async function deadLetterEntry(
  redis: Redis,
  prefix: string,
  e: { destination: string; id: string; controlId: string; renderedKey: string; reason: string; detail: string },
  now: Date,
): Promise<void> {
  await scripted(redis).barsLaneDeadLetter(prefix, e.destination, e.id, e.controlId, e.renderedKey, e.reason, e.detail, now.toISOString(), String(now.getTime()));
}

/** Replays a dead letter (see REPLAY); undefined when it is not a dead letter. */
export async function replayEntry(
  redis: Redis,
  prefix: string,
  e: { destination: string; id: string; controlId: string; text?: { text: string; contentType: string } },
  now: Date,
): Promise<{ heldBehind: string | undefined; released: number } | undefined> {
  const reply = await scripted(redis).barsLaneReplay(prefix, e.destination, e.id, e.controlId, now.toISOString(), e.text?.text ?? '', e.text?.contentType ?? '');
  if (reply[0] !== 1) {
    return undefined;
  }
  return { heldBehind: reply[1] ? String(reply[1]) : undefined, released: Number(reply[2]) };
}

/** Drops a dead letter (see DROP); undefined when it is not a dead letter, else how many were released. */
export async function dropEntry(redis: Redis, prefix: string, destination: string, id: string, now: Date): Promise<number | undefined> {
  const reply = await scripted(redis).barsLaneDrop(prefix, destination, id, now.toISOString());
  return reply[0] === 1 ? Number(reply[1]) : undefined;
}

/** One record whose later messages are held behind a dead letter on a destination. */
export interface HeldRecord {
  readonly record: string;
  /** The record's first dead letter (delivery id). */
  readonly behind: string;
  readonly held: number;
}

/** Records held on a destination, with the dead letter each is held behind and how many messages wait. */
export async function heldRecords(redis: Redis, prefix: string, destination: string, limit = 100): Promise<{ records: HeldRecord[]; held: number }> {
  const k = keyspace(prefix);
  const records = (await redis.smembers(k.deliveryBlocked(destination))).sort();
  const pipeline = redis.pipeline();
  for (const record of records) {
    pipeline.zrange(k.deliveryBlockers(destination, record), '0', '0');
    pipeline.zcard(k.deliveryHeld(destination, record));
  }
  const replies = ((await pipeline.exec()) ?? []).map(([, v]) => v);
  const out: HeldRecord[] = records.map((record, i) => ({
    record,
    behind: (replies[2 * i] as string[])[0] ?? '',
    held: Number(replies[2 * i + 1]),
  }));
  return { records: out.filter((r) => r.held > 0).slice(0, limit), held: out.reduce((n, r) => n + r.held, 0) };
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
      /** The ACK (MSA-1, MSA-3) for the link state; none for a file drop. */
      readonly ack?: { readonly code: string; readonly text?: string | undefined };
    }
  | { readonly kind: 'skip'; readonly id: string }
  | { readonly kind: 'hold'; readonly id: string };

/** One lane entry as the owner reads it. */
export interface FetchedEntry {
  readonly id: string;
  readonly status: string;
  readonly cycleAttempts: number;
  readonly controlId: string;
  readonly record: string;
  readonly order: number | undefined;
  /** An earlier message of its record is a dead letter: it must not be sent. */
  readonly held: boolean;
  /** null when the rendered text is gone (dead-lettered as content-missing). */
  readonly text: string | null;
}

export type StepResult = { readonly kind: 'ok'; readonly fetched: FetchedEntry[] } | { readonly kind: 'lease-lost' } | { readonly kind: 'head-moved' };

/** The ACK of the last delivered outcome of a step: what the link state shows. */
function lastDeliveredAck(outcomes: readonly StepOutcome[]): { code: string; text?: string | undefined } | undefined {
  for (let i = outcomes.length - 1; i >= 0; i -= 1) {
    const x = outcomes[i]!;
    if (x.kind === 'delivered') {
      return x.ack;
    }
  }
  return undefined;
}

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
    String(Date.parse(o.now)),
    ...deliveredLinkArgs(lastDeliveredAck(o.outcomes)),
  ];
  for (const x of o.outcomes) {
    if (x.kind === 'delivered') {
      args.push('d', x.id, x.attemptEvent, x.deliveredEvent, x.lastOutcome, x.startedAt);
    } else {
      args.push(x.kind === 'hold' ? 'h' : 's', x.id, '', '', '', '');
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
  for (let i = 1; i + 7 < reply.length; i += 8) {
    const order = String(reply[i + 5] ?? '');
    fetched.push({
      id: String(reply[i]),
      status: String(reply[i + 1] ?? ''),
      cycleAttempts: Number(reply[i + 2] ?? 0),
      controlId: String(reply[i + 3] ?? ''),
      record: String(reply[i + 4] ?? ''),
      order: order === '' ? undefined : Number(order),
      held: reply[i + 6] === '1',
      text: reply[i + 7] === null || reply[i + 7] === undefined ? null : String(reply[i + 7]),
    });
  }
  return { kind: 'ok', fetched };
}

/** Takes the lane if nobody owns it. */
export async function acquireLease(redis: Redis, prefix: string, destination: string, token: string, ms: number): Promise<boolean> {
  return (await redis.set(keyspace(prefix).laneLease(destination), token, 'PX', ms, 'NX')) === 'OK';
}

/** Extends our lease; false when it is no longer ours. */
export async function renewLease(redis: Redis, prefix: string, destination: string, token: string, ms: number): Promise<boolean> {
  return (await scripted(redis).barsLaneRenew(keyspace(prefix).laneLease(destination), token, String(ms))) === 1;
}

/** Gives the lane up (graceful close), so a standby takes over at its next poll instead of after the TTL. */
export async function releaseLease(redis: Redis, prefix: string, destination: string, token: string): Promise<void> {
  await scripted(redis).barsLaneRelease(keyspace(prefix).laneLease(destination), token);
}

/** One message on a lane, as the transport and the dead-letter records see it: ids only. */
export interface LaneEntry {
  readonly messageId: string;
  readonly destination: string;
  readonly controlId: string;
  /** Redis key of the rendered text. */
  readonly renderedKey: string;
}
