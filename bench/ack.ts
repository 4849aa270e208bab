/*
 * Acknowledgement-path benchmark (issue 7): POST /$process-message with the 41 KB REFREQ01 referral, a fresh
 * X-Request-Id and Bundle.id per request, mTLS keep-alive, 32 connections — against bars-bridge and, in the same run,
 * against a baseline Express 5 + mTLS server that only parses the JSON and answers 200. Prints both and the ratio
 * (target ≥ 0.6), then latency at a fixed rate (target p99 ≤ 50 ms, p50 ≤ 10 ms), twice: with autocannon's rate limit
 * (a burst at the start of every second) and evenly paced (see `paced`).
 *
 *   npx tsx bench/ack.ts [--duration 20] [--rate 1000 | --rate 300,1000] [--baseline-latency]
 *
 * Each load line also gives the server process's CPU time per request (process.cpuUsage, asked for with SIGUSR2), the
 * figure that stays comparable when other work shares the cores. --baseline-latency also measures the baseline at each
 * fixed rate: the latency floor of this machine and load generator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { readPem } from '../src/dev/certs.js';
import { freePort, startRedisChild } from '../src/dev/redis-child.js';
import { barsHeaders } from '../src/dev/send.js';
import { testCertsIn } from './certs.js';
import { igExample } from '../test/external/nhs-material.js';
import { numberArg } from './lib.js';

const SERVICE_ID = '2000072489';

const SHARED = igExample('referral-request_new_111-to-ED_APP1_REFREQ01.json');
const source = existsSync(SHARED) ? SHARED : 'test/fixtures/referral-111-to-ed.json';
const bundle = JSON.parse(readFileSync(source, 'utf8')) as { id: string; entry: Array<{ resource: { destination?: Array<{ endpoint: string }> } }> };
bundle.entry[0]!.resource.destination![0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${SERVICE_ID}`;
bundle.id = '@@BUNDLE_ID@@';
const template = JSON.stringify(bundle);

function spawnServer(kind: string, port: number, redisUrl = ''): Promise<ChildProcess> {
  const profile = process.env.BENCH_PROFILE && kind === 'receiver' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  // The receiver runs like production, through bin/bars-node (memory settings); the baseline is plain node.
  const child = spawn(kind === 'receiver' ? 'bin/bars-node' : process.execPath, [...profile, '--import', 'tsx', 'bench/servers.ts', kind, String(port), redisUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE: process.execPath },
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        resolve(child);
      }
    });
    child.once('exit', (code) => reject(new Error(`${kind} exited ${code}`)));
  });
}

/** CPU time (µs) a server process has used so far (servers.ts answers SIGUSR2 on stdout). */
function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const on = (d: Buffer): void => {
      const m = /cpu (\d+)/.exec(d.toString());
      if (m) {
        child.stdout!.off('data', on);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', on);
    child.kill('SIGUSR2');
  });
}

/** A load run and the server's CPU time per answered request (ms). */
async function measured(child: ChildProcess, port: number, opts: { duration: number; connections: number; overallRate?: number }): Promise<{ r: autocannon.Result; cpuMs: number }> {
  const before = await cpuOf(child);
  const r = await load(port, opts);
  const after = await cpuOf(child);
  return { r, cpuMs: (after - before) / 1000 / Math.max(1, r['2xx'] + r.non2xx) };
}

async function load(port: number, opts: { duration: number; connections: number; overallRate?: number }): Promise<autocannon.Result> {
  const certs = testCertsIn();
  const base = barsHeaders(SERVICE_ID);
  return autocannon({
    url: `https://127.0.0.1:${port}`,
    connections: opts.connections,
    duration: opts.duration,
    overallRate: opts.overallRate,
    tlsOptions: { ca: readPem(certs.caCert), cert: readPem(certs.clientCert), key: readPem(certs.clientKey), servername: 'localhost' },
    requests: [
      {
        method: 'POST',
        path: '/$process-message',
        setupRequest: (req) => ({
          ...req,
          headers: { ...base, 'Content-Type': 'application/fhir+json', 'X-Request-Id': randomUUID(), 'X-Correlation-Id': randomUUID() },
          body: template.replace('@@BUNDLE_ID@@', randomUUID()),
        }),
      },
    ],
  });
}

