/*
 * The diary mirror in Redis: per HealthcareService, the PAS appointments (and blocked periods) that hold time, when
 * the PAS last told us anything, and the conflicts ops must see. Ids and times only — never patient data.
 *
 * Keys (prefix P; families diaryAppointments, diarySeen, diaryConflicts, diaryConflict of state/keys.ts):
 *   P:diary:appts:<hcs>   HASH  PAS appointment id → {"s":start ms,"e":end ms,"o":our Appointment id (echo) | absent,
 *                               "t":trigger,"at":ms}. No expiry: live state; entries that ended more than PRUNE_AFTER_MS
 *                               ago are pruned on every write; at most MAX_APPOINTMENTS fields (a write past it is
 *                               refused and logged by the caller).
 *   P:diary:seen          HASH  `feed:<hcs>` → ms of the last scheduling message applied for that service,
 *                               `query:<hcs>` → ms of the last successful slot query. No expiry (one field per service).
 *   P:diary:conflicts     ZSET  conflict id → ms recorded. Trimmed on write to CONFLICT_RETENTION_MS and MAX_CONFLICTS.
 *   P:diary:conflict:<id> STRING JSON of the conflict (DiaryConflict). Expires after CONFLICT_RETENTION_MS.
 */
import type { Redis } from 'ioredis';
import { keyspace, type Keyspace } from './keys.js';

export const PRUNE_AFTER_MS = 86_400_000;
export const MAX_APPOINTMENTS = 20_000;
export const CONFLICT_RETENTION_MS = 30 * 86_400_000;
export const MAX_CONFLICTS = 1000;

export interface MirrorEntry {
  readonly appointmentId: string;
  readonly startMs: number;
  readonly endMs: number;
  /** Our Appointment id when the PAS echoed a booking of ours (SCH-1 Placer Appointment ID). */
  readonly ours?: string;
  readonly trigger: string;
  readonly at: number;
}

/**
 * A booking that could not be honoured as the sender was told: the PAS refused our SIU^S12 (`pas-refused`), or a
 * PAS-side booking landed on time one of our bookings holds (`pas-clash`). Ids, codes and times only.
 */
export interface DiaryConflict {
  readonly id: string;
  readonly kind: 'pas-refused' | 'pas-clash';
  readonly at: string;
  readonly healthcareService?: string;
  readonly slotStart?: string;
  /** Our Appointment ids involved. */
  readonly appointments: readonly string[];
  /** The PAS's appointment id (clash). */
  readonly pasAppointment?: string;
  /** MSH-10 of the PAS message (clash) or of our refused message. */
  readonly controlId?: string;
  /** Our stored message id (refusal). */
  readonly messageId?: string;
  /** Dead-letter reason (`ack-AR` …) or `clash`. */
  readonly reason: string;
}

