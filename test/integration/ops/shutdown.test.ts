/*
 * Graceful shutdown (issue 6 §7): SIGTERM to a receiver+worker process while senders are posting. The process must
 * stop accepting, finish the requests in flight (each 200 means stored and queued: BaRS Transactional-integrity),
 * finish the lane message being sent (no half-sent HL7 resent after restart), close workers before queues, and exit 0
 * within its bound. What was acknowledged but not yet delivered is delivered by the next start, exactly once.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { testCerts, TEST_SERVICE_ID } from '../../helpers/harness.js';
import { barsHeaders, request, type SendResult } from '../../../src/dev/send.js';
import { startPasSimulator, type PasSimulator } from '../../../src/dev/pas-sim.js';
import { readPem } from '../../../src/dev/certs.js';
import { MessageStore } from '../../../src/state/message-store.js';
import { captureChildOutput } from '../../helpers/log-sink.js';

const FIXTURE = JSON.parse(readFileSync('test/fixtures/referral-111-to-ed.json', 'utf8')) as { id: string; entry: Array<{ resource: { destination?: Array<{ endpoint: string }> } }> };
const SHUTDOWN_BOUND_MS = 15_000;

function referral(): string {
  const b = structuredClone(FIXTURE);
  b.id = randomUUID();
  b.entry[0]!.resource.destination![0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
  return JSON.stringify(b);
}

interface Child {
  readonly process: ChildProcess;
  readonly port: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  readonly output: () => string;
}

async function startChild(env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/integration/ops/shutdown-child.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  captureChildOutput(child); // the run-wide PHI check reads what children print too
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const port = await new Promise<number>((resolve, reject) => {
    // Compiling the child under tsx takes a few seconds, much longer on a loaded two-core machine.
    const timer = setTimeout(() => reject(new Error(`child did not start:\n${out}`)), 45_000);
    const onData = (): void => {
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((e) => reject(new Error(`child exited (${e.code}) before listening:\n${out}`)));
  });
  return { process: child, port, exited, output: () => out };
}

describe('graceful shutdown: SIGTERM while senders are posting', function () {
  this.timeout(90_000);
  let pas: PasSimulator;
  let redis: Redis;
  let dataDir: string;
  const prefix = `{t-sd-${randomUUID().slice(0, 8)}}`;
  const children: ChildProcess[] = [];

  before(async function () {
    // Each ACK takes 40 ms, so a lane message is usually on the wire when SIGTERM arrives.
    pas = await startPasSimulator({ port: 0, scenario: { delayMs: 40 } });
    redis = new Redis(process.env.TEST_REDIS_URL!);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'bars-shutdown-'));
  });
  after(async function () {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
      }
    }
    await pas.close();
    await redis.quit();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers every request 200 or not at all (never 500), stores every 200, delivers each exactly once across a restart, exits 0 in time', async function () {
    const certs = testCerts();
    const env = {
      CHILD_DATA_DIR: dataDir,
      CHILD_PAS_PORT: String(pas.port),
      CHILD_TLS_CERT: certs.serverCert,
      CHILD_TLS_KEY: certs.serverKey,
      CHILD_TLS_CA: certs.caCert,
      CHILD_PREFIX: prefix,
      CHILD_SHUTDOWN_MS: String(SHUTDOWN_BOUND_MS),
    };
    const first = await startChild(env);
    children.push(first.process);
    const tls = { ca: readPem(certs.caCert), cert: readPem(certs.clientCert), key: readPem(certs.clientKey) };
    const send = (port: number, requestId: string): Promise<SendResult> =>
      request({ url: `https://127.0.0.1:${port}`, ...tls }, 'POST', '/$process-message', { ...barsHeaders(TEST_SERVICE_ID, { requestId }), 'Content-Type': 'application/fhir+json' }, referral());

    // Wait until the store answers (start-up may answer 503 for a moment before the producer connection is ready).
    for (let i = 0; ; i++) {
      const r = await request({ url: `https://127.0.0.1:${first.port}`, ...tls }, 'GET', `/ServiceRequest/${randomUUID()}`, barsHeaders(TEST_SERVICE_ID));
      if (r.status === 404) {
        break;
      }
      assert.ok(i < 200, `store not ready: ${r.status}`);
      await new Promise((res) => setTimeout(res, 25));
    }

    const answers: Array<{ requestId: string; status: number; body: string }> = [];
    const refused: string[] = [];
    let sigtermAt = 0;
    const clients = Array.from({ length: 6 }, async () => {
      for (;;) {
        const requestId = randomUUID();
        try {
          const res = await send(first.port, requestId);
          answers.push({ requestId, status: res.status, body: res.body });
        } catch (err) {
          // Connection refused or closed: the listener has stopped accepting. A sender retries elsewhere.
          refused.push((err as NodeJS.ErrnoException).code ?? (err as Error).message);
          if (sigtermAt > 0) {
            return;
          }
        }
      }
    });
    // Let traffic build up, then SIGTERM in the middle of it.
    while (answers.filter((a) => a.status === 200).length < 40) {
      await new Promise((res) => setTimeout(res, 20));
    }
    sigtermAt = Date.now();
    first.process.kill('SIGTERM');
    const exit = await first.exited;
    await Promise.all(clients);
    const shutdownMs = exit.at - sigtermAt;

    const ok = answers.filter((a) => a.status === 200);
    const statuses = answers.reduce<Record<number, number>>((m, a) => ({ ...m, [a.status]: (m[a.status] ?? 0) + 1 }), {});
    const pasBeforeRestart = pas.received.length;
    process.stdout.write(
      `      shutdown: ${answers.length} answered ${JSON.stringify(statuses)}, ${refused.length} refused/closed (${[...new Set(refused)].join(', ')}), ` +
        `exit ${exit.code} after ${shutdownMs} ms; PAS had ${pasBeforeRestart} messages\n`,
    );
    assert.equal(exit.code, 0, `exit code (output:\n${first.output().slice(-2000)})`);
    assert.ok(shutdownMs < SHUTDOWN_BOUND_MS, `stopped within the bound (${shutdownMs} ms)`);
    assert.equal(statuses[500] ?? 0, 0, 'no request answered 500');
    assert.deepEqual(Object.keys(statuses).filter((s) => s !== '200'), [], 'every answer was a 200 (in-flight requests finished)');
    assert.ok(refused.length >= 1, 'the listener stopped accepting');

    // Every 200 is stored, with its record.
    const store = new MessageStore(redis, prefix);
    const references: string[] = [];
    for (const a of ok) {
      const messageId = await redis.hget(`${prefix}:req:${a.requestId}`, 'messageId');
      assert.ok(messageId, `request ${a.requestId} has its message`);
      const stored = await store.getMessage(messageId);
      assert.ok(stored && (await store.getRecord(stored.recordType, stored.recordId)), `message ${messageId} and its record are stored`);
      const body = JSON.parse(a.body) as { entry: Array<{ resource: { resourceType: string; status?: string; identifier?: Array<{ value: string }> } }> };
      references.push(body.entry.map((e) => e.resource).find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value);
    }
    // The lane message being sent at SIGTERM was finished (ACK read and recorded), not abandoned mid-send.
    const counts = new Map<string, number>();
    pas.received.forEach((m) => counts.set(m.controlId, (counts.get(m.controlId) ?? 0) + 1));
    assert.deepEqual([...counts].filter(([, n]) => n > 1), [], 'no MSH-10 received twice before the restart');

    // Restart: everything acknowledged reaches the PAS, and nothing already delivered is sent again.
    const second = await startChild(env);
    children.push(second.process);
    const deadline = Date.now() + 30_000;
    const missing = (): string[] => references.filter((ref) => pas.received.filter((m) => m.text.includes(ref)).length < 2);
    while (missing().length > 0 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.deepEqual(missing(), [], 'every 200 reached the PAS (ADT^A05 and REF^I12)');
    await new Promise((res) => setTimeout(res, 300));
    const after = new Map<string, number>();
    pas.received.forEach((m) => after.set(m.controlId, (after.get(m.controlId) ?? 0) + 1));
    assert.deepEqual([...after].filter(([, n]) => n > 1).map(([c]) => c), [], 'no message delivered twice across the restart');
    assert.equal(pas.received.length, 2 * ok.length, 'two HL7 messages per accepted referral, no more');
    process.stdout.write(`      restart: PAS now has ${pas.received.length} messages for ${ok.length} referrals (${pas.received.length - pasBeforeRestart} after the restart)\n`);

    second.process.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
  });
});
