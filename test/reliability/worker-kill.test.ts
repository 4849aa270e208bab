/*
 * Fault (2) of issue 7: the whole worker process (inbound mapping, sequencer, delivery lanes) killed with SIGKILL,
 * repeatedly, under load, and restarted at once as a supervisor would. Every acknowledged referral must be delivered,
 * in receipt order on the lane, and never under two different MSH-10s (resends with the same MSH-10 are allowed).
 * test/integration/delivery/crash.test.ts covers kill -9 of a lane worker alone; this is the whole process.
 *
 * Time: a killed worker's inbound jobs stay "active" until their BullMQ lock (queues/inbound.yaml: 10 s) expires and a
 * stalled check (every 5 s) moves them back, and the sequencer holds every later message behind the gap — so after
 * the last kill, delivery resumes within ~10–15 s. The lanes here use a 2 s lease.
 */
import { strict as assert } from 'node:assert';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { referralPoster, waitDelivered } from '../../bench/lib.js';
import { alive, sleep, spawnProc, startLoad, statusLine, useFaultRig, verdictLine, writeQueuesDir } from './helpers.js';

describe('fault: worker process killed with SIGKILL under load', function () {
  this.timeout(150_000);
  const rig = useFaultRig('worker');

  it('delivers every acknowledged referral, in order, once per MSH-10, across three kill -9s of the worker', async function () {
    const prefix = '{rel-kill}';
    const common = { redisUrl: rig.redis.url, prefix, pasPort: rig.sim.port, queuesDir: writeQueuesDir(path.join(rig.dir, 'queues'), { leaseMs: 2000, takeoverPollMs: 1000 }) };
    let worker = await spawnProc('worker', common);
    const web = await spawnProc('web', common);
    rig.procs.push(worker, web);
    // About 40 referrals/s: below what the pipeline delivers, so the check measures recovery, not a backlog.
    const load = startLoad([web.port], 2, 50);
    const kills: string[] = [];
    for (let k = 0; k < 3; k++) {
      await sleep(2500);
      await worker.kill();
      kills.push(`kill ${k + 1} at ${load.acknowledged.length} acknowledged`);
      worker = await spawnProc('worker', common);
      rig.procs.push(worker);
    }
    await sleep(1500);
    await load.stop();
    const lastKill = Date.now();
    const check = new Redis(rig.redis.url);
    try {
      const verdict = await waitDelivered(rig.sim, load.acknowledged, check, prefix, 100_000);
      console.log(`      ${kills.join('; ')}; statuses ${statusLine(load.statuses)}; all delivered ${((Date.now() - lastKill) / 1000).toFixed(1)} s after the load stopped`);
      console.log(`      ${verdictLine(load.tried(), verdict)}`);
      assert.deepEqual(verdict.lost, [], 'every acknowledged referral delivered');
      assert.equal(verdict.duplicatedUnderAnotherControlId, 0, 'no message under two MSH-10s');
      assert.equal(verdict.outOfOrder, 0, 'receipt order kept');
      assert.equal(verdict.unexpected, 0);
      assert.ok(alive(web), 'the web process is unaffected');
    } finally {
      check.disconnect();
    }
  });

  // Deterministic version of a crash loop: the same inbound job is active in two workers that are both killed.
  // BullMQ's default maxStalledCount (1), which the runtime's inbound worker uses, then marks the job for failure
  // (BullMQ 6: `defa` on the job; the next worker to take it fails it with "job stalled more than allowable limit")
  // without running the processor, so its receipt sequence number is never marked ready:
  // the acknowledged message is never delivered and the sequencer holds every later message behind the gap, forever.
  // The lock expiry and stalled checks are driven by the test (DEL of the lock key, then BullMQ's own stalled check
  // run by a Worker with the runtime's defaults) instead of waiting 10–15 s per stall; the inbound job is kept active
  // for ~2 s by holding the sequencer's flush lock, as a busy flusher would.
  it('delivers an acknowledged referral whose inbound job stalled twice (crash loop)', async function () {
    const prefix = '{rel-stall}';
    const common = { redisUrl: rig.redis.url, prefix, pasPort: rig.sim.port, queuesDir: writeQueuesDir(path.join(rig.dir, 'queues2'), { leaseMs: 2000, takeoverPollMs: 1000 }) };
    const check = new Redis(rig.redis.url, { maxRetriesPerRequest: null });
    const inbound = new Queue('inbound', { connection: check, prefix });
    // A Worker with the runtime inbound worker's stalled-job options (src/runtime.ts), used only to run the stalled check.
    const checker = new Worker('inbound', null, { connection: check, prefix, autorun: false, maxStalledCount: 1_000_000 });
    const stalledCheck = async (): Promise<void> => {
      await check.del(`${prefix}:inbound:stalled-check`);
      await (checker as unknown as { moveStalledJobsToWait(): Promise<void> }).moveStalledJobsToWait();
    };
    const web = await spawnProc('web', common);
    rig.procs.push(web);
    const poster = referralPoster(web.port, 2);
    const states: string[] = [];
    try {
      await rig.sim.reset();
      await check.set(`${prefix}:seq:lock`, 'test-holds-the-flush-lock', 'PX', 120_000);
      const first = await poster.post();
      assert.equal(first.status, 200);
      for (let stall = 1; stall <= 2; stall++) {
        const worker = await spawnProc('worker', common);
        rig.procs.push(worker);
        let active: string | undefined;
        for (let i = 0; i < 200 && !active; i++) {
          active = (await inbound.getActive())[0]?.id;
          await sleep(10);
        }
        assert.ok(active, 'the inbound job is being processed');
        await worker.kill();
        await check.del(`${prefix}:inbound:${active}:lock`); // its lock has expired
        await stalledCheck(); // marks it as possibly stalled
        await stalledCheck(); // finds it still without a lock: moved back to wait (1st) / failed (2nd)
        const job = await inbound.getJob(active);
        states.push(`after kill ${stall}: ${await inbound.getJobState(active)}, stalledCounter ${job?.stalledCounter ?? '?'}`);
      }
      await check.del(`${prefix}:seq:lock`);
      const worker = await spawnProc('worker', common);
      rig.procs.push(worker);
      const second = await poster.post();
      assert.equal(second.status, 200);
      const verdict = await waitDelivered(rig.sim, [first.reference!, second.reference!], check, prefix, 15_000);
      const failed = await inbound.getFailed();
      const seq = await check.mget(`${prefix}:seq:received`, `${prefix}:seq:flushed`);
      console.log(`      sequencer: received ${seq[0]}, flushed ${seq[1]}`);
      console.log(`      inbound job: ${states.join('; ')}`);
      console.log(`      inbound jobs failed: ${failed.map((j) => `${j.id}: ${j.failedReason}`).join('; ') || 'none'}`);
      console.log(`      ${verdictLine(2, verdict)}`);
      assert.deepEqual(verdict.lost, [], 'both acknowledged referrals delivered');
    } finally {
      poster.close();
      await checker.close();
      await inbound.close();
      check.disconnect();
    }
  });
});
