/*
 * The audit lists: who looked up which patient (trace), who replayed or dropped which dead letter (delivery and
 * responses). Each is a Redis list of JSON entries with an `at` time, newest last. Bounded twice, because a list that
 * only grows is both a memory leak under `noeviction` (every referral then gets 503) and personal data kept for ever:
 * at most AUDIT_MAX_ENTRIES per list on every append, and entries older than `retention.auditDays` removed by the
 * retention pass.
 */
import type { Redis } from 'ioredis';

/** Key suffixes (after the prefix) of every audit list; retention prunes exactly these. */
export const AUDIT_LISTS = ['audit:trace', 'dlv:audit', 'resp:audit'] as const;
export type AuditList = (typeof AUDIT_LISTS)[number];

/** Per list: a year of ~270 actions a day. */
export const AUDIT_MAX_ENTRIES = 100_000;

/** An audit entry: when, who, and what was done (ids and codes only). */
export interface AuditEntry {
  readonly at: string;
  readonly actor: string;
  readonly [field: string]: unknown;
}

export const auditKey = (prefix: string, list: AuditList): string => `${prefix}:${list}`;

/** Appends one entry (it must carry `at`, an ISO time) and trims the list to its bound, in one transaction. */
export async function appendAudit(redis: Redis, prefix: string, list: AuditList, entry: AuditEntry): Promise<void> {
  const key = auditKey(prefix, list);
  await redis.multi().rpush(key, JSON.stringify(entry)).ltrim(key, -AUDIT_MAX_ENTRIES, -1).exec();
}

export async function readAudit(redis: Redis, prefix: string, list: AuditList, limit = 100): Promise<unknown[]> {
  return (await redis.lrange(auditKey(prefix, list), -limit, -1)).map((line) => JSON.parse(line) as unknown);
}

// Entries are appended in time order, so the old ones are at the head: pop while the head is older than the cutoff.
// An unreadable head is old by definition (nothing we write lacks `at`).
const PRUNE = `
local n = 0
while n < tonumber(ARGV[2]) do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local ok, entry = pcall(cjson.decode, head)
  local at = ok and type(entry) == 'table' and entry['at'] or nil
  if type(at) == 'string' and at >= ARGV[1] then break end
  redis.call('LPOP', KEYS[1])
  n = n + 1
end
return n
`;

/** Removes entries older than `cutoff` from every audit list, at most `batch` per list per call. @returns how many. */
export async function pruneAudit(redis: Redis, prefix: string, cutoff: Date, batch = 1000): Promise<number> {
  let removed = 0;
  for (const list of AUDIT_LISTS) {
    // ISO-8601 UTC times compare as strings.
    removed += (await redis.eval(PRUNE, 1, auditKey(prefix, list), cutoff.toISOString(), String(batch))) as number;
  }
  return removed;
}
