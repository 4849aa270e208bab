/*
 * Acknowledgement-path benchmark (issue 7): POST /$process-message with the 41 KB REFREQ01 referral, a fresh
 * X-Request-Id and Bundle.id per request, mTLS keep-alive, 32 connections — against bars-bridge and, in the same run,
 * against a baseline Express 5 + mTLS server that only parses the JSON and answers 200. Prints both and the ratio
 * (target ≥ 0.6), then latency at a fixed rate (target p99 ≤ 50 ms, p50 ≤ 10 ms).
 *
 *   npx tsx bench/ack.ts [--duration 20] [--rate 1000 | --rate 300,1000]
 *
 * Each load line also gives the server process's CPU time per request (process.cpuUsage, asked for with SIGUSR2), the
 * figure that stays comparable when other work shares the cores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { readPem } from '../src/dev/certs.js';
import { freePort, startRedisChild } from '../src/dev/redis-child.js';
import { barsHeaders } from '../src/dev/send.js';
import { testCertsIn } from './certs.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const SERVICE_ID = '2000072489';

const SHARED = '../shared/external-cases/bars-examples/ig-json-converted/referral-request_new_111-to-ED_APP1_REFREQ01.json';
const source = existsSync(SHARED) ? SHARED : 'test/fixtures/referral-111-to-ed.json';
const bundle = JSON.parse(readFileSync(source, 'utf8')) as { id: string; entry: Array<{ resource: { destination?: Array<{ endpoint: string }> } }> };
bundle.entry[0]!.resource.destination![0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${SERVICE_ID}`;
bundle.id = '@@BUNDLE_ID@@';
const template = JSON.stringify(bundle);

function spawnServer(kind: string, port: number, redisUrl = ''): Promise<ChildProcess> {
  const profile = process.env.BENCH_PROFILE && kind === 'receiver' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'bench/servers.ts', kind, String(port), redisUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
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
}

export async function runAck(o: { duration?: number; rate?: number; extraRates?: readonly number[]; everysec?: boolean } = {}): Promise<AckResult> {
  const duration = o.duration ?? 20;
  const rate = o.rate ?? 1000;
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

    const fixedAt = async (r: number): Promise<autocannon.Result> => {
      const { r: fixed, cpuMs } = await measured(children[1]!, recvPort, { duration, connections: 32, overallRate: r });
      console.log(
        `fixed ${r} req/s: p50 ${fixed.latency.p50} ms, p99 ${fixed.latency.p99} ms (targets ≤ 10 ms, ≤ 50 ms), non-2xx/errors ${fixed.non2xx + fixed.errors}, achieved ${fixed.requests.average.toFixed(0)} req/s, CPU ${cpuMs.toFixed(2)} ms/request`,
      );
      return fixed;
    };
    const fixed = await fixedAt(rate);
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
  await runAck({ duration: arg('duration', 20), rate: rates[0], extraRates: rates.slice(1), everysec: process.argv.includes('--everysec') });
}
