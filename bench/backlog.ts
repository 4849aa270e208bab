/*
 * Backlog benchmark (issue 7): N HL7 messages (N/2 referrals: ADT^A05 + REF^I12 each) accepted and mapped while the
 * PAS is down (the simulator is not listening), then the simulator comes back and the lane drains. Drain rate (HL7
 * messages ACKed AA per second, first to last delivery after the PAS is back) against the simulator's sequential ACK
 * rate measured in the same run on the same simulator process (raw MLLP round trips, no Redis). Target ≥ 0.8.
 * Every acknowledged referral must be delivered, once per MSH-10, in receipt order.
 *
 *   npx tsx bench/backlog.ts [--messages 20000] [--everysec]
 *
 * The lane's retry backoff is capped at 500 ms for the run (a delivery.yaml of its own), so the figure is the drain
 * rate, not how long the lane waits before its next try once the PAS is back.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { postReferrals } from './e2e.js';
import { loadAvg, mllpRoundTripRate, sleep, spawnProc, startBenchRig, verify, writeQueuesDir, type Verdict } from './lib.js';

export interface BacklogResult {
  readonly messages: number;
  readonly referrals: number;
  readonly acceptSeconds: number;
  readonly drainPerSec: number;
  readonly sequentialAckPerSec: number;
  readonly ratio: number;
  readonly verdict: Verdict;
  readonly load: string;
}

export async function runBacklog(o: { messages: number; everysec?: boolean; profileDir?: string; log?: (s: string) => void }): Promise<BacklogResult> {
  const log = o.log ?? ((s: string) => console.log(s));
  const rig = await startBenchRig('backlog', o.everysec ? 'everysec' : 'always');
  const { redisChild, redis, prefix, sim, procs } = rig;
  try {
    const sequentialAckPerSec = await mllpRoundTripRate(sim.port, 3);
    await sim.reset();
    await sim.close(); // PAS outage
    const common = { redisUrl: redisChild.url, prefix, pasPort: sim.port, queuesDir: writeQueuesDir(path.join(rig.dir, 'queues')) };
    procs.push(await spawnProc('worker', { ...common, ...(o.profileDir ? { profileDir: o.profileDir } : {}) }));
    const web = await spawnProc('web', common);
    procs.push(web);
    const referrals = Math.ceil(o.messages / 2);
    const acknowledged: string[] = [];
    const t0 = Date.now();
    // autocannon's `amount` counts requests; a few may be refused under load, so top up until enough are accepted.
    while (acknowledged.length < referrals) {
      await postReferrals(web.port, { duration: 0, connections: 32, amount: referrals - acknowledged.length, keep: acknowledged });
    }
    const acceptSeconds = (Date.now() - t0) / 1000;
    // Wait until everything is mapped and on the lane (the head retrying against the closed port).
    const expected = 2 * acknowledged.length;
    for (;;) {
      if ((await redis.llen(`${prefix}:lane:pas`)) >= expected) {
        break;
      }
      await sleep(200);
    }
    log(`backlog: ${expected} HL7 messages (${acknowledged.length} referrals) accepted in ${acceptSeconds.toFixed(1)} s and queued while the PAS was down`);
    const loadAtStart = loadAvg();
    await sim.open();
    let records = await sim.dump();
    const deadline = Date.now() + Math.max(120_000, expected * 50);
    while (records.filter((r) => r[3] === 'AA').length < expected && Date.now() < deadline) {
      await sleep(200);
      records = await sim.dump();
    }
    await sleep(300);
    records = await sim.dump();
    const aa = records.filter((r) => r[3] === 'AA');
    const seconds = aa.length > 1 ? (aa[aa.length - 1]![4] - aa[0]![4]) / 1000 : Number.NaN;
    const drainPerSec = aa.length / seconds;
    const verdict = await verify(records, acknowledged, redis, prefix);
    const result: BacklogResult = {
      messages: expected,
      referrals: acknowledged.length,
      acceptSeconds,
      drainPerSec,
      sequentialAckPerSec,
      ratio: drainPerSec / sequentialAckPerSec,
      verdict,
      load: `${loadAtStart} → ${loadAvg()}`,
    };
    log(`  drained ${aa.length} messages in ${seconds.toFixed(1)} s: ${drainPerSec.toFixed(0)} msg/s; simulator's sequential ACK rate ${sequentialAckPerSec.toFixed(0)} msg/s; ratio ${result.ratio.toFixed(3)} (target ≥ 0.8)`);
    log(`  lost ${verdict.lost.length}, duplicated under another MSH-10 ${verdict.duplicatedUnderAnotherControlId}, out of order ${verdict.outOfOrder}; load average ${result.load}`);
    return result;
  } finally {
    await rig.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--messages');
  const pi = process.argv.indexOf('--profile');
  await runBacklog({
    messages: i >= 0 ? Number(process.argv[i + 1]) : 20_000,
    everysec: process.argv.includes('--everysec'),
    ...(pi >= 0 ? { profileDir: path.resolve(process.argv[pi + 1]!) } : {}),
  });
}
