/*
 * Fault (3) of issue 7, end to end through the listener: a PAS that NAKs (AE), drops connections, stays silent (ACK
 * timeout, 1 s here) and goes away for a second (flap), while referrals arrive over mTLS. The lane-level version with
 * 1,000 messages is test/integration/delivery/lanes.test.ts; this one adds the listener, the inbound mapping and the
 * sequencer, in separate processes. Every acknowledged referral must be ACKed AA in the end, in order, and every resend
 * must carry the MSH-10 of the first send.
 */
import { strict as assert } from 'node:assert';
import path from 'node:path';
import { Redis } from 'ioredis';
import { waitDelivered } from '../../bench/lib.js';
import { alive, sleep, spawnProc, startLoad, statusLine, useFaultRig, verdictLine, writeQueuesDir } from './helpers.js';

describe('fault: a PAS that NAKs, drops, stalls and flaps, end to end', function () {
  this.timeout(90_000);
  const rig = useFaultRig('pas');

  it('delivers every acknowledged referral with AA in the end, in order, resends under the same MSH-10', async function () {
    const prefix = '{rel-pas}';
    await rig.sim.setScenario({ nakRate: 0.05, dropRate: 0.02, silentRate: 0.01 });
    const common = {
      redisUrl: rig.redis.url,
      prefix,
      pasPort: rig.sim.port,
      ackTimeoutMs: 1000,
      queuesDir: writeQueuesDir(path.join(rig.dir, 'queues'), { backoffInitialMs: 50, backoffMaxMs: 300 }),
    };
    const worker = await spawnProc('worker', common);
    const web = await spawnProc('web', common);
    rig.procs.push(worker, web);
    const load = startLoad([web.port], 2, 40);
    await sleep(3000);
    await rig.sim.close(); // the PAS goes away…
    await sleep(1000);
    await rig.sim.open(); // …and comes back
    await sleep(3000);
    await load.stop();
    const check = new Redis(rig.redis.url);
    try {
      const verdict = await waitDelivered(rig.sim, load.acknowledged, check, prefix, 60_000);
      await rig.sim.setScenario({});
      const records = await rig.sim.dump();
      const answers = new Map<string, number>();
      for (const r of records) {
        answers.set(r[3], (answers.get(r[3]) ?? 0) + 1);
      }
      console.log(`      PAS answers: ${[...answers].map(([a, n]) => `${a}×${n}`).join(', ')}; statuses ${statusLine(load.statuses)}`);
      console.log(`      ${verdictLine(load.tried(), verdict)}`);
      assert.deepEqual(verdict.lost, []);
      assert.equal(verdict.duplicatedUnderAnotherControlId, 0);
      assert.equal(verdict.outOfOrder, 0);
      assert.ok(verdict.resends > 0, 'the faults caused resends');
      assert.ok(alive(web) && alive(worker));
    } finally {
      check.disconnect();
    }
  });
});
