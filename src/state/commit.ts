/*
 * Atomic commit of one accepted message: every precondition is checked and every write is made inside one Lua script,
 * so a 200 is only ever given for a message whose whole state landed (ARCHITECTURE invariant 1), and two racing
 * senders cannot both book one slot or both supersede one record version. The plan is data built in TypeScript;
 * the script only interprets it. Keys are passed as KEYS (all share the `{bars}` hash tag for Redis Cluster).
 */
import type { Redis } from 'ioredis';

export type Check =
  /** KEYS[key] must not exist. */
  | { readonly kind: 'absent'; readonly key: number; readonly fail: string }
  /** HGET KEYS[key] field must equal value ('' = field missing). */
  | { readonly kind: 'field-equals'; readonly key: number; readonly field: string; readonly value: string; readonly fail: string }
  /**
   * KEYS[key] must not exist, or its value must name `owner` after its first space ("<messageId> <owner>"): a
   * Bundle.id retained across the messages of one record (see process-message.ts).
   */
  | { readonly kind: 'absent-or-owner'; readonly key: number; readonly owner: string; readonly fail: string }
  /** SCARD KEYS[key] must be below `below`. */
  | { readonly kind: 'set-below'; readonly key: number; readonly below: number; readonly fail: string };

export type Write =
  | { readonly op: 'set'; readonly key: number; readonly value: string; readonly ttl?: number }
  /** SET KEYS[key] to a large value passed as its own script argument (no JSON-in-JSON for message bodies). */
  | { readonly op: 'set-arg'; readonly key: number; readonly value: string | Buffer }
  | { readonly op: 'hset'; readonly key: number; readonly fields: Readonly<Record<string, string>> }
  | { readonly op: 'sadd'; readonly key: number; readonly members: readonly string[] }
  | { readonly op: 'srem'; readonly key: number; readonly members: readonly string[] }
  | { readonly op: 'zrem'; readonly key: number; readonly members: readonly string[] }
  /** UNLINK KEYS[key] (retention). */
  | { readonly op: 'del'; readonly key: number }
  | { readonly op: 'rpush'; readonly key: number; readonly values: readonly string[] }
  | { readonly op: 'zadd'; readonly key: number; readonly score: number; readonly member: string }
  | { readonly op: 'expire'; readonly key: number; readonly ttl: number }
  /** INCR KEYS[key] and store the new value at KEYS[into]: the receipt order of a message, fixed at commit. */
  | { readonly op: 'seq'; readonly key: number; readonly into: number };

export interface CommitPlan {
  readonly keys: readonly string[];
  readonly checks: readonly Check[];
  readonly writes: readonly Write[];
}

const SCRIPT = `
local plan = cjson.decode(ARGV[1])
local function val(v)
  if type(v) == 'table' then return ARGV[v.arg] end
  return v
end
for _, c in ipairs(plan.checks or {}) do
  local key = KEYS[c.key]
  if c.kind == 'absent' then
    if redis.call('EXISTS', key) == 1 then return c.fail end
  elseif c.kind == 'field-equals' then
    local v = redis.call('HGET', key, c.field)
    if v == false then v = '' end
    if v ~= c.value then return c.fail end
  elseif c.kind == 'absent-or-owner' then
    local v = redis.call('GET', key)
    if v then
      local sp = string.find(v, ' ', 1, true)
      if not sp or string.sub(v, sp + 1) ~= c.owner then return c.fail end
    end
  elseif c.kind == 'set-below' then
    if redis.call('SCARD', key) >= c.below then return c.fail end
  end
end
for _, w in ipairs(plan.writes or {}) do
  local key = KEYS[w.key]
  if w.op == 'set' then
    if w.ttl then redis.call('SET', key, val(w.value), 'EX', w.ttl) else redis.call('SET', key, val(w.value)) end
  elseif w.op == 'set-arg' then
    redis.call('SET', key, ARGV[w.arg])
  elseif w.op == 'hset' then
    local args = {}
    for f, v in pairs(w.fields) do table.insert(args, f); table.insert(args, val(v)) end
    if #args > 0 then redis.call('HSET', key, unpack(args)) end
  elseif w.op == 'sadd' then
    redis.call('SADD', key, unpack(w.members))
  elseif w.op == 'srem' then
    redis.call('SREM', key, unpack(w.members))
  elseif w.op == 'zrem' then
    redis.call('ZREM', key, unpack(w.members))
  elseif w.op == 'del' then
    redis.call('UNLINK', key)
  elseif w.op == 'rpush' then
    redis.call('RPUSH', key, unpack(w.values))
  elseif w.op == 'zadd' then
    redis.call('ZADD', key, w.score, w.member)
  elseif w.op == 'expire' then
    redis.call('EXPIRE', key, w.ttl)
  elseif w.op == 'seq' then
    redis.call('SET', KEYS[w.into], redis.call('INCR', key))
  end
end
return 'OK'
`;

