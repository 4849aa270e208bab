/*
 * A private redis-server child for `npm start` on a machine with no Redis running, and for the test run.
 *
 * The receiver's promise ("nothing acknowledged is lost", ARCHITECTURE.md invariant 1) rests on Redis keeping what it
 * was given, so the child always runs with AOF on, fsync before every reply (`appendfsync always`: Redis groups the
 * fsync of one event-loop turn, so this costs far less than one fsync per request) and `maxmemory-policy noeviction`
 * (BullMQ going-to-production). With `everysec` a Redis crash could lose up to a second of acknowledged messages.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface RedisChild {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Graceful stop (SIGTERM: Redis flushes its AOF). */
  stop(): Promise<void>;
  /** Crash (SIGKILL), for fault tests. */
  kill(): Promise<void>;
}

const INSTALL_HINT =
  'redis-server was not found. Install it (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`) ' +
  'or point REDIS_URL at a Redis 7 server with AOF on and maxmemory-policy noeviction.';

/** Finds redis-server on PATH (or the Debian location), or returns undefined. */
export function findRedisServer(): string | undefined {
  for (const candidate of ['redis-server', '/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    const probe = spawnSync(candidate, ['--version'], { stdio: 'ignore' });
    if (probe.status === 0) {
      return candidate;
    }
  }
  return undefined;
}

/** Resolves true when something accepts TCP connections on host:port within `timeoutMs`. */
export function isListening(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Asks the OS for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts redis-server bound to loopback with AOF on, in `dir`.
 * @param dir - data directory for the AOF files.
 * @param port - port to use; a free one when omitted.
 */
export async function startRedisChild(dir: string, port?: number, fsync: 'always' | 'everysec' = 'always'): Promise<RedisChild> {
  const binary = findRedisServer();
  if (!binary) {
    throw new Error(INSTALL_HINT);
  }
  const chosen = port ?? (await freePort());
  mkdirSync(dir, { recursive: true });
  const child: ChildProcess = spawn(
    binary,
    [
      '--port', String(chosen),
      '--bind', '127.0.0.1',
      '--dir', path.resolve(dir),
      '--appendonly', 'yes',
      '--appendfsync', fsync,
      '--save', '',
      '--maxmemory-policy', 'noeviction',
      '--protected-mode', 'yes',
    ],
    { stdio: 'ignore' },
  );
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 5000;
  while (!(await isListening('127.0.0.1', chosen))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${chosen}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const signal = (sig: NodeJS.Signals) => (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (exited) {
        resolve();
        return;
      }
      child.once('exit', () => resolve());
      child.kill(sig);
    });
  return { url: `redis://127.0.0.1:${chosen}`, port: chosen, dir, stop: signal('SIGTERM'), kill: signal('SIGKILL') };
}

/**
 * The private child of an earlier run that was killed without stopping it (the child outlives a SIGKILLed parent),
 * if `url` is a redis-server on this machine serving `dir`. Starting a second child on the same AOF directory would
 * have two servers appending to one file, so the earlier one is adopted: used, and stopped (SIGTERM: AOF flushed) on
 * a clean stop like a child of our own.
 */
export async function adoptRedisChild(url: string, dir: string, timeoutMs = 1000): Promise<RedisChild | undefined> {
  const { hostname, port } = new URL(url);
  if (hostname !== '127.0.0.1' || !(await isListening(hostname, Number(port || 6379)))) {
    return undefined;
  }
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, commandTimeout: timeoutMs });
  redis.on('error', () => undefined);
  let pid: number;
  try {
    await redis.connect();
    const [, served] = (await redis.call('CONFIG', 'GET', 'dir')) as [string, string];
    pid = Number(/^process_id:(\d+)/m.exec(await redis.info('server'))?.[1]);
    if (path.resolve(served) !== path.resolve(dir) || !Number.isInteger(pid)) {
      return undefined;
    }
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
  const signal = (sig: NodeJS.Signals) => async (): Promise<void> => {
    try {
      process.kill(pid, sig);
    } catch {
      return; // already gone
    }
    for (let waited = 0; waited < 10_000 && (await isListening('127.0.0.1', Number(port))); waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { url, port: Number(port), dir, stop: signal('SIGTERM'), kill: signal('SIGKILL') };
}
