/*
 * Alert changes kept in Redis, so the console of any process shows the recent alerts the worker's alert runner saw
 * (firing and resolved, with the ids involved) — the runner's own state is in its memory. Bounded: the newest 500.
 */
import type { Redis } from 'ioredis';
import { keyspace } from '../state/keys.js';

export const ALERT_HISTORY_MAX = 500;

export interface AlertHistoryEntry {
  readonly at: string;
  readonly alert: string;
  readonly subject: string;
  readonly firing: boolean;
  /** Ids and counts only (alerts.ts details): never message content. */
  readonly details: Record<string, unknown>;
}

/** An alert change as alerts.ts reports it (structurally: this module sits below the console that reads it). */
export interface AlertChangeLike {
  readonly alert: string;
  readonly subject: string;
  readonly firing: boolean;
  readonly details: object;
}

export async function recordAlertChanges(redis: Redis, prefix: string, changes: readonly AlertChangeLike[], at: number): Promise<void> {
  const key = keyspace(prefix).alertHistory();
  const entries = changes.map((c) => JSON.stringify({ at: new Date(at).toISOString(), alert: c.alert, subject: c.subject, firing: c.firing, details: c.details as Record<string, unknown> } satisfies AlertHistoryEntry));
  await redis.multi().lpush(key, ...entries).ltrim(key, 0, ALERT_HISTORY_MAX - 1).exec();
}

export async function readAlertHistory(redis: Redis, prefix: string, limit = 100): Promise<AlertHistoryEntry[]> {
  return (await redis.lrange(keyspace(prefix).alertHistory(), 0, Math.min(limit, ALERT_HISTORY_MAX) - 1)).map((e) => JSON.parse(e) as AlertHistoryEntry);
}
