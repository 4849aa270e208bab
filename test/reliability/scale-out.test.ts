/*
 * Fault (7) of issue 7, first half: two web and two worker processes on one Redis keep every invariant — every 200
 * delivered, once per MSH-10, in receipt order on the one lane (one lane owner at a time across both workers, one
 * sequencer flusher at a time) — also while one worker is restarted (SIGTERM, as in a rolling deploy) and the other
 * is killed with SIGKILL and restarted (RELIABILITY_LONG=1; without it the second worker is restarted with SIGTERM too:
 * a kill -9 costs 10–15 s of recovery — the inbound worker's BullMQ lock and stalled interval, see worker-kill.test.ts —
 * which would take this test past a minute).
 */
import { strict as assert } from 'node:assert';
import path from 'node:path';
import { Redis } from 'ioredis';
import { waitDelivered } from '../../bench/lib.js';
import { alive, sleep, spawnProc, startLoad, statusLine, useFaultRig, verdictLine, writeQueuesDir } from './helpers.js';

describe('scale-out: two web and two worker processes on one Redis', function () {
  this.timeout(120_000);
  const rig = useFaultRig('scale');

  const long = process.env.RELIABILITY_LONG === '1';
  it(`keeps every invariant with load on both webs, a rolling restart of one worker and ${long ? 'kill -9' : 'a rolling restart'} of the other`, async function () {
    const prefix = '{rel-scale}';
    const common = { redisUrl: rig.redis.url, prefix, pasPort: rig.sim.port, queuesDir: writeQueuesDir(path.join(rig.dir, 'queues'), { leaseMs: 2000, takeoverPollMs: 1000 }) };
    const [webA, webB, workerA] = await Promise.all([spawnProc('web', common), spawnProc('web', common), spawnProc('worker', common)]);
    let workerB = await spawnProc('worker', common);
    rig.procs.push(webA!, webB!, workerA!, workerB);
    const load = startLoad([webA!.port, webB!.port], 1, 40);
    await sleep(3000);
    await workerA!.stop(); // graceful: head jobs go back to the head of their lanes
    const workerA2 = await spawnProc('worker', common);
    rig.procs.push(workerA2);
    await sleep(3000);
    await (long ? workerB.kill() : workerB.stop());
    workerB = await spawnProc('worker', common);
    rig.procs.push(workerB);
    await sleep(2000);
    await load.stop();
    const check = new Redis(rig.redis.url);
    try {
      const verdict = await waitDelivered(rig.sim, load.acknowledged, check, prefix, 90_000);
      console.log(`      statuses ${statusLine(load.statuses)}`);
      console.log(`      ${verdictLine(load.tried(), verdict)}`);
      assert.deepEqual(verdict.lost, []);
      assert.equal(verdict.duplicatedUnderAnotherControlId, 0);
      assert.equal(verdict.outOfOrder, 0);
      assert.equal(verdict.unexpected, 0);
      assert.deepEqual([...load.statuses.keys()], [200]);
      assert.ok(alive(webA!) && alive(webB!) && alive(workerA2) && alive(workerB));
    } finally {
      check.disconnect();
    }
  });
});