/**
 * Latency at an evenly paced rate (open loop): request i is due at start + i/rate and its latency is counted from
 * then, so a slow answer also delays nothing else's clock (no coordinated omission). autocannon's `overallRate` is a
 * per-connection quota per second instead: each second begins with a burst of `rate` requests over 32 connections,
 * and its latencies are mostly the queueing of that burst.
 */
async function paced(port: number, rate: number, seconds: number): Promise<{ p50: number; p99: number; max: number; ok: number; failed: number; achieved: number }> {
  const certs = testCertsIn();
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 32,
    ca: readPem(certs.caCert),
    cert: readPem(certs.clientCert),
    key: readPem(certs.clientKey),
    servername: 'localhost',
  });
  const base = barsHeaders(SERVICE_ID);
  const latencies: number[] = [];
  let failed = 0;
  const send = (due: number): Promise<void> =>
    new Promise((resolve) => {
      const body = template.replace('@@BUNDLE_ID@@', randomUUID());
      const req = https.request(
        {
          agent,
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/$process-message',
          headers: { ...base, 'Content-Type': 'application/fhir+json', 'Content-Length': String(Buffer.byteLength(body)), 'X-Request-Id': randomUUID(), 'X-Correlation-Id': randomUUID() },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) {
              latencies.push(performance.now() - due);
            } else {
              failed++;
            }
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(body);
    });
  const total = Math.round(rate * seconds);
  const inFlight: Array<Promise<void>> = [];
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    for (; sent < due; sent++) {
      inFlight.push(send(start + (sent * 1000) / rate));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN) * 10) / 10;
  return { p50: at(0.5), p99: at(0.99), max: at(1), ok: latencies.length, failed, achieved: latencies.length / elapsed };
}

function line(name: string, r: autocannon.Result, cpuMs: number): string {
  const non2xx = r.non2xx + r.errors + r.timeouts;
  return `${name.padEnd(10)} ${r.requests.average.toFixed(0).padStart(6)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  non-2xx/errors ${non2xx}  CPU ${cpuMs.toFixed(2)} ms/request`;
}

/** Figures of one run (bench/run.ts prints them in its summary). */
export interface AckResult {
  readonly baseline: number;
  readonly receiver: number;
  readonly ratio: number;
  /** Server CPU time per request (ms), baseline and receiver. */
  readonly baselineCpuMs: number;
  readonly receiverCpuMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly fixedRate: number;
  readonly fixedErrors: number;
  readonly load: string;
  /** Latency at the first fixed rate, evenly paced (open loop), ms. */
  readonly pacedP50: number;
  readonly pacedP99: number;
  readonly pacedAchieved: number;
  readonly pacedFailed: number;
  /** The evenly paced rate (req/s): the one asked for, or half the measured capacity. */
  readonly pacedRate: number;
}

