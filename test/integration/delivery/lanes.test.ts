import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import {
  dropDeadLetter,
  listDeadLetters,
  readDeadLetterAudit,
  replayDeadLetter,
  showDeadLetter,
} from '../../../src/flows/delivery/dead-letters.js';
import { getDeliveryHistory, getDeliveryTrace } from '../../../src/flows/delivery/history.js';
import { enqueueDelivery, getLaneStatus, startLaneWorkers, type LaneWorkers } from '../../../src/flows/delivery/lanes.js';
import { startPasSimulator, type PasSimulator } from '../../../src/dev/pas-sim.js';
import { adt, ctrl, fastPolicy, firstReceipts, pasDestination, testRedis, uniquePrefix, waitFor } from './helpers.js';

/** A seeded PRNG (mulberry32) so a failing run can be reproduced. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('delivery lanes (real Redis, real MLLP simulator)', function () {
  this.timeout(30000);
  let redis: Redis;
  let workers: LaneWorkers | undefined;
  const sims: PasSimulator[] = [];
  let prefix: string;

  beforeEach(() => {
    redis = testRedis();
    prefix = uniquePrefix('lanes');
  });
  afterEach(async () => {
    await workers?.close();
    workers = undefined;
    await Promise.all(sims.splice(0).map((s) => s.close()));
    await redis.quit();
  });

  const enqueue = (destination: string, n: number, messageId = `m${n}`): Promise<void> =>
    enqueueDelivery({ redis, prefix }, { messageId, destination, controlId: ctrl(n), contentType: 'x-application/hl7-v2+er7', text: adt(ctrl(n)) });

  it('keeps order through 1,000 messages with random AE, ACK timeouts, drops and wrong MSA-2; resends reuse MSH-10', async () => {
    const random = seeded(20261123);
    const sim = await startPasSimulator({
      scenario: { nakRate: 0.08, nakCode: 'AE', silentRate: 0.01, dropRate: 0.02, wrongControlIdRate: 0.01, random },
    });
    sims.push(sim);
    const started = Date.now();
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    const total = 1000;
    for (let n = 1; n <= total; n += 1) {
      await enqueue('pas', n); // the lane starts delivering while we are still enqueueing
    }
    const acceptedIds = (): number =>
      new Set(sim.received.filter((m) => m.action.kind === 'ack' && m.action.code === 'AA').map((m) => m.controlId)).size;
    await waitFor(() => acceptedIds() === total, 25000, 'all messages accepted');
    const expected = Array.from({ length: total }, (_, i) => ctrl(i + 1));
    const got = sim.received.map((m) => m.controlId);
    assert.deepEqual(firstReceipts(got), expected, 'first receipts are in enqueue order');
    assert.ok(got.every((id) => expected.includes(id)), 'no control id other than the ones we sent');
    // Stronger than first-receipt order: a message is never sent again once its successor has been sent, i.e. the
    // head is retried in place (BullMQ's own retry would resend it after later messages).
    for (let i = 1; i < got.length; i += 1) {
      assert.ok(got[i]! >= got[i - 1]!, `${got[i]} sent after ${got[i - 1]}: the lane went backwards`);
    }
    const resent = got.length - total;
    const failures = sim.received.filter((m) => !(m.action.kind === 'ack' && m.action.code === 'AA')).length;
    assert.ok(resent > 50, `the scenario must actually exercise resends (resent ${resent})`);
    assert.equal(resent, failures, 'every failed attempt was resent once more with the same MSH-10, nothing else');
    // once a message is accepted (AA) it is never sent again, and the next message follows it
    const accepted = new Set<string>();
    for (const m of sim.received) {
      assert.ok(!accepted.has(m.controlId), `${m.controlId} sent again after AA`);
      if (m.action.kind === 'ack' && m.action.code === 'AA') {
        accepted.add(m.controlId);
      }
    }
    await waitFor(async () => (await getDeliveryHistory({ redis, prefix }, 'pas', `m${total}`))?.summary.status === 'delivered', 2000, 'last delivered');
    const sample = sim.received.find((m) => m.action.kind === 'silent')!;
    const n = Number(sample.controlId.slice(1));
    const history = (await getDeliveryHistory({ redis, prefix }, 'pas', `m${n}`))!;
    assert.equal(history.summary.status, 'delivered');
    assert.equal(history.summary.attempts, got.filter((id) => id === sample.controlId).length, 'history counts every attempt');
    assert.ok(history.events.some((e) => e.error === 'ack-timeout'), 'the ACK timeout is in the history');
    assert.ok(history.events.every((e) => !JSON.stringify(e).includes('PID')), 'no HL7 text in the history');
    console.log(`      ${total} messages, ${got.length} sends (${resent} resends) in ${Date.now() - started} ms`);
  });

  it('dead-letters an AR, moves on, and lets ops show, replay (same and new MSH-10) and drop with an audit trail', async () => {
    const sim = await startPasSimulator({
      scenario: { decide: (i) => (['C00002', 'C00004', 'C00005'].includes(i.controlId) ? { kind: 'ack', code: 'AR', text: 'Unknown clinic' } : undefined) },
    });
    sims.push(sim);
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    for (let n = 1; n <= 6; n += 1) {
      await enqueue('pas', n);
    }
    await waitFor(() => sim.received.length === 6, 5000, 'six sends');
    assert.deepEqual(sim.received.map((m) => m.controlId), [1, 2, 3, 4, 5, 6].map(ctrl), 'AR is not retried; the lane moves on');
    await waitFor(async () => (await listDeadLetters({ redis, prefix })).length === 3, 2000, 'three dead letters');
    const dead = await listDeadLetters({ redis, prefix }, { destination: 'pas' });
    assert.deepEqual(dead.map((d) => [d.messageId, d.reason, d.detail]), [
      ['m2', 'ack-AR', 'Unknown clinic'],
      ['m4', 'ack-AR', 'Unknown clinic'],
      ['m5', 'ack-AR', 'Unknown clinic'],
    ]);
    const shown = await showDeadLetter({ redis, prefix }, 'pas', 'm2');
    assert.equal(shown.history!.summary.attempts, 1);
    assert.equal(shown.history!.events.find((e) => e.type === 'attempt')!.ackCode, 'AR');

    sim.setScenario({});
    const same = await replayDeadLetter({ redis, prefix }, 'pas', 'm2', { actor: 'ops:alice', controlId: { mode: 'same' } });
    const fresh = await replayDeadLetter({ redis, prefix }, 'pas', 'm4', { actor: 'ops:bob', controlId: { mode: 'new', controlId: 'NEWCTRL4' } });
    await dropDeadLetter({ redis, prefix }, 'pas', 'm5', { actor: 'ops:carol', reason: 'superseded' });
    assert.equal(same, 'C00002');
    await waitFor(() => sim.received.length === 8, 5000, 'two replays sent');
    assert.deepEqual(sim.received.slice(6).map((m) => m.controlId), ['C00002', 'NEWCTRL4']);
    assert.match(sim.received[7]!.text, /\|NEWCTRL4\|P\|2\.4\r/, 'MSH-10 rewritten in the replayed text');
    assert.equal(fresh, 'NEWCTRL4');
    assert.deepEqual(await listDeadLetters({ redis, prefix }), []);
    await waitFor(async () => (await getDeliveryHistory({ redis, prefix }, 'pas', 'm4'))?.summary.status === 'delivered', 2000, 'm4 delivered');
    const m5 = (await getDeliveryHistory({ redis, prefix }, 'pas', 'm5'))!;
    assert.equal(m5.summary.status, 'dropped');
    assert.equal(await redis.exists(`${prefix}:dlv:text:pas:m5`), 0, 'dropped text deleted');
    const auditTrail = await readDeadLetterAudit({ redis, prefix });
    assert.deepEqual(auditTrail.map((a) => [a.actor, a.action, a.messageId]), [
      ['ops:alice', 'replay', 'm2'],
      ['ops:bob', 'replay', 'm4'],
      ['ops:carol', 'drop', 'm5'],
    ]);
    await assert.rejects(dropDeadLetter({ redis, prefix }, 'pas', 'm5', { actor: 'x' }), /no dead letter/);
    const trace = await getDeliveryTrace({ redis, prefix }, 'm4');
    assert.deepEqual(trace.map((h) => [h.summary.destination, h.summary.controlId, h.summary.replays]), [['pas', 'NEWCTRL4', 1]]);
  });

  it('dead-letters after maxAttempts of AE and keeps the lane moving', async () => {
    const sim = await startPasSimulator({ scenario: { decide: (i) => (i.controlId === ctrl(1) ? { kind: 'ack', code: 'AE' } : undefined) } });
    sims.push(sim);
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy({ maxAttempts: 3 }));
    await enqueue('pas', 1);
    await enqueue('pas', 2);
    await waitFor(() => sim.received.some((m) => m.controlId === ctrl(2)), 5000, 'second message');
    assert.deepEqual(sim.received.map((m) => m.controlId), [ctrl(1), ctrl(1), ctrl(1), ctrl(2)]);
    await waitFor(async () => (await listDeadLetters({ redis, prefix })).length === 1, 2000, 'dead letter');
    assert.equal((await listDeadLetters({ redis, prefix }))[0]!.reason, 'max-attempts');
  });

  it('is idempotent per (messageId, destination)', async () => {
    const sim = await startPasSimulator();
    sims.push(sim);
    await enqueue('pas', 1);
    await enqueue('pas', 1);
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    await waitFor(() => sim.received.length === 1, 5000, 'one send');
    await enqueue('pas', 1); // after delivery too
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sim.received.length, 1);
  });

  it('drains a backlog in order after a PAS outage', async () => {
    let sim = await startPasSimulator();
    const port = sim.port;
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', port)], fastPolicy());
    await enqueue('pas', 1);
    await waitFor(() => sim.received.length === 1, 5000, 'first message');
    await sim.close(); // PAS down
    for (let n = 2; n <= 200; n += 1) {
      await enqueue('pas', n);
    }
    await new Promise((r) => setTimeout(r, 1500));
    const history = (await getDeliveryHistory({ redis, prefix }, 'pas', 'm2'))!;
    assert.ok(history.summary.attempts > 3, 'the head message was retried during the outage');
    assert.ok(history.events.every((e) => e.type !== 'attempt' || e.error === 'connection'));
    sim = await startPasSimulator({ port }); // PAS back
    sims.push(sim);
    await waitFor(() => sim.received.length >= 199, 10000, 'backlog drained');
    assert.deepEqual(firstReceipts(sim.received.map((m) => m.controlId)), Array.from({ length: 199 }, (_, i) => ctrl(i + 2)));
  });

  it('runs lanes in parallel: a blocked lane does not hold up another destination', async () => {
    const blocked = await startPasSimulator({ scenario: { nakRate: 1, nakCode: 'AE' } });
    const healthy = await startPasSimulator();
    sims.push(blocked, healthy);
    workers = await startLaneWorkers(
      { redis, prefix },
      [pasDestination('pas-a', blocked.port), pasDestination('pas-b', healthy.port)],
      fastPolicy(),
    );
    for (let n = 1; n <= 20; n += 1) {
      await enqueue('pas-a', n, `a${n}`);
      await enqueue('pas-b', n, `b${n}`);
    }
    await waitFor(() => healthy.received.length === 20, 5000, 'healthy lane drained');
    assert.ok(blocked.received.length > 1);
    const status = await getLaneStatus({ redis, prefix }, 'pas-a');
    assert.equal(status.waiting, 19);
    assert.equal(status.head?.messageId, 'a1');
    assert.equal(status.head?.lastOutcome, 'AE');
    assert.ok((status.head?.attempts ?? 0) > 1);
    assert.ok(blocked.received.every((m) => m.controlId === ctrl(1)), 'blocked lane retries its head only');
  });

  it('two worker processes on one lane (rolling-restart overlap) still send one at a time, in order', async () => {
    const sim = await startPasSimulator({ scenario: { delayMs: 2 } });
    sims.push(sim);
    const other = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    try {
      workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
      for (let n = 1; n <= 200; n += 1) {
        await enqueue('pas', n);
      }
      await waitFor(() => sim.received.length >= 100, 10000, 'half sent');
      await workers.close(); // one of the two goes away mid-stream (if it held the head, the other takes over)
      workers = undefined;
      await waitFor(() => sim.received.length >= 200, 10000, 'all sent');
      assert.deepEqual(sim.received.map((m) => m.controlId), Array.from({ length: 200 }, (_, i) => ctrl(i + 1)));
    } finally {
      await other.close();
    }
  });

  it('on close, puts the head job back at the head of its lane for the next worker', async () => {
    const sim = await startPasSimulator({ scenario: { nakRate: 1, nakCode: 'AE' } });
    sims.push(sim);
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    for (let n = 1; n <= 3; n += 1) {
      await enqueue('pas', n);
    }
    await waitFor(() => sim.received.length >= 3, 5000, 'some retries');
    await workers.close();
    workers = undefined;
    sim.setScenario({});
    const before = sim.received.length;
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    await waitFor(() => sim.received.length === before + 3, 5000, 'the rest delivered');
    assert.deepEqual(sim.received.slice(before).map((m) => m.controlId), [ctrl(1), ctrl(2), ctrl(3)]);
  });
});
