/*
 * The gauges that describe shared state — what waits on each lane and for how long, dead letters, records held
 * behind them, each link's state — read from Redis when /metrics is scraped, so the web process and the worker
 * process export the same figures (a process's memory only knows what it did itself).
 *
 * Bounded: one pipelined round trip for the lanes and links, the dead-letter set read up to DEAD_LETTER_SCAN members
 * (beyond that the per-destination split is of the oldest ones and `bars_bridge_dead_letters` is a lower bound — at
 * that point the alert fired long ago), and the held-record sets (one member per held record). A snapshot is kept
 * for `ttlMs` and concurrent scrapes share one read, so a scraper every second or several scrapers cost one read.
 */
import type { Redis } from 'ioredis';
import { keyspace } from '../state/keys.js';
import { heldRecords } from '../state/lane-store.js';
import { readLinkStatuses, type LinkState, type LinkStatus } from '../state/link-state.js';
import type { Metrics } from '../metrics.js';

/** Most dead-letter set members read to split the count by destination. */
export const DEAD_LETTER_SCAN = 20_000;

const LINK_STATES: readonly LinkState[] = ['connected', 'refusing', 'ack-timeouts', 'rejecting', 'idle', 'unknown'];

/** One lane's shared state. */
export interface LaneFigures {
  readonly destination: string;
  readonly waiting: number;
  /** Seconds since the head message was queued (0 when empty). */
  readonly headAgeSeconds: number;
  readonly deadLetters: number;
  readonly heldRecords: number;
  readonly heldMessages: number;
}

export interface SharedSnapshot {
  readonly at: number;
  readonly lanes: readonly LaneFigures[];
  /** Link states, without the MSA-3 text (metrics and /readyz never carry it). */
  readonly links: readonly LinkStatus[];
}

/** Reads the shared state of every destination (uncached). */
export async function readSharedState(redis: Redis, prefix: string, destinations: readonly string[], now = Date.now()): Promise<SharedSnapshot> {
  const k = keyspace(prefix);
  const pipeline = redis.pipeline();
  for (const destination of destinations) {
    pipeline.llen(k.lane(destination));
    pipeline.lindex(k.lane(destination), 0);
  }
  pipeline.zrange(k.deadLetters(), '0', String(DEAD_LETTER_SCAN - 1));
  const replies = ((await pipeline.exec()) ?? []).map(([err, value]) => {
    if (err) {
      throw err;
    }
    return value;
  });
  const dead = new Map<string, number>();
  for (const member of replies[replies.length - 1] as string[]) {
    const destination = member.slice(0, member.indexOf('/'));
    dead.set(destination, (dead.get(destination) ?? 0) + 1);
  }
  const heads = destinations.map((_, i) => replies[2 * i + 1] as string | null);
  const enqueued = redis.pipeline();
  destinations.forEach((destination, i) => {
    if (heads[i] !== null) {
      enqueued.hget(k.deliveryHistory(destination, heads[i]!), 'enqueuedAt');
    }
  });
  const enqueuedAt = ((await enqueued.exec()) ?? []).map(([, v]) => v as string | null);
  const [links, held] = await Promise.all([
    readLinkStatuses(redis, prefix, destinations, { now }),
    Promise.all(destinations.map((d) => heldRecords(redis, prefix, d, Number.MAX_SAFE_INTEGER))),
  ]);
  let headIndex = 0;
  const lanes = destinations.map((destination, i): LaneFigures => {
    const length = Number(replies[2 * i]);
    let headAgeSeconds = 0;
    if (heads[i] !== null) {
      const since = Date.parse(enqueuedAt[headIndex++] ?? '');
      headAgeSeconds = Number.isFinite(since) ? Math.max(0, (now - since) / 1000) : 0;
    }
    return {
      destination,
      waiting: Math.max(0, length - 1),
      headAgeSeconds,
      deadLetters: dead.get(destination) ?? 0,
      heldRecords: held[i]!.records.length,
      heldMessages: held[i]!.held,
    };
  });
  return { at: now, lanes, links };
}

/** A cached, single-flight reader of the shared state (one per process). */
export interface SharedState {
  read(): Promise<SharedSnapshot>;
}

export function sharedState(options: {
  readonly redis: Redis;
  readonly prefix: string;
  readonly destinations: readonly string[];
  /** How long a snapshot is served (default 2 s). */
  readonly ttlMs?: number;
  readonly now?: () => number;
}): SharedState {
  const now = options.now ?? Date.now;
  const ttl = options.ttlMs ?? 2000;
  let cached: SharedSnapshot | undefined;
  let reading: Promise<SharedSnapshot> | undefined;
  return {
    read() {
      if (cached && now() - cached.at < ttl) {
        return Promise.resolve(cached);
      }
      reading ??= readSharedState(options.redis, options.prefix, options.destinations, now())
        .then((snapshot) => (cached = snapshot))
        .finally(() => (reading = undefined));
      return reading;
    },
  };
}

/** Sets the shared-state gauges from a snapshot. */
export function setSharedGauges(metrics: Metrics, snapshot: SharedSnapshot): void {
  for (const lane of snapshot.lanes) {
    const labels = { destination: lane.destination };
    metrics.laneWaiting.set(labels, lane.waiting);
    metrics.laneHeadAge.set(labels, Math.round(lane.headAgeSeconds * 1000) / 1000);
    metrics.deadLetters.set(labels, lane.deadLetters);
    metrics.heldRecords.set(labels, lane.heldRecords);
    metrics.heldMessages.set(labels, lane.heldMessages);
  }
  for (const link of snapshot.links) {
    for (const state of LINK_STATES) {
      metrics.linkState.set({ destination: link.destination, state }, link.state === state ? 1 : 0);
    }
  }
}
