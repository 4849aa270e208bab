/*
 * Fault (1) of issue 7: Redis (AOF on, appendfsync always) killed with SIGKILL under load and restarted on the same
 * port and data. Web and worker run as separate processes. Every 200 given must have its message stored AND
 * delivered to the PAS; a request sent after the kill and answered before the restart gets 503 (nothing else); no
 * process crashes. (test/integration/durability.test.ts covers the store side in-process; this adds delivery,
 * separate processes and the worker side.)
 */
import { strict as assert } from 'node:assert';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startRedisChild } from '../../src/dev/redis-child.js';
import { waitDelivered } from '../../bench/lib.js';
import { alive, sleep, spawnProc, startLoad, statusLine, useFaultRig, verdictLine, writeQueuesDir } from './helpers.js';

describe('fault: Redis killed (SIGKILL) and restarted under load', function () {
  this.timeout(90_000);
  const rig = useFaultRig('redis');

  it('acknowledges only what it keeps: every 200 stored and delivered, only 503 while Redis is down, no crash', async function () {
    const prefix = '{rel-redis}';
    const common = { redisUrl: rig.redis.url, prefix, pasPort: rig.sim.port, queuesDir: writeQueuesDir(path.join(rig.dir, 'queues')) };
    const worker = await spawnProc('worker', common);
    const web = await spawnProc('web', common);
    rig.procs.push(worker, web);

    const load = startLoad([web.port], 4, 10);
    await sleep(2500);
    const killedAt = Date.now();
    await rig.redis.kill();
    await sleep(2000);
    const restartAt = Date.now();
    rig.redis = await startRedisChild(path.join(rig.dir, 'redis'), rig.redis.port);
    await sleep(3500);
    await load.stop();

    const check = new Redis(rig.redis.url);
    try {
      const duringOutage = load.log.filter((r) => r.sent > killedAt + 50 && r.answered < restartAt);
      const wrong = duringOutage.filter((r) => r.status !== 503);
      const acknowledgedAfter = load.log.filter((r) => r.sent > restartAt + 2000 && r.status === 200).length;
      const verdict = await waitDelivered(rig.sim, load.acknowledged, check, prefix, 45_000);
      const stored = await check.zcard(`${prefix}:messages`);
      console.log(`      statuses: ${statusLine(load.statuses)}; sent and answered while Redis was down: ${duringOutage.length} (${wrong.length} not 503)`);
      console.log(`      ${verdictLine(load.tried(), verdict)}; messages stored ${stored}; 200s after the restart ${acknowledgedAfter}`);
      assert.deepEqual([...load.statuses.keys()].filter((s) => s !== 200 && s !== 503), [], 'only 200 and 503');
      assert.ok(duringOutage.length > 0, 'requests were answered while Redis was down');
      assert.equal(wrong.length, 0, 'only 503 between kill and restart');
      assert.ok(acknowledgedAfter > 0, 'the receiver recovers once Redis is back');
      assert.ok(stored >= verdict.acknowledged, 'every acknowledged message is stored');
      assert.deepEqual(verdict.lost, [], 'every acknowledged referral delivered');
      assert.equal(verdict.duplicatedUnderAnotherControlId, 0);
      assert.equal(verdict.outOfOrder, 0);
      assert.ok(alive(web) && alive(worker), 'no process crashed');
    } finally {
      check.disconnect();
    }
  });
});
