/*
 * Shared by the end-to-end benchmarks (e2e, backlog, memory) and the reliability tests (test/reliability): the 41 KB
 * REFREQ01 referral, bars-bridge processes (bench/proc.ts) and the PAS simulator process (bench/sim-proc.ts), the
 * sequential MLLP round-trip baseline, and the invariant check run after every load:
 *
 *   lost        a referral answered 200 whose ADT^A05 and REF^I12 were not both ACKed AA by the PAS;
 *   duplicated  one referral's message of one type delivered under two different MSH-10s;
 *   out of order  first receipts at the PAS not in receipt (commit) order of their messages.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis, type Cluster } from 'ioredis';
import { startRedisChild, type RedisChild } from '../src/dev/redis-child.js';
import { readPem } from '../src/dev/certs.js';
import { barsHeaders } from '../src/dev/send.js';
import { MllpClient } from '../src/protocol/hl7/mllp-client.js';
import type { PasScenario } from '../src/dev/pas-sim.js';
import { testCertsIn } from './certs.js';
import type { SimRecord } from './sim-proc.js';
import { igExample } from '../test/external/nhs-material.js';

export type { SimRecord };
export const SERVICE_ID = '2000072489';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
/** The launcher of every bars-bridge process (node with the memory settings; see the file). */
export const BARS_NODE = path.join(ROOT, 'bin', 'bars-node');

