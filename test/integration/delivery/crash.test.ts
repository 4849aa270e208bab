import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { getDeliveryHistory } from '../../../src/flows/delivery/history.js';
import { enqueueDelivery } from '../../../src/flows/delivery/lanes.js';
import { startPasSimulator, type PasSimulator } from '../../../src/dev/pas-sim.js';
import { adt, ctrl, firstReceipts, testRedis, uniquePrefix, waitFor } from './helpers.js';
import { captureChildOutput } from '../../helpers/log-sink.js';

const childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/lane-worker-child.ts');

function startChild(prefix: string, pasPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript], {
    env: { ...process.env, LANE_PREFIX: prefix, LANE_PAS_PORT: String(pasPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  captureChildOutput(child); // the run-wide PHI check reads what children print too
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`lane worker child exited early (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        child.removeAllListeners('exit');
        resolve(child);
      }
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

describe('delivery lanes survive kill -9 of the worker', function () {
  this.timeout(30000);
  let redis: Redis;
  let sim: PasSimulator;
  const children: ChildProcess[] = [];

  before(() => {
    redis = testRedis();
  });
  after(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited(child);
      }
    }
    await sim?.close();
    await redis.quit();
  });

  it('loses and reorders nothing; the interrupted message is resent with the same MSH-10', async () => {
    const prefix = uniquePrefix('crash');
    const total = 300;
    const victim = ctrl(120);
    // The PAS holds its answer to the victim's first send: the worker is killed while waiting for that ACK.
    sim = await startPasSimulator({
      scenario: { decide: (i) => (i.controlId === victim && i.receipts === 1 ? { kind: 'silent' } : undefined) },
    });
    for (let n = 1; n <= total; n += 1) {
      await enqueueDelivery(
        { redis, prefix },
        { messageId: `m${n}`, destination: 'pas', controlId: ctrl(n), contentType: 'x-application/hl7-v2+er7', text: adt(ctrl(n)) },
      );
    }
    const first = await startChild(prefix, sim.port);
    children.push(first);
    await waitFor(() => sim.received.some((m) => m.controlId === victim), 15000, 'the victim to be sent');
    await new Promise((r) => setTimeout(r, 50)); // the worker is now blocked on the victim's ACK
    first.kill('SIGKILL');
    await exited(first);
    const beforeRestart = sim.received.length;
    assert.equal(sim.received.at(-1)!.controlId, victim, 'nothing was sent past the unacknowledged head');

    const started = Date.now();
    const second = await startChild(prefix, sim.port);
    children.push(second);
    await waitFor(
      () => new Set(sim.received.map((m) => m.controlId)).size === total && sim.received.at(-1)!.controlId === ctrl(total),
      20000,
      'all messages after restart',
    );
    const recoveryMs = sim.received[beforeRestart]!.receivedAt - started;
    assert.equal(sim.received[beforeRestart]!.controlId, victim, 'the new worker starts with the interrupted head');
    const ids = sim.received.map((m) => m.controlId);
    assert.deepEqual(firstReceipts(ids), Array.from({ length: total }, (_, i) => ctrl(i + 1)));
    assert.equal(ids.filter((id) => id === victim).length, 2, 'victim sent twice, both with the same MSH-10');
    assert.equal(ids.length, total + 1, 'no other duplicates');
    await waitFor(async () => (await getDeliveryHistory({ redis, prefix }, 'pas', 'm120'))?.summary.status === 'delivered', 2000, 'victim delivered');
    const history = (await getDeliveryHistory({ redis, prefix }, 'pas', 'm120'))!;
    assert.ok(history.events.some((e) => e.type === 'interrupted'), 'history shows the interrupted attempt');
    assert.equal(history.summary.attempts, 2);
    second.kill('SIGTERM');
    await exited(second);
    console.log(`      head resent ${recoveryMs} ms after the replacement worker started`);
  });
});