/** Registers the commit script on a connection (EVALSHA with automatic EVAL fallback). */
type WithCommit = Redis & { barsCommit(numKeys: number, ...args: Array<string | Buffer>): Promise<string> };

export function defineCommit(redis: Redis): WithCommit {
  if (!('barsCommit' in redis)) {
    redis.defineCommand('barsCommit', { lua: SCRIPT });
  }
  return redis as WithCommit;
}

/**
 * String values at least this long are passed as script arguments of their own rather than inside the JSON plan: a
 * record's state is JSON, and escaping it into the plan, then decoding it with cjson, was the costliest part of a
 * commit after the message body.
 */
const ARG_MIN_LENGTH = 128;

/**
 * Runs a plan. Resolves 'OK', or the `fail` tag of the first check that did not hold (nothing written then).
 * 1-based key indexes, as in Lua.
 */
export async function runCommit(redis: Redis, plan: CommitPlan): Promise<string> {
  const commit = defineCommit(redis);
  // ARGV[1] is the plan itself; large values follow it.
  const extra: Array<string | Buffer> = [];
  const arg = (value: string | Buffer): number => extra.push(value) + 1;
  const inline = (value: string): string | { arg: number } => (value.length < ARG_MIN_LENGTH ? value : { arg: arg(value) });
  // cjson decodes [] as an object, which would break unpack(): empty arrays are left out of the plan (they never occur
  // in one except by mistake, and then the script fails rather than writes something else).
  let empty = plan.checks.length === 0 || plan.writes.length === 0;
  const writes = plan.writes.map((w) => {
    switch (w.op) {
      case 'set-arg':
        return { op: w.op, key: w.key, arg: arg(w.value) };
      case 'set':
        return { ...w, value: inline(w.value) };
      case 'hset': {
        const fields: Record<string, string | { arg: number }> = {};
        for (const f in w.fields) {
          fields[f] = inline(w.fields[f]!);
        }
        return { ...w, fields };
      }
      case 'sadd':
      case 'srem':
      case 'zrem':
        empty ||= w.members.length === 0;
        return w;
      case 'rpush':
        empty ||= w.values.length === 0;
        return w;
      default:
        return w;
    }
  });
  const plain = { checks: plan.checks, writes };
  const payload = empty ? JSON.stringify(plain, (_k, v: unknown) => (Array.isArray(v) && v.length === 0 ? undefined : v)) : JSON.stringify(plain);
  return commit.barsCommit(plan.keys.length, ...plan.keys, payload, ...extra);
}

/** Collects keys and hands out their 1-based indexes, so plans read naturally at the call site. */
export class KeyTable {
  private readonly list: string[] = [];
  private readonly byName = new Map<string, number>();

  key(name: string): number {
    let index = this.byName.get(name);
    if (index === undefined) {
      this.list.push(name);
      index = this.list.length;
      this.byName.set(name, index);
    }
    return index;
  }

  get keys(): readonly string[] {
    return this.list;
  }
}
