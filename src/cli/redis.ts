/*
 * The Redis a CLI command works on, chosen the way the running service chose it: `--redis-url` if given, else
 * REDIS_URL (or the configuration file), else — in development, where `npm start` starts a private redis-server when
 * nothing answers on the default URL — the private one it recorded in `<dataDir>/redis/url`, else the default URL.
 * When none answers the command fails (exit 1) naming every URL it tried and the key prefix, never with a stack trace.
 */
import type { Redis } from 'ioredis';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { isListening } from '../dev/redis-child.js';
import { devRedisUrlFile, readDevRedisUrl } from '../dev/redis-url-file.js';
import { createProducerConnection } from '../state/redis.js';
import { CliFailure, type CliIo, type Env, type RedisCliOptions } from './context.js';

/** Where a command looked, for the message when nothing answers. */
export interface RedisTarget {
  readonly url: string;
  readonly prefix: string;
  /** Other URLs tried first and found silent (a stale development record). */
  readonly alsoTried: readonly string[];
}

/** A URL fit to print: the password is masked. */
export const printableUrl = (url: string): string => url.replace(/\/\/([^@/]*)@/, (_m, auth: string) => `//${auth.includes(':') ? `${auth.split(':')[0]}:***` : '***'}@`);

/** Chooses the Redis for a command (see the header). */
export async function resolveRedisTarget(config: Readonly<Config>, options: RedisCliOptions): Promise<RedisTarget> {
  const prefix = options.redisPrefix ?? config.redis.prefix;
  if (options.redisUrl) {
    return { url: options.redisUrl, prefix, alsoTried: [] };
  }
  // `embedded` is the service's own rule for "may use a private child": development, and REDIS_URL not set.
  const recorded = config.redis.embedded ? readDevRedisUrl(config.dataDir) : undefined;
  if (recorded) {
    const url = new URL(recorded);
    if (await isListening(url.hostname, Number(url.port || 6379))) {
      return { url: recorded, prefix, alsoTried: [] };
    }
    return { url: config.redis.url, prefix, alsoTried: [`${printableUrl(recorded)}, recorded in ${devRedisUrlFile(config.dataDir)} by a process that did not stop cleanly`] };
  }
  return { url: config.redis.url, prefix, alsoTried: [] };
}

/** An open connection for a one-off command, with what it needs around it. */
export interface CliRedis {
  readonly redis: Redis;
  readonly prefix: string;
  readonly config: Readonly<Config>;
  close(): void;
}

/**
 * Loads the configuration, chooses the Redis and connects, failing fast (a refused connection is reported at once,
 * a silent one after `timeoutMs`).
 * @throws CliFailure naming the URL(s) tried and the prefix.
 */
export async function openCliRedis(env: Env, options: RedisCliOptions, timeoutMs = 3000): Promise<CliRedis> {
  const config = loadConfig(env);
  const target = await resolveRedisTarget(config, options);
  const redis = createProducerConnection({ ...config.redis, url: target.url, commandTimeoutMs: 5000 });
  const problem = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    redis.once('error', (err: Error) => {
      clearTimeout(timer);
      resolve(err.message || String(err));
    });
  });
  if (problem !== undefined) {
    redis.disconnect();
    const hint =
      options.redisUrl || !config.redis.embedded
        ? 'Check --redis-url / REDIS_URL.'
        : `Nothing else is recorded in ${devRedisUrlFile(config.dataDir)}: is \`npm start\` running? Or set REDIS_URL or --redis-url.`;
    throw new CliFailure(
      `cannot reach Redis at ${printableUrl(target.url)} (key prefix ${target.prefix}): ${problem}\n` +
        target.alsoTried.map((t) => `  also tried ${t}\n`).join('') +
        `  ${hint}`,
    );
  }
  return { redis, prefix: target.prefix, config, close: () => redis.disconnect() };
}

/**
 * Runs `work` on the CLI's Redis and closes it. An error `isNotFound` recognises (a dead letter that is not there) is
 * the command's failure: its message on stderr after `label`, exit 1.
 */
export async function withCliRedis(
  io: CliIo,
  options: RedisCliOptions,
  label: string,
  isNotFound: (err: unknown) => boolean,
  work: (redis: Redis, prefix: string) => Promise<number>,
): Promise<number> {
  const { redis, prefix, close } = await openCliRedis(io.env, options);
  try {
    return await work(redis, prefix);
  } catch (err) {
    if (isNotFound(err)) {
      io.err.write(`${label}: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  } finally {
    close();
  }
}
