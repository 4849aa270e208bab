/*
 * Memory benchmark (issue 7): RSS of the web and the worker process (separate processes, as in production) sampled
 * every second while referrals arrive at a fixed rate for D seconds (default 600; CI: 20). "Half load" is half of
 * what the pipeline delivers end to end, measured by a probe at the start of the same run — a rate the worker keeps
 * up with, so the run is a steady state (a growing backlog would make the worker's memory a measure of the backlog).
 * Reports the maximum of web + worker and the growth between the first and the last tenth of the run (after a
 * warm-up tenth). Targets: ≤ 300 MB, growth ≤ 10 %. Every acknowledged referral must be delivered.
 *
 *   npx tsx bench/memory.ts [--duration 600] [--rate N]
 */
import { pathToFileURL } from 'node:url';
import { postReferrals } from './e2e.js';
import { loadAvg, rssMb, spawnProc, startBenchRig, waitDelivered, type Verdict } from './lib.js';

export interface MemoryResult {
  readonly seconds: number;
  readonly rate: number;
  readonly maxWebMb: number;
  readonly maxWorkerMb: number;
  readonly maxTotalMb: number;
  readonly startTotalMb: number;
  readonly endTotalMb: number;
  readonly growth: number;
  readonly verdict: Verdict;
  readonly load: string;
}

const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function runMemory(o: { duration: number; rate?: number; log?: (s: string) => void }): Promise<MemoryResult> {
  const log = o.log ?? ((s: string) => console.log(s));
  const rig = await startBenchRig('memory');
  const { redisChild, redis, prefix, sim, procs } = rig;
  try {
    const common = { redisUrl: redisChild.url, prefix, pasPort: sim.port };
    const worker = await spawnProc('worker', common);
    procs.push(worker);
    const web = await spawnProc('web', common);
    procs.push(web);
    let rate = o.rate;
    const acknowledged: string[] = [];
    if (!rate) {
      // Probe: what is delivered end to end per second with a backlog to work on.
      await postReferrals(web.port, { duration: 3, connections: 16, keep: acknowledged });
      const v = await waitDelivered(sim, acknowledged, redis, prefix, 120_000);
      const refs = (await sim.dump()).filter((r) => r[1] === 'REF^I12' && r[3] === 'AA');
      const span = (refs[refs.length - 1]![4] - refs[0]![4]) / 1000;
      rate = Math.max(5, Math.floor((0.5 * refs.length) / span));
      log(`memory: probe delivered ${refs.length} referrals at ${(refs.length / span).toFixed(0)}/s (lost ${v.lost.length}); half load = ${rate} referrals/s`);
    }
    const samples: Array<{ t: number; web: number; worker: number }> = [];
    const sampler = setInterval(() => samples.push({ t: Date.now(), web: rssMb(web.pid), worker: rssMb(worker.pid) }), 1000);
    const loadAtStart = loadAvg();
    await postReferrals(web.port, { duration: o.duration, connections: 8, overallRate: rate, keep: acknowledged });
    clearInterval(sampler);
    const loadAtEnd = loadAvg();
    const verdict = await waitDelivered(sim, acknowledged, redis, prefix, 120_000);
    const tenth = Math.max(1, Math.floor(samples.length / 10));
    const total = samples.map((s) => s.web + s.worker);
    const startTotalMb = avg(total.slice(tenth, 2 * tenth));
    const endTotalMb = avg(total.slice(-tenth));
    const result: MemoryResult = {
      seconds: o.duration,
      rate,
      maxWebMb: Math.max(...samples.map((s) => s.web)),
      maxWorkerMb: Math.max(...samples.map((s) => s.worker)),
      maxTotalMb: Math.max(...total),
      startTotalMb,
      endTotalMb,
      growth: (endTotalMb - startTotalMb) / startTotalMb,
      verdict,
      load: `${loadAtStart} → ${loadAtEnd}`,
    };
    log(`memory: ${o.duration} s at ${rate} referrals/s (${acknowledged.length} acknowledged in all), ${samples.length} samples, load average ${result.load}`);
    log(`  max RSS web ${result.maxWebMb.toFixed(0)} MB, worker ${result.maxWorkerMb.toFixed(0)} MB, together ${result.maxTotalMb.toFixed(0)} MB (target ≤ 300 MB)`);
    log(`  web + worker: ${startTotalMb.toFixed(0)} MB after warm-up → ${endTotalMb.toFixed(0)} MB at the end: growth ${(100 * result.growth).toFixed(1)} % (target ≤ 10 %)`);
    log(`  lost ${verdict.lost.length}, duplicated under another MSH-10 ${verdict.duplicatedUnderAnotherControlId}, out of order ${verdict.outOfOrder}`);
    return result;
  } finally {
    await rig.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string): number | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const rate = arg('rate');
  await runMemory({ duration: arg('duration') ?? 600, ...(rate ? { rate } : {}) });
}