export async function runAck(o: { duration?: number; rate?: number | 'half'; extraRates?: readonly number[]; baselineLatency?: boolean; everysec?: boolean } = {}): Promise<AckResult> {
  const duration = o.duration ?? 20;
  const loadStart = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bars-bench-redis-'));
  const redis = await startRedisChild(dir, undefined, o.everysec ? 'everysec' : 'always');
  testCertsIn();
  const children: ChildProcess[] = [];
  try {
    const basePort = await freePort();
    children.push(await spawnServer('baseline', basePort));
    const recvPort = await freePort();
    children.push(await spawnServer('receiver', recvPort, redis.url));

    console.log(`acknowledgement path: ${(template.length / 1024).toFixed(0)} KB referral, 32 connections, ${duration} s each, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? ''})`);
    await load(basePort, { duration: 2, connections: 32 });
    const { r: baseline, cpuMs: baselineCpuMs } = await measured(children[0]!, basePort, { duration, connections: 32 });
    console.log(line('baseline', baseline, baselineCpuMs));
    await load(recvPort, { duration: 2, connections: 32 });
    const { r: receiver, cpuMs: receiverCpuMs } = await measured(children[1]!, recvPort, { duration, connections: 32 });
    console.log(line('receiver', receiver, receiverCpuMs));
    const ratio = receiver.requests.average / baseline.requests.average;
    console.log(`ratio receiver/baseline: ${ratio.toFixed(2)} (target ≥ 0.60)`);
    // Issue 18: latency is judged at half the receiver's measured capacity (the headroom a 999 surge needs).
    const rate = o.rate === 'half' ? Math.max(10, Math.round(receiver.requests.average / 2)) : (o.rate ?? 1000);

    const fixedAt = async (r: number): Promise<{ fixed: autocannon.Result; even: Awaited<ReturnType<typeof paced>> }> => {
      if (o.baselineLatency) {
        // The floor on this machine: the same load generators, TLS and body against the baseline.
        const b = await load(basePort, { duration, connections: 32, overallRate: r });
        const e = await paced(basePort, r, duration);
        console.log(`fixed ${r} req/s, baseline: autocannon p50 ${b.latency.p50} ms, p99 ${b.latency.p99} ms; paced p50 ${e.p50} ms, p99 ${e.p99} ms, max ${e.max} ms`);
      }
      const { r: fixed, cpuMs } = await measured(children[1]!, recvPort, { duration, connections: 32, overallRate: r });
      console.log(
        `fixed ${r} req/s (autocannon, 1 s bursts): p50 ${fixed.latency.p50} ms, p99 ${fixed.latency.p99} ms (targets ≤ 10 ms, ≤ 50 ms), non-2xx/errors ${fixed.non2xx + fixed.errors}, achieved ${fixed.requests.average.toFixed(0)} req/s, CPU ${cpuMs.toFixed(2)} ms/request`,
      );
      const c0 = await cpuOf(children[1]!);
      const even = await paced(recvPort, r, duration);
      const cpuEven = ((await cpuOf(children[1]!)) - c0) / 1000 / Math.max(1, even.ok + even.failed);
      console.log(
        `fixed ${r} req/s (evenly paced): p50 ${even.p50} ms, p99 ${even.p99} ms, max ${even.max} ms (targets ≤ 10 ms, ≤ 50 ms), failed ${even.failed}, achieved ${even.achieved.toFixed(0)} req/s, CPU ${cpuEven.toFixed(2)} ms/request`,
      );
      return { fixed, even };
    };
    const { fixed, even } = await fixedAt(rate);
    for (const r of o.extraRates ?? []) {
      await fixedAt(r);
    }
    const loadAvgs = `${loadStart} → ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`;
    console.log(`load average ${loadAvgs}`);
    return {
      baseline: baseline.requests.average,
      receiver: receiver.requests.average,
      ratio,
      baselineCpuMs,
      receiverCpuMs,
      p50: fixed.latency.p50,
      p99: fixed.latency.p99,
      fixedRate: fixed.requests.average,
      fixedErrors: fixed.non2xx + fixed.errors + fixed.timeouts,
      load: loadAvgs,
      pacedP50: even.p50,
      pacedP99: even.p99,
      pacedAchieved: even.achieved,
      pacedFailed: even.failed,
      pacedRate: rate,
    };
  } finally {
    for (const c of children) {
      c.kill('SIGTERM');
    }
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // --rate 300,1000: latency at each rate in turn (the first is the one returned).
  const ri = process.argv.indexOf('--rate');
  const rates = ri >= 0 ? process.argv[ri + 1]!.split(',').map(Number) : [1000];
  await runAck({ duration: numberArg('duration', 20), rate: rates[0], extraRates: rates.slice(1), baselineLatency: process.argv.includes('--baseline-latency'), everysec: process.argv.includes('--everysec') });
}
