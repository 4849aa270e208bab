/*
 * Root hooks for the whole mocha run: one private redis-server (AOF on) unless REDIS_URL is given, so tests never
 * depend on a Redis the machine happens to have. Tests read the URL from process.env.TEST_REDIS_URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedisChild, type RedisChild } from '../src/dev/redis-child.js';

let child: RedisChild | undefined;
let dir: string | undefined;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(15000);
    if (process.env.TEST_REDIS_URL) {
      return;
    }
    if (process.env.REDIS_URL) {
      process.env.TEST_REDIS_URL = process.env.REDIS_URL;
      return;
    }
    dir = mkdtempSync(path.join(os.tmpdir(), 'bars-test-redis-'));
    child = await startRedisChild(dir);
    process.env.TEST_REDIS_URL = child.url;
  },
  async afterAll(): Promise<void> {
    await child?.stop();
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
