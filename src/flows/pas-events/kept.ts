/*
 * PAS events that changed nothing because no rule handles their message type (`no-rule`) or they name no record of
 * ours (`no-record`): kept for ops to look at (`bars-bridge pas-events`), but only for the PAS events retention. Their
 * raw text expires by itself (the listener stores it with a TTL; only an applied event is made permanent); the index
 * here is trimmed to the same period each time an event is added, so neither grows without bound.
 */
import type { Redis } from 'ioredis';
import { readMessageHeader } from '../../protocol/hl7/header.js';
import { cap, senderOf } from './header-check.js';
import { pasEventKey } from './listener.js';

export type KeptKind = 'no-rule' | 'no-record';
export const KEPT_KINDS: readonly KeptKind[] = ['no-rule', 'no-record'];

/** Sorted set of kept event ids, scored by when they were kept (ms). */
export function keptKey(prefix: string, kind: KeptKind): string {
  return `${prefix}:pasev:${kind === 'no-record' ? 'unmatched' : 'no-rule'}`;
}

/** Records a kept event and drops index entries older than the retention. */
export async function keepEvent(redis: Redis, prefix: string, kind: KeptKind, eventId: string, now: number, retentionMs: number): Promise<void> {
  const key = keptKey(prefix, kind);
  await redis.multi().zadd(key, now, eventId).zremrangebyscore(key, '-inf', `(${now - retentionMs}`).exec();
}

/** One kept event as the CLI lists it: ids and codes only, never the message text. */
export interface KeptEvent {
  readonly kind: KeptKind;
  readonly eventId: string;
  readonly keptAt: string;
  readonly sender: string;
  readonly messageType: string;
  readonly controlId: string;
}

/**
 * Kept events still within the retention whose text is still stored, newest first.
 * @param options.limit - at most this many per kind.
 */
export async function listKeptEvents(
  redis: Redis,
  prefix: string,
  options: { readonly now: number; readonly retentionMs: number; readonly limit?: number },
): Promise<KeptEvent[]> {
  const out: KeptEvent[] = [];
  for (const kind of KEPT_KINDS) {
    const flat = await redis.zrevrangebyscore(keptKey(prefix, kind), '+inf', options.now - options.retentionMs, 'WITHSCORES', 'LIMIT', 0, options.limit ?? 1000);
    const ids = flat.filter((_, i) => i % 2 === 0);
    const texts = ids.length > 0 ? await redis.mget(...ids.map((id) => pasEventKey(prefix, id))) : [];
    ids.forEach((eventId, i) => {
      const text = texts[i];
      if (!text) {
        return; // expired with its text
      }
      const header = readMessageHeader(text);
      out.push({
        kind,
        eventId,
        keptAt: new Date(Number(flat[i * 2 + 1])).toISOString(),
        sender: cap(senderOf(header)),
        messageType: cap(header.messageType.split(header.componentSeparator).slice(0, 2).join('^'), 16),
        controlId: cap(header.controlId, 199),
      });
    });
  }
  return out;
}

/** Counts per kind within the retention (metrics, CLI summary). */
export async function countKeptEvents(redis: Redis, prefix: string, now: number, retentionMs: number): Promise<Record<KeptKind, number>> {
  const [noRule, noRecord] = await Promise.all(KEPT_KINDS.map((kind) => redis.zcount(keptKey(prefix, kind), now - retentionMs, '+inf')));
  return { 'no-rule': noRule!, 'no-record': noRecord! };
}
