/*
 * Where the development Redis is. When `npm start` finds nothing at REDIS_URL it starts a private redis-server on a
 * free port (src/dev/redis-child.ts); it writes that child's URL to `<dataDir>/redis/url` once the child answers and
 * removes the file on a clean shutdown, so the CLI (`trace`, `queues`, `dead-letters`) run beside it finds the same
 * Redis without being told. A file left by a crash names a port nothing answers on; readers check before use.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The file naming the running development Redis. */
export function devRedisUrlFile(dataDir: string): string {
  return path.join(dataDir, 'redis', 'url');
}

/** Records the private Redis's URL (written whole: a reader never sees half a URL). */
export function recordDevRedisUrl(dataDir: string, url: string): void {
  const file = devRedisUrlFile(dataDir);
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${url}\n`);
  renameSync(temporary, file);
}

/** The recorded URL, or undefined when there is none. */
export function readDevRedisUrl(dataDir: string): string | undefined {
  try {
    return readFileSync(devRedisUrlFile(dataDir), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Removes the record if it still names `url` (another instance may have replaced it since). */
export function forgetDevRedisUrl(dataDir: string, url: string): void {
  if (readDevRedisUrl(dataDir) === url) {
    rmSync(devRedisUrlFile(dataDir), { force: true });
  }
}