const SHARED = igExample('referral-request_new_111-to-ED_APP1_REFREQ01.json');
const source = existsSync(SHARED) ? SHARED : path.join(ROOT, 'test/fixtures/referral-111-to-ed.json');
const bundle = JSON.parse(readFileSync(source, 'utf8')) as { id: string; entry: Array<{ resource: { destination?: Array<{ endpoint: string }> } }> };
bundle.entry[0]!.resource.destination![0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${SERVICE_ID}`;
bundle.id = '@@BUNDLE_ID@@';
/** The referral with a placeholder Bundle.id. */
export const TEMPLATE = JSON.stringify(bundle);
export const referralBody = (): string => TEMPLATE.replace('@@BUNDLE_ID@@', randomUUID());
/** The HL7 messages the 111→ED referral maps to. */
export const EXPECTED_TYPES = ['ADT^A05', 'REF^I12'] as const;
const REF = /"value":"(BB-[0-9A-Z]{8})"/;
/** Our human-readable reference from a 200 body. */
export const referenceOf = (body: string): string | undefined => REF.exec(body)?.[1];

export const loadAvg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');
export const machine = (): string =>
  `${os.cpus().length} × ${os.cpus()[0]?.model?.trim() ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB, node ${process.version}, ${os.platform()} ${os.release()}`;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A delivery.yaml with a short lease and backoff, so a crashed worker's lane is taken over within seconds. */
export function writeQueuesDir(dir: string, o: { leaseMs?: number; takeoverPollMs?: number; backoffInitialMs?: number; backoffMaxMs?: number } = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'delivery.yaml'),
    [
      'backoff:',
      `  initialMs: ${o.backoffInitialMs ?? 100}`,
      `  maxMs: ${o.backoffMaxMs ?? 500}`,
      '  multiplier: 2',
      '  jitter: 0.2',
      'maxAttempts: forever',
      'lock:',
      `  leaseMs: ${o.leaseMs ?? 10000}`,
      `  takeoverPollMs: ${o.takeoverPollMs ?? 500}`,
      'retention:',
      '  deliveredTextTtlSeconds: 3600',
      '  historyTtlSeconds: 3600',
      'destinations: {}',
      '',
    ].join('\n'),
  );
  return dir;
}

export interface Proc {
  readonly child: ChildProcess;
  readonly role: string;
  readonly port: number;
  readonly pid: number;
  /** Resolves with the exit code or signal when the process ends. */
  readonly exited: Promise<string>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export interface ProcOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly pasPort: number;
  readonly port?: number;
  readonly queuesDir?: string;
  /** Directory for --cpu-prof output (profiling a missed target). */
  readonly profileDir?: string;
  readonly logLevel?: string;
  /** PAS ACK timeout of the worker's destination (default 30 s). */
  readonly ackTimeoutMs?: number;
  /** `redisUrl` names a node of a Redis Cluster (REDIS_CLUSTER). */
  readonly cluster?: boolean;
}

/** Starts bench/proc.ts as `web`, `worker` or `both`; resolves when it prints `ready`. */
export function spawnProc(role: 'web' | 'worker' | 'both', o: ProcOptions): Promise<Proc> {
  const prof = o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] : [];
  // Through bin/bars-node, like `npm start` and the Procfile: the same memory settings as production.
  // `npm run bench` compiles first and sets BENCH_COMPILED=1: its processes then run JavaScript as in production (tsx
  // adds ~30 MB per process and its own start-up work); the fault tests run the TypeScript sources through tsx.
  const entry = process.env.BENCH_COMPILED === '1' ? [path.join(ROOT, 'dist', 'bench', 'proc.js')] : ['--import', 'tsx', path.join(HERE, 'proc.ts')];
  const child = spawn(BARS_NODE, [...prof, ...entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE: process.execPath,
      BENCH_ROLE: role,
      BENCH_REDIS_URL: o.redisUrl,
      BENCH_PREFIX: o.prefix,
      BENCH_PAS_PORT: String(o.pasPort),
      BENCH_PORT: String(o.port ?? 0),
      ...(o.queuesDir ? { BENCH_QUEUES_DIR: o.queuesDir } : {}),
      ...(o.logLevel ? { BENCH_LOG_LEVEL: o.logLevel } : {}),
      ...(o.ackTimeoutMs ? { BENCH_ACK_TIMEOUT_MS: String(o.ackTimeoutMs) } : {}),
      ...(o.cluster ? { BENCH_REDIS_CLUSTER: '1' } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /ready (\{.*\})/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        if (process.env.BENCH_DEBUG) {child.stdout!.on('data', (d: Buffer) => process.stderr.write(d));}
        const info = JSON.parse(m[1]!) as { port: number; pid: number };
        const signal = (sig: NodeJS.Signals) => async (): Promise<void> => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill(sig);
          }
          await exited;
        };
        resolve({ child, role, port: info.port, pid: info.pid, exited, stop: signal('SIGTERM'), kill: signal('SIGKILL') });
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((how) => reject(new Error(`${role} process exited before it was ready (${how})`)));
  });
}

export interface Sim {
  readonly port: number;
  readonly child: ChildProcess;
  dump(): Promise<SimRecord[]>;
  reset(): Promise<void>;
  setScenario(s: Omit<PasScenario, 'random' | 'decide'>): Promise<void>;
  /** PAS outage: stop listening, drop connections. */
  close(): Promise<void>;
  open(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the PAS simulator (ACK AA) in its own process. */
export function spawnSim(port = 0): Promise<Sim> {
  const child = fork(path.join(HERE, 'sim-proc.ts'), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, SIM_PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T>(cmd: Record<string, unknown>, answer: string): Promise<T> =>
    new Promise((resolve) => {
      const on = (m: { type: string } & Record<string, unknown>): void => {
        if (m.type === answer) {
          child.off('message', on);
          resolve(m as T);
        }
      };
      child.on('message', on);
      child.send(cmd);
    });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`simulator exited (${code})`)));
    child.once('message', (m: { type: string; port: number }) => {
      resolve({
        port: m.port,
        child,
        dump: async () => (await ask<{ records: SimRecord[] }>({ cmd: 'dump' }, 'dump')).records,
        reset: async () => void (await ask({ cmd: 'reset' }, 'reset')),
        setScenario: async (scenario) => void (await ask({ cmd: 'scenario', scenario }, 'scenario')),
        close: async () => void (await ask({ cmd: 'close' }, 'closed')),
        open: async () => void (await ask({ cmd: 'open' }, 'opened')),
        stop: async () => {
          if (child.exitCode === null) {
            const gone = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await gone;
          }
        },
      });
    });
  });
}

/** A small HL7 ADT of the size the mapping produces (~1.5 KB), for the raw round-trip baseline. */
const adt = (id: string): string =>
  `MSH|^~\\&|BARS|RXX|PAS|RXX|20260101000000||ADT^A05^ADT_A05|${id}|P|2.4\rEVN|A05\rPID|1||9000000009^^^NHS^NH||TEST^SYNTHETIC\r` +
  `PV1|1|O|CLINIC^^^RXX\r`.repeat(60);

/** Raw sequential MLLP round trips against a simulator (one message in flight, no Redis): messages/s. */
export async function mllpRoundTripRate(port: number, seconds: number): Promise<number> {
  const client = new MllpClient({ host: '127.0.0.1', port, connectTimeoutMs: 1000, ackTimeoutMs: 5000, keepAlive: true, reconnect: { initialMs: 100, maxMs: 1000 } });
  try {
    for (let i = 0; i < 300; i += 1) {
      await client.send(adt(`BW${i}`), `BW${i}`);
    }
    let n = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    while (performance.now() < end) {
      await client.send(adt(`BL${n}`), `BL${n}`);
      n += 1;
    }
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await client.close();
  }
}

/** A keep-alive mTLS client posting referrals the way the proxy does. */
export function referralPoster(port: number, maxSockets = 16): { post(): Promise<{ status: number; reference?: string }>; close(): void } {
  const certs = testCertsIn();
  const agent = new https.Agent({ keepAlive: true, maxSockets, ca: readPem(certs.caCert), cert: readPem(certs.clientCert), key: readPem(certs.clientKey), servername: 'localhost' });
  const post = (): Promise<{ status: number; reference?: string }> =>
    new Promise((resolve) => {
      const body = referralBody();
      const req = https.request(
        { host: '127.0.0.1', port, path: '/$process-message', method: 'POST', agent, timeout: 10_000, headers: { ...barsHeaders(SERVICE_ID), 'Content-Type': 'application/fhir+json', 'Content-Length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, reference: res.statusCode === 200 ? referenceOf(text) : undefined });
          });
          res.on('error', () => resolve({ status: 0 }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve({ status: 0 }));
      req.end(body);
    });
  return { post, close: () => agent.destroy() };
}

/** Sends referrals from `concurrency` loops until `until()` is true; tallies statuses and keeps every 200's reference. */
export async function loadLoop(
  poster: ReturnType<typeof referralPoster>,
  concurrency: number,
  until: () => boolean,
  acknowledged: string[],
  statuses: Map<number, number>,
  pauseMs = 0,
): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!until()) {
        const r = await poster.post();
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) {
          acknowledged.push(r.reference ?? '(no reference in the 200)');
        }
        if (pauseMs > 0 || r.status !== 200) {
          await sleep(pauseMs || 20);
        }
      }
    }),
  );
}

export interface Verdict {
  readonly acknowledged: number;
  readonly delivered: number;
  /** Acknowledged references not (yet) delivered with AA for every expected type. */
  readonly lost: string[];
  /** (reference, type) pairs seen under more than one MSH-10. */
  readonly duplicatedUnderAnotherControlId: number;
  /** First receipts whose receipt sequence is below one already delivered. */
  readonly outOfOrder: number;
  /** Receipts of an MSH-10 already received (resends after a crash or timeout: allowed, same MSH-10). */
  readonly resends: number;
  /** Messages at the PAS for no acknowledged referral (should be 0). */
  readonly unexpected: number;
  readonly messages: number;
}

/** Checks lost / duplicated / order over what the simulator received. `redis` resolves MSH-10 → receipt sequence. */
export async function verify(records: readonly SimRecord[], acknowledged: readonly string[], redis: Redis | Cluster, prefix: string): Promise<Verdict> {
  const aa = new Map<string, Set<string>>();
  const controls = new Map<string, Set<string>>();
  const firstSeen = new Set<string>();
  const firsts: string[] = [];
  let resends = 0;
  for (const [controlId, type, reference, answer] of records) {
    if (firstSeen.has(controlId)) {
      resends += 1;
    } else {
      firstSeen.add(controlId);
      firsts.push(controlId);
    }
    const key = `${reference} ${type}`;
    (controls.get(key) ?? controls.set(key, new Set()).get(key)!).add(controlId);
    if (answer === 'AA') {
      (aa.get(reference) ?? aa.set(reference, new Set()).get(reference)!).add(type);
    }
  }
  const ackSet = new Set(acknowledged);
  const lost = acknowledged.filter((r) => !EXPECTED_TYPES.every((t) => aa.get(r)?.has(t)));
  const duplicated = [...controls.values()].filter((s) => s.size > 1).length;
  const unexpected = [...aa.keys()].filter((r) => !ackSet.has(r)).length;

  // MSH-10 → delivery id → message id → receipt sequence number (the sequencer's order).
  const seqs: number[] = [];
  for (let i = 0; i < firsts.length; i += 2000) {
    const chunk = firsts.slice(i, i + 2000);
    const deliveryIds = (await Promise.all(chunk.map((c) => redis.get(`${prefix}:ctl:${c}`)))) as Array<string | null>;
    const metas = (await Promise.all(deliveryIds.map((d) => (d ? redis.get(`${prefix}:out:${d}:meta`) : Promise.resolve(null))))) as Array<string | null>;
    const seqRaw = (await Promise.all(
      metas.map((m) => (m ? redis.get(`${prefix}:msg:${(JSON.parse(m) as { messageId: string }).messageId}:seq`) : Promise.resolve(null))),
    )) as Array<string | null>;
    seqs.push(...seqRaw.map((s) => (s === null ? Number.NaN : Number(s))));
  }
  let outOfOrder = 0;
  let max = -Infinity;
  for (const s of seqs) {
    if (Number.isNaN(s)) {
      continue;
    }
    if (s < max) {
      outOfOrder += 1;
    }
    max = Math.max(max, s);
  }
  return {
    acknowledged: acknowledged.length,
    delivered: acknowledged.length - lost.length,
    lost,
    duplicatedUnderAnotherControlId: duplicated,
    outOfOrder,
    resends,
    unexpected,
    messages: records.length,
  };
}

/** Polls the simulator until every acknowledged referral is delivered or `timeoutMs` passes; returns the last verdict. */
export async function waitDelivered(sim: Sim, acknowledged: readonly string[], redis: Redis | Cluster, prefix: string, timeoutMs: number): Promise<Verdict> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await sim.dump();
    const aa = new Set(records.filter((r) => r[3] === 'AA' && r[1] === 'REF^I12').map((r) => r[2]));
    if (acknowledged.every((r) => aa.has(r)) || Date.now() > deadline) {
      await sleep(300); // the ADT^A05 of the last referral may still be on its way
      return verify(await sim.dump(), acknowledged, redis, prefix);
    }
    await sleep(250);
  }
}

/** CPU time of the Redis process so far (INFO cpu, user + system), ms. */
export async function redisCpuMs(redis: Redis | Cluster): Promise<number> {
  const info = await redis.info('cpu');
  const v = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (v('used_cpu_user') + v('used_cpu_sys')) * 1000;
}

/** One line for a verdict, as the fault tests print it. */
export const verdictLine = (tried: number, v: Verdict): string =>
  `tried ${tried}, acknowledged ${v.acknowledged}, delivered ${v.delivered}, lost ${v.lost.length}, ` +
  `duplicated under another MSH-10 ${v.duplicatedUnderAnotherControlId}, out of order ${v.outOfOrder}, resends (same MSH-10) ${v.resends}, unexpected ${v.unexpected}`;

/** Resident set size of a process in MB (Linux /proc). */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * What the multi-process benchmarks (e2e, backlog, memory) run on: a private redis-server (AOF, `fsync`), a client of
 * it, the PAS simulator process, and the bars-bridge processes they spawn; `close` stops all of it in reverse order.
 */
export interface BenchRig {
  readonly dir: string;
  readonly redisChild: RedisChild;
  readonly redis: Redis;
  readonly prefix: string;
  readonly sim: Sim;
  /** Processes to stop on close, last started first. */
  readonly procs: Proc[];
  close(): Promise<void>;
}

export async function startBenchRig(name: string, fsync: 'always' | 'everysec' = 'always'): Promise<BenchRig> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `bars-bench-${name}-`));
  const redisChild = await startRedisChild(path.join(dir, 'redis'), undefined, fsync);
  const redis = new Redis(redisChild.url, { maxRetriesPerRequest: null });
  const sim = await spawnSim();
  const procs: Proc[] = [];
  return {
    dir,
    redisChild,
    redis,
    prefix: '{bench}',
    sim,
    procs,
    async close() {
      for (const p of procs.reverse()) {
        await p.stop();
      }
      await sim.stop();
      redis.disconnect();
      await redisChild.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `--<name> <number>` from the command line of a bench run on its own, or `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
