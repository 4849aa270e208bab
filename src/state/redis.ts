/*
 * Two kinds of Redis connection (BullMQ "failing fast when Redis is down" pattern):
 * - the request path fails fast, so the listener answers 503 REC_UNAVAILABLE within a second instead of hanging;
 * - workers wait out Redis blips indefinitely (BullMQ requires maxRetriesPerRequest: null for them).
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { StopStack } from '../lifecycle.js';
import type { Logger } from '../logging.js';

export interface RedisSettings {
  readonly url: string;
  readonly commandTimeoutMs: number;
  /**
   * Redis Cluster: `url` is any node, the client follows MOVED/ASK. Every key carries the configured hash tag
   * (`{bars}`), so each multi-key script and BullMQ queue stays within one slot.
   */
  readonly cluster?: boolean;
}

/**
 * One connection of the given options, to a single Redis or a cluster. A Cluster client offers the commands used here
 * (including defineCommand and eval); it is typed as Redis so the store and BullMQ take either.
 */
function connect(settings: RedisSettings, options: RedisOptions, enableOfflineQueue: boolean): Redis {
  if (!settings.cluster) {
    return new Redis(settings.url, { ...options, enableOfflineQueue });
  }
  const url = new URL(settings.url);
  const redisOptions: RedisOptions = {
    ...options,
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const { retryStrategy, ...nodeOptions } = redisOptions;
  const cluster = new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], {
    redisOptions: nodeOptions,
    enableOfflineQueue,
    // Without an offline queue, ioredis's ready check (CLUSTER INFO on a node connection that may still be opening)
    // fails with "Connection is closed" and the client reconnects, races again, and can stay not-ready for good
    // (measured: a web process answering 503 to every request in test/reliability/cluster.test.ts). A cluster in
    // state fail answers CLUSTERDOWN to each command instead, which the listener turns into 503 REC_UNAVAILABLE.
    enableReadyCheck: enableOfflineQueue,
    clusterRetryStrategy: retryStrategy ?? undefined,
  });
  return cluster as unknown as Redis;
}

const common = (): RedisOptions => ({
  // RESP2 keeps HGETALL replies as flat arrays across ioredis 5/6 and BullMQ's Lua.
  protocol: 2,
  lazyConnect: false,
  connectionName: 'bars-bridge',
});

/** For the HTTP side: no offline queue and a command timeout, so a dead or stalled Redis is an error at once. */
export function createProducerConnection(settings: RedisSettings): Redis {
  const redis = connect(
    settings,
    {
      ...common(),
      commandTimeout: settings.commandTimeoutMs,
      connectTimeout: Math.max(settings.commandTimeoutMs, 500),
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    },
    false,
  );
  redis.on('error', () => {
    // Connection errors surface on each command as a 503; the listener logs those. This handler stops ioredis from
    // printing "Unhandled error event" for every reconnect attempt.
  });
  return redis;
}

/** For workers and background tasks: wait for Redis rather than fail. */
export function createWorkerConnection(settings: RedisSettings): Redis {
  const redis = connect(
    settings,
    {
      ...common(),
      maxRetriesPerRequest: null,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 3000),
    },
    true,
  );
  redis.on('error', () => {
    // Reported through readiness and the worker's own error events.
  });
  return redis;
}

/** True when Redis answers PING within the timeout. */
export async function redisAnswers(redis: Redis, timeoutMs = 500): Promise<boolean> {
  try {
    const result = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return result === 'PONG';
  } catch {
    return false;
  }
}

/**
 * The producer connection of a process, on the stop stack. The request path has no offline queue (it fails fast with
 * 503 when Redis is down), so the connection gets a moment to come up before the listener opens; past that, requests
 * answer 503 REC_UNAVAILABLE until it does.
 */
export async function connectProducer(settings: RedisSettings, log: Logger, stack: StopStack): Promise<Redis> {
  const producer = createProducerConnection(settings);
  stack.push('redis (producer)', () => producer.quit());
  if (producer.status !== 'ready') {
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => producer.once('ready', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000).unref()),
    ]);
    if (!ready) {
      log.warn({ url: settings.url.replace(/\/\/[^@]*@/, '//***@') }, 'Redis is not answering; the listener will answer 503 REC_UNAVAILABLE until it does');
    }
  }
  return producer;
}
