/*
 * Shared by the reliability tests: a bars-bridge deployment of real processes (bench/proc.ts: web and worker as in
 * the Procfile) on a Redis of the test's own, the PAS simulator in its own process, a load of referrals over mTLS,
 * and the invariant check (bench/lib.ts verify): every 200 delivered (ADT^A05 + REF^I12 ACKed AA), nothing under two
 * MSH-10s, receipt order kept. Each test prints "tried N, lost 0, duplicated under another MSH-10 0, …".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadLoop, referralPoster, sleep, spawnProc, spawnSim, verdictLine, writeQueuesDir, type Proc, type Sim, type Verdict } from '../../bench/lib.js';
import { startRedisChild, type RedisChild } from '../../src/dev/redis-child.js';

export { loadLoop, referralPoster, sleep, spawnProc, spawnSim, verdictLine, writeQueuesDir };
export type { Proc, Sim, Verdict };

export function tempDir(name: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `bars-rel-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A running load: call stop() to end it and get what it did. */
export interface Load {
  readonly acknowledged: string[];
  readonly statuses: Map<number, number>;
  /** Every response with when it was sent and answered (ms since epoch). */
  readonly log: Array<{ sent: number; answered: number; status: number }>;
  stop(): Promise<void>;
  tried(): number;
}

/** Posts referrals from `concurrency` loops to each of `ports` (round robin per loop) until stopped. */
export function startLoad(ports: readonly number[], concurrency: number, pauseMs = 0): Load {
  const acknowledged: string[] = [];
  const statuses = new Map<number, number>();
  const log: Load['log'] = [];
  let stopped = false;
  const posters = ports.map((p) => referralPoster(p, concurrency));
  const loops = Array.from({ length: concurrency * ports.length }, async (_, i) => {
    const poster = posters[i % posters.length]!;
    while (!stopped) {
      const sent = Date.now();
      const r = await poster.post();
      log.push({ sent, answered: Date.now(), status: r.status });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200) {
        acknowledged.push(r.reference ?? '(no reference in the 200)');
      }
      if (pauseMs > 0 || r.status !== 200) {
        await sleep(pauseMs || 20);
      }
    }
  });
  return {
    acknowledged,
    statuses,
    log,
    tried: () => log.length,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      posters.forEach((p) => p.close());
    },
  };
}

export const statusLine = (statuses: Map<number, number>): string =>
  [...statuses.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s === 0 ? 'no answer' : s}×${n}`)
    .join(', ');

/** True while a child process has not exited. */
export const alive = (p: Proc): boolean => p.child.exitCode === null && p.child.signalCode === null;

/** What each fault test works with: its own Redis (AOF on) and PAS simulator process, and the processes it spawns. */
export interface FaultRig {
  readonly dir: string;
  /** Replaced by a test that restarts Redis. */
  redis: RedisChild;
  readonly sim: Sim;
  readonly procs: Proc[];
}

/**
 * Registers the hooks of a fault test: a private Redis and the PAS simulator before, and after the test every spawned
 * process killed, the simulator and Redis stopped and the temporary directory removed.
 */
export function useFaultRig(name: string): FaultRig {
  const tmp = tempDir(name);
  const rig = { dir: tmp.dir, procs: [] as Proc[] } as { dir: string; redis: RedisChild; sim: Sim; procs: Proc[] };
  before(async function () {
    rig.redis = await startRedisChild(path.join(tmp.dir, 'redis'));
    rig.sim = await spawnSim();
  });
  after(async function () {
    for (const p of rig.procs) {
      await p.kill();
    }
    await rig.sim?.stop();
    await rig.redis?.stop();
    tmp.remove();
  });
  return rig;
}
