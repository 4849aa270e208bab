/*
 * `npm run bench`: every benchmark of issue 7 in sequence, each with its baseline measured in the same run, then one
 * summary table (figure, baseline, ratio, target, pass/miss) with the load average during each.
 *
 *   npm run bench                 long versions (ack 20 s ×2 + 20 s fixed rate, e2e 60 s, backlog 20,000, memory 10 min)
 *   npm run bench -- --short      CI-sized (under ~2 minutes in all)
 *   npm run bench -- --only e2e,backlog
 *
 * Exits 0 even when a target is missed (the table says which): the machine running it decides the figures.
 * `--strict` exits 1 on a miss or on any lost / duplicated / reordered message (those are never a machine matter:
 * they always fail the run).
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { runAck, type AckResult } from './ack.js';
import { runBacklog, type BacklogResult } from './backlog.js';
import { runE2e, type E2eResult } from './e2e.js';
import { runMappingBench } from './mapping.js';
import { runMemory, type MemoryResult } from './memory.js';
import { renderCpu } from './render-cpu.js';
import { machine, type Verdict } from './lib.js';

const short = process.argv.includes('--short');
const strict = process.argv.includes('--strict');
const oi = process.argv.indexOf('--only');
const only = oi >= 0 ? new Set(process.argv[oi + 1]!.split(',')) : undefined;
const want = (name: string): boolean => !only || only.has(name);

interface Row {
  readonly what: string;
  readonly figure: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly target: string;
  readonly pass: boolean;
  readonly load: string;
}
const rows: Row[] = [];
const integrity: Array<{ what: string; v: Verdict }> = [];
const started = Date.now();
const f0 = (n: number): string => n.toFixed(0);

// The measured processes run the compiled build, as `npm start` and the Procfile do (bench/lib.ts spawnProc).
const build = spawnSync(process.execPath, [path.join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bench.json'], { stdio: 'inherit' });
if (build.status !== 0) {
  console.error('bench: the build failed');
  process.exit(1);
}
process.env.BENCH_COMPILED = '1';

console.log(`bars-bridge benchmarks (${short ? 'short' : 'long'}) on ${machine()}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

if (want('ack')) {
  // Latency is judged at half the receiver's measured capacity (issue 18).
  const a: AckResult = await runAck(short ? { duration: 3, rate: 'half' } : { duration: 20, rate: 'half' });
  rows.push({ what: 'ack path throughput', figure: `${f0(a.receiver)} req/s`, baseline: `${f0(a.baseline)} req/s (Express+mTLS)`, ratio: a.ratio.toFixed(2), target: '≥ 0.60', pass: a.ratio >= 0.6, load: a.load });
  // Judged on the evenly paced run: a fixed rate means one request every 1/rate s. autocannon's rate limit sends each
  // second's quota as a burst, which measures queueing behind the burst (shown beside it; the baseline suffers it too).
  const rate = a.pacedRate;
  rows.push({
    what: `ack latency @${rate}/s (½ capacity)`,
    figure: `paced p50 ${a.pacedP50} ms, p99 ${a.pacedP99} ms (got ${f0(a.pacedAchieved)}/s); bursts p50 ${a.p50}, p99 ${a.p99}`,
    baseline: '—',
    ratio: '—',
    target: 'p50 ≤ 10, p99 ≤ 50',
    pass: a.pacedP50 <= 10 && a.pacedP99 <= 50 && a.pacedFailed === 0 && a.pacedAchieved >= 0.95 * rate,
    load: a.load,
  });
}
if (want('e2e')) {
  const e: E2eResult = await runE2e(short ? { duration: 4, connections: 4, baselineSeconds: 2 } : { duration: 60, connections: 32 });
  integrity.push({ what: 'end to end', v: e.verdict });
  rows.push({
    what: 'end to end (over the run)',
    figure: `${f0(e.overallPerSec)} referrals/s delivered over the run (${f0(e.deliveredPerSec)}/s during load, ${f0(e.acceptedPerSec)}/s accepted)`,
    baseline: `${f0(e.mllpRoundTripPerSec)} MLLP round trips/s`,
    ratio: e.ratio.toFixed(3),
    target: '≥ 500 referrals/s',
    pass: e.overallPerSec >= 500,
    load: e.load,
  });
  rows.push({
    what: 'Redis commands per referral',
    figure: `${e.redisCommandsPerReferral.toFixed(1)} (INFO commandstats, script bodies included)`,
    baseline: '—',
    ratio: '—',
    target: '≤ 20',
    pass: e.redisCommandsPerReferral <= 20,
    load: e.load,
  });
  rows.push({
    what: 'Redis CPU per referral',
    figure: `${e.redisCommandMsPerReferral.toFixed(3)} ms in commands (usec); ${e.redisCpuMsPerReferral.toFixed(3)} ms process CPU`,
    baseline: '—',
    ratio: '—',
    target: '≤ 0.25 ms',
    pass: e.redisCommandMsPerReferral <= 0.25,
    load: e.load,
  });
}
if (want('backlog')) {
  const b: BacklogResult = await runBacklog({ messages: short ? 4000 : 20_000 });
  integrity.push({ what: 'backlog', v: b.verdict });
  rows.push({ what: `backlog drain (${b.messages} msgs)`, figure: `${f0(b.drainPerSec)} msg/s`, baseline: `${f0(b.sequentialAckPerSec)} msg/s sequential ACK`, ratio: b.ratio.toFixed(3), target: '≥ 0.90', pass: b.ratio >= 0.9, load: b.load });
}
if (want('memory')) {
  const m: MemoryResult = await runMemory(short ? { duration: 15, rate: 10 } : { duration: 600 });
  integrity.push({ what: 'memory', v: m.verdict });
  rows.push({ what: `memory ${m.seconds} s @${m.rate}/s`, figure: `max ${f0(m.maxTotalMb)} MB (web ${f0(m.maxWebMb)}, worker ${f0(m.maxWorkerMb)}), growth ${(100 * m.growth).toFixed(1)} %`, baseline: '—', ratio: '—', target: '≤ 300 MB, ≤ 10 %', pass: m.maxTotalMb <= 300 && m.growth <= 0.1, load: m.load });
}
if (want('mapping')) {
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const r = runMappingBench({ seconds: short ? 0.5 : 7 });
  const c = await renderCpu({ rounds: short ? 3 : 8, messages: short ? 200 : 1500 });
  rows.push({ what: 'mapping CPU per 111→ED referral', figure: `${c.median.toFixed(3)} ms (median; min ${c.min.toFixed(3)}) ADT^A05 + REF^I12`, baseline: '—', ratio: '—', target: '≤ 0.6 ms', pass: c.median <= 0.6, load: c.load });
  rows.push({ what: 'mapping (compiled vs raw FHIRPath)', figure: `${f0(r.compiledExpressionsPerSec)} bundles/s`, baseline: `${f0(r.rawPerSec)} bundles/s raw`, ratio: `${r.ratio.toFixed(1)}x`, target: '(none)', pass: true, load });
}

const widths = [34, 52, 34, 7, 20, 5];
const cell = (s: string, w: number): string => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
console.log(`\nsummary (${((Date.now() - started) / 1000).toFixed(0)} s, ${short ? 'short' : 'long'} run; ${machine()})`);
console.log(['what', 'figure', 'baseline', 'ratio', 'target', 'pass'].map((h, i) => cell(h, widths[i]!)).join(' ') + ' load average (1/5/15 min, start → end)');
for (const r of rows) {
  console.log([r.what, r.figure, r.baseline, r.ratio, r.target, r.pass ? 'pass' : 'MISS'].map((c, i) => cell(c, widths[i]!)).join(' ') + ' ' + r.load);
}
let broken = false;
for (const { what, v } of integrity) {
  // "Unexpected": delivered referrals whose 200 the load generator never saw. autocannon stops at the end of its
  // duration without reading the answers still in flight (at most one per connection per autocannon run), and the
  // receiver rightly stores and delivers those. More than that would mean messages nobody sent.
  const bad = v.lost.length + v.duplicatedUnderAnotherControlId + v.outOfOrder + (v.unexpected > 100 ? v.unexpected : 0);
  broken ||= bad > 0;
  console.log(
    `${what}: acknowledged ${v.acknowledged}, lost ${v.lost.length}, duplicated under another MSH-10 ${v.duplicatedUnderAnotherControlId}, out of order ${v.outOfOrder}, ` +
      `delivered without a 200 seen by the load generator ${v.unexpected} (requests in flight when autocannon stopped)${bad > 0 ? '  ← BROKEN' : ''}`,
  );
}
if (broken || (strict && rows.some((r) => !r.pass))) {
  process.exitCode = 1;
}