export class MirrorStore {
  private readonly k: Keyspace;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.k = keyspace(prefix);
  }

  apptsKey(hcs: string): string {
    return this.k.diaryAppointments(hcs);
  }

  get seenKey(): string {
    return this.k.diarySeen();
  }

  get conflictsKey(): string {
    return this.k.diaryConflicts();
  }

  conflictKey(id: string): string {
    return this.k.diaryConflict(id);
  }

  /** Stores (or moves) one appointment. false when the service already holds MAX_APPOINTMENTS others. */
  async hold(hcs: string, entry: MirrorEntry, now: number): Promise<boolean> {
    const key = this.apptsKey(hcs);
    await this.prune(hcs, now);
    const [exists, size] = await Promise.all([this.redis.hexists(key, entry.appointmentId), this.redis.hlen(key)]);
    if (!exists && size >= MAX_APPOINTMENTS) {
      return false;
    }
    await this.redis.hset(key, entry.appointmentId, JSON.stringify({ s: entry.startMs, e: entry.endMs, ...(entry.ours ? { o: entry.ours } : {}), t: entry.trigger, at: entry.at }));
    return true;
  }

  /** Frees one appointment; returns what it held (undefined when the mirror did not have it). */
  async release(hcs: string, appointmentId: string): Promise<MirrorEntry | undefined> {
    const key = this.apptsKey(hcs);
    const raw = await this.redis.hget(key, appointmentId);
    if (raw === null) {
      return undefined;
    }
    await this.redis.hdel(key, appointmentId);
    return parseEntry(appointmentId, raw);
  }

  async entries(hcs: string): Promise<MirrorEntry[]> {
    const all = await this.redis.hgetall(this.apptsKey(hcs));
    return Object.entries(all).flatMap(([id, raw]) => {
      const e = parseEntry(id, raw);
      return e ? [e] : [];
    });
  }

  private async prune(hcs: string, now: number): Promise<void> {
    const key = this.apptsKey(hcs);
    // Only when the hash has grown: a full scan per write would be waste for a small clinic's day.
    if ((await this.redis.hlen(key)) < 256) {
      return;
    }
    const old = (await this.entries(hcs)).filter((e) => e.endMs < now - PRUNE_AFTER_MS).map((e) => e.appointmentId);
    if (old.length > 0) {
      await this.redis.hdel(key, ...old);
    }
  }

  async markSeen(kind: 'feed' | 'query', hcs: string, now: number): Promise<void> {
    await this.redis.hset(this.seenKey, `${kind}:${hcs}`, String(now));
  }

  /** Last feed message and last successful query per service, ms. */
  async seen(): Promise<Map<string, { feed?: number; query?: number }>> {
    const all = await this.redis.hgetall(this.seenKey);
    const out = new Map<string, { feed?: number; query?: number }>();
    for (const [field, value] of Object.entries(all)) {
      const m = /^(feed|query):(.+)$/.exec(field);
      if (m) {
        out.set(m[2]!, { ...out.get(m[2]!), [m[1]!]: Number(value) });
      }
    }
    return out;
  }

  /** Records a conflict once (the id is derived from what it is about, so a retried job does not repeat it). */
  async recordConflict(conflict: DiaryConflict, now: number): Promise<boolean> {
    const added = await this.redis.set(this.conflictKey(conflict.id), JSON.stringify(conflict), 'PX', CONFLICT_RETENTION_MS, 'NX');
    if (added !== 'OK') {
      return false;
    }
    await this.redis
      .multi()
      .zadd(this.conflictsKey, now, conflict.id)
      .zremrangebyscore(this.conflictsKey, '-inf', now - CONFLICT_RETENTION_MS)
      .zremrangebyrank(this.conflictsKey, 0, -(MAX_CONFLICTS + 1))
      .exec();
    return true;
  }

  /** Conflicts, newest first. */
  async conflicts(options: { sinceMs?: number; limit?: number } = {}): Promise<DiaryConflict[]> {
    const ids = await this.redis.zrevrangebyscore(this.conflictsKey, '+inf', options.sinceMs ?? '-inf', 'LIMIT', 0, options.limit ?? 100);
    if (ids.length === 0) {
      return [];
    }
    const raws = await this.redis.mget(ids.map((id) => this.conflictKey(id)));
    return raws.flatMap((r) => (r ? [JSON.parse(r) as DiaryConflict] : []));
  }

  async conflictCount(sinceMs: number): Promise<number> {
    return this.redis.zcount(this.conflictsKey, sinceMs, '+inf');
  }
}

function parseEntry(appointmentId: string, raw: string): MirrorEntry | undefined {
  try {
    const v = JSON.parse(raw) as { s: number; e: number; o?: string; t: string; at: number };
    return { appointmentId, startMs: v.s, endMs: v.e, ...(v.o ? { ours: v.o } : {}), trigger: v.t, at: v.at };
  } catch {
    return undefined;
  }
}

/** Does [startMs, endMs) of an appointment touch a slot? A zero-length entry is a point in time. */
export function overlaps(e: { startMs: number; endMs: number }, slot: { startMs: number; endMs: number }): boolean {
  return e.endMs > e.startMs ? e.startMs < slot.endMs && e.endMs > slot.startMs : e.startMs >= slot.startMs && e.startMs < slot.endMs;
}
