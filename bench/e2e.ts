/*
 * End-to-end benchmark (issue 7): POST /$process-message (41 KB REFREQ01, fresh X-Request-Id and Bundle.id, mTLS
 * keep-alive) → web process → Redis (AOF, appendfsync always) → worker process (mapping, sequencer, lane) → MLLP →
 * PAS simulator (its own process), which ACKs AA. Counts referrals whose REF^I12 the simulator ACKed AA, per second,
 * while autocannon drives the web process for D seconds; then waits for the rest to drain and checks every 200 was
 * delivered (ADT^A05 + REF^I12, AA), none under two MSH-10s, in receipt order.
 *
 * Baseline, same run, same simulator process: raw sequential MLLP round trips (one in flight, no Redis). The 111→ED
 * referral is two HL7 messages, so one lane can deliver at most baseline/2 referrals/s.
 *
 *   npx tsx bench/e2e.ts [--duration 60] [--connections 32] [--everysec] [--profile dir]
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { readPem } from '../src/dev/certs.js';
import { barsHeaders } from '../src/dev/send.js';
import { testCertsIn } from './certs.js';
import { loadAvg, mllpRoundTripRate, numberArg, redisCpuMs, referenceOf, SERVICE_ID, sleep, spawnProc, startBenchRig, TEMPLATE, verify, type Verdict } from './lib.js';

export interface E2eResult {
  readonly seconds: number;
  readonly accepted: number;
  readonly acceptedPerSec: number;
  /** Referrals delivered (REF^I12 AA) per second while the load ran (median of 1-s buckets after the first 2 s). */
  readonly deliveredPerSec: number;
  /** Referrals delivered / seconds from the start of load until the last one was delivered. */
  readonly overallPerSec: number;
  readonly drainSeconds: number;
  readonly mllpRoundTripPerSec: number;
  readonly ratio: number;
  readonly verdict: Verdict;
  readonly non2xx: number;
  readonly load: string;
  readonly redisCommandStats?: string;
  /** INFO commandstats over the measured load and its drain, per accepted referral (script bodies included). */
  readonly redisCommandsPerReferral: number;
  /** Sum of commandstats usec per accepted referral, ms (time in commands; inflated when Redis waits for a core). */
  readonly redisCommandMsPerReferral: number;
  /** CPU of the Redis process (INFO cpu) per accepted referral, ms: includes AOF writes and network I/O. */
  readonly redisCpuMsPerReferral: number;
}


