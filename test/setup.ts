/*
 * Root hooks for the whole mocha run: one private redis-server (AOF on) unless REDIS_URL is given, so tests never
 * depend on a Redis the machine happens to have. Tests read the URL from process.env.TEST_REDIS_URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedisChild, type RedisChild } from '../src/dev/redis-child.js';
import { logLines } from './helpers/log-sink.js';
import { findLeaks, fixturePhi } from './helpers/phi.js';
import fc from 'fast-check';

let child: RedisChild | undefined;
let dir: string | undefined;

// Property tests run with a fresh seed every run (a fixed seed replays the same cases for ever), printed so that a
// failure can be replayed: FC_SEED=<seed> npm test. fast-check also prints the seed and path of a failing case.
const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
fc.configureGlobal({ seed });
process.stdout.write(`fast-check seed ${seed} (FC_SEED=${seed} replays this run's property cases)\n`);

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
    // ARCHITECTURE invariant 4: no log line of the whole run may carry patient data from the fixtures.
    const phi = fixturePhi();
    const leaks = findLeaks(logLines, phi);
    process.stdout.write(`\nPHI check: ${logLines.length} log lines scanned for ${phi.length} fixture values, ${leaks.length} found\n`);
    await child?.stop();
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
    }
    if (leaks.length > 0) {
      throw new Error(`patient data found in log lines:\n${leaks.slice(0, 10).map((l) => `${l.value}: ${l.line}`).join('\n')}`);
    }
  },
};