/** Posts with autocannon and keeps the reference of every 200. */
export async function postReferrals(port: number, o: { duration: number; connections: number; overallRate?: number; amount?: number; keep?: string[] }): Promise<autocannon.Result> {
  const certs = testCertsIn();
  const base = barsHeaders(SERVICE_ID);
  const keep = o.keep;
  return autocannon({
    url: `https://127.0.0.1:${port}`,
    connections: o.connections,
    duration: o.duration,
    overallRate: o.overallRate,
    ...(o.amount ? { amount: o.amount } : {}),
    tlsOptions: { ca: readPem(certs.caCert), cert: readPem(certs.clientCert), key: readPem(certs.clientKey), servername: 'localhost' },
    requests: [
      {
        method: 'POST',
        path: '/$process-message',
        setupRequest: (req) => ({
          ...req,
          headers: { ...base, 'Content-Type': 'application/fhir+json', 'X-Request-Id': randomUUID(), 'X-Correlation-Id': randomUUID() },
          body: TEMPLATE.replace('@@BUNDLE_ID@@', randomUUID()),
        }),
        ...(keep
          ? {
              onResponse: (status: number, body: string) => {
                if (status === 200) {
                  keep.push(referenceOf(body) ?? '(no reference in the 200)');
                }
              },
            }
          : {}),
      },
    ],
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
};

export async function runE2e(o: { duration: number; connections?: number; everysec?: boolean; profileDir?: string; baselineSeconds?: number; log?: (s: string) => void }): Promise<E2eResult> {
  const log = o.log ?? ((s: string) => console.log(s));
  const rig = await startBenchRig('e2e', o.everysec ? 'everysec' : 'always');
  const { redisChild, redis, prefix, sim, procs } = rig;
  try {
    const mllpRoundTripPerSec = await mllpRoundTripRate(sim.port, o.baselineSeconds ?? Math.min(5, Math.max(2, o.duration / 10)));
    await sim.reset();
    const common = { redisUrl: redisChild.url, prefix, pasPort: sim.port, ...(o.profileDir ? { profileDir: o.profileDir } : {}) };
    procs.push(await spawnProc('worker', common));
    const web = await spawnProc('web', common);
    procs.push(web);
    // Warm-up (JIT, TLS sessions, mapping caches) — these referrals are delivered too but not counted.
    const warm: string[] = [];
    await postReferrals(web.port, { duration: 2, connections: 8, keep: warm });
    for (let i = 0; i < 600 && (await sim.dump()).filter((r) => r[1] === 'REF^I12').length < warm.length; i++) {
      await sleep(100);
    }
    await sim.reset();
    // Count Redis work from here: the measured load and its drain (the verifier's reads come after the counters).
    await redis.config('RESETSTAT');
    const cpu0 = await redisCpuMs(redis);

    const acknowledged: string[] = [];
    const loadAtStart = loadAvg();
    const t0 = Date.now();
    const result = await postReferrals(web.port, { duration: o.duration, connections: o.connections ?? 32, keep: acknowledged });
    const loadEnd = Date.now();
    const loadAtEnd = loadAvg();
    // Drain: wait until every acknowledged referral is delivered (or the backlog stops moving for 30 s).
    let last = -1;
    let stuckSince = Date.now();
    let records = await sim.dump();
    for (;;) {
      const done = new Set(records.filter((r) => r[1] === 'REF^I12' && r[3] === 'AA').map((r) => r[2]));
      if (acknowledged.every((r) => done.has(r))) {
        break;
      }
      if (done.size !== last) {
        last = done.size;
        stuckSince = Date.now();
      } else if (Date.now() - stuckSince > 30_000) {
        break;
      }
      await sleep(250);
      records = await sim.dump();
    }
    await sleep(300);
    records = await sim.dump();
    const simT0 = records.length > 0 ? records[0]![4] : 0;
    // Per-second delivered referrals relative to the simulator's clock; the load window is the first `duration` s.
    const refs = records.filter((r) => r[1] === 'REF^I12' && r[3] === 'AA');
    const lastAt = refs.length > 0 ? refs[refs.length - 1]![4] : simT0;
    const buckets = new Map<number, number>();
    for (const r of refs) {
      const s = Math.floor((r[4] - simT0) / 1000);
      buckets.set(s, (buckets.get(s) ?? 0) + 1);
    }
    const during = [...Array(Math.max(0, o.duration - 2)).keys()].map((i) => buckets.get(i + 2) ?? 0);
    const cpuMs = (await redisCpuMs(redis)) - cpu0;
    const all = (await redis.info('commandstats'))
      .split('\n')
      .filter((l) => l.startsWith('cmdstat_'))
      .map((l) => /cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ cmd: m[1]!, calls: Number(m[2]), usec: Number(m[3]) }))
      .filter((c) => c.cmd !== 'info' && c.cmd !== 'config');
    const verdict = await verify(records, acknowledged, redis, prefix);
    const perRef = Math.max(1, acknowledged.length);
    const redisCommandsPerReferral = all.reduce((n, c) => n + c.calls, 0) / perRef;
    const redisCommandMsPerReferral = all.reduce((n, c) => n + c.usec, 0) / 1000 / perRef;
    const stats = [...all]
      .sort((a, b) => b.usec - a.usec)
      .slice(0, 8)
      .map((s) => `${s.cmd} ${(s.calls / perRef).toFixed(2)}/referral ${(s.usec / 1e6).toFixed(1)} s`)
      .join('; ');
    const seconds = (Date.now() - t0) / 1000;
    const overallPerSec = refs.length / Math.max(0.001, (lastAt - simT0) / 1000 || (Date.now() - t0) / 1000);
    const deliveredPerSec = median(during);
    const out: E2eResult = {
      seconds,
      accepted: acknowledged.length,
      acceptedPerSec: acknowledged.length / o.duration,
      deliveredPerSec,
      overallPerSec,
      drainSeconds: Math.max(0, (t0 + (lastAt - simT0) - loadEnd) / 1000),
      mllpRoundTripPerSec,
      ratio: deliveredPerSec / mllpRoundTripPerSec,
      verdict,
      non2xx: result.non2xx + result.errors + result.timeouts,
      load: `${loadAtStart} → ${loadAtEnd}`,
      redisCommandStats: stats,
      redisCommandsPerReferral,
      redisCommandMsPerReferral,
      redisCpuMsPerReferral: cpuMs / perRef,
    };
    log(`end to end: ${o.duration} s of load, ${o.connections ?? 32} connections, load average ${out.load}`);
    log(`  accepted (200):                ${out.accepted} (${out.acceptedPerSec.toFixed(0)}/s), non-2xx/errors ${out.non2xx}`);
    log(`  delivered during load (median): ${out.deliveredPerSec.toFixed(0)} referrals/s = ${(2 * out.deliveredPerSec).toFixed(0)} HL7 msg/s`);
    log(`  delivered overall:              ${out.overallPerSec.toFixed(0)} referrals/s; backlog drained ${out.drainSeconds.toFixed(1)} s after load stopped`);
    log(`  baseline raw MLLP round trip:   ${out.mllpRoundTripPerSec.toFixed(0)} msg/s (one lane's ceiling: ${(out.mllpRoundTripPerSec / 2).toFixed(0)} referrals/s)`);
    log(`  ratio delivered referrals/s ÷ MLLP round trips/s: ${out.ratio.toFixed(2)}  (HL7 messages: ${((2 * out.deliveredPerSec) / out.mllpRoundTripPerSec).toFixed(2)})`);
    log(`  lost ${verdict.lost.length}, duplicated under another MSH-10 ${verdict.duplicatedUnderAnotherControlId}, out of order ${verdict.outOfOrder}, resends ${verdict.resends}`);
    log(`  redis per referral: ${redisCommandsPerReferral.toFixed(1)} commands (INFO commandstats, script bodies included), ${out.redisCommandMsPerReferral.toFixed(3)} ms in commands, ${out.redisCpuMsPerReferral.toFixed(3)} ms Redis process CPU (INFO cpu)`);
    log(`  redis top commands by time: ${stats}`);
    return out;
  } finally {
    await rig.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const pi = process.argv.indexOf('--profile');
  await runE2e({
    duration: numberArg('duration', 60),
    connections: numberArg('connections', 32),
    everysec: process.argv.includes('--everysec'),
    ...(pi >= 0 ? { profileDir: path.resolve(process.argv[pi + 1]!) } : {}),
  });
}
