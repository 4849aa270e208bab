/*
 * Record-level consistency (issue 12 §4): a referral's or booking's messages reach the PAS in order or not at all.
 * A dead letter holds the later messages of its record (never other records); a PAS outage never dead-letters; a
 * replayed dead letter goes back to its receipt position with what was held behind it.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../../src/config/load.js';
import { dropDeadLetter, listDeadLetters, replayDeadLetter, replayDeadLetters } from '../../../src/flows/delivery/dead-letters.js';
import { getDeliveryHistory } from '../../../src/flows/delivery/history.js';
import { enqueueDeliveries, getLaneStatus, startLaneWorkers, type DeliveryItem, type LaneWorkers } from '../../../src/flows/delivery/lanes.js';
import { startPasSimulator, type PasSimulator } from '../../../src/dev/pas-sim.js';
import { evaluateAlerts, laneObservations } from '../../../src/ops/alerts.js';
import { adt, fastPolicy, pasDestination, testRedis, uniquePrefix, waitFor } from './helpers.js';

describe('record-level consistency of the delivery lanes (real Redis, real MLLP simulator)', function () {
  this.timeout(30000);
  let redis: Redis;
  let workers: LaneWorkers | undefined;
  const sims: PasSimulator[] = [];
  let prefix: string;

  beforeEach(() => {
    redis = testRedis();
    prefix = uniquePrefix('records');
  });
  afterEach(async () => {
    await workers?.close();
    workers = undefined;
    await Promise.all(sims.splice(0).map((s) => s.close()));
    await redis.quit();
  });

  /** Message `id` of record `record`, received `seq`-th: MSH-10 = the id upper-cased. */
  const item = (id: string, record: string, seq: number, extra: Partial<DeliveryItem> = {}): DeliveryItem => ({
    messageId: id,
    destination: 'pas',
    controlId: id.toUpperCase(),
    contentType: 'x-application/hl7-v2+er7',
    text: adt(id.toUpperCase()),
    record,
    order: seq * 1000,
    ...extra,
  });
  const sent = (sim: PasSimulator): string[] => sim.received.map((m) => m.controlId);
  const status = async (id: string): Promise<string | undefined> => (await getDeliveryHistory({ redis, prefix }, 'pas', id))?.summary.status;

  it('holds the later messages of a record behind its dead letter, visibly, while other records keep flowing', async () => {
    const sim = await startPasSimulator({
      scenario: { decide: (i) => (i.controlId === 'A1' && i.receipts === 1 ? { kind: 'ack', code: 'AR', text: 'Unknown clinic' } : undefined) },
    });
    sims.push(sim);
    // Queued before the lane starts: A2 and A3 are read ahead by the owner before A1 is refused.
    await enqueueDeliveries({ redis, prefix }, [
      item('a1', 'ServiceRequest/A', 1),
      item('b1', 'ServiceRequest/B', 2),
      item('a2', 'ServiceRequest/A', 3),
      item('b2', 'ServiceRequest/B', 4),
      item('a3', 'ServiceRequest/A', 5),
    ]);
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    await waitFor(async () => (await status('b2')) === 'delivered', 5000, 'record B delivered');
    // Queued after the dead letter: goes straight to the held set.
    await enqueueDeliveries({ redis, prefix }, [item('a4', 'ServiceRequest/A', 6), item('b3', 'ServiceRequest/B', 7)]);
    await waitFor(async () => (await status('b3')) === 'delivered', 5000, 'record B still flowing');
    await waitFor(async () => (await status('a3')) === 'held', 2000, 'a3 held');
    assert.deepEqual(sent(sim), ['A1', 'B1', 'B2', 'B3'], 'nothing of record A after its refused message');
    const lane = await getLaneStatus({ redis, prefix }, 'pas');
    assert.equal(lane.held, 3);
    assert.equal(lane.waiting, 0);
    assert.deepEqual(lane.heldRecords, [{ record: 'ServiceRequest/A', behind: 'a1', held: 3 }]);
    const a2 = (await getDeliveryHistory({ redis, prefix }, 'pas', 'a2'))!;
    assert.equal(a2.summary.heldBehind, 'a1');
    assert.ok(a2.events.some((e) => e.type === 'held' && e.detail === 'behind dead letter a1'));

    const controlId = await replayDeadLetter({ redis, prefix }, 'pas', 'a1', { actor: 'ops:alice' });
    assert.equal(controlId, 'A1');
    await waitFor(async () => (await status('a4')) === 'delivered', 5000, 'record A delivered after the replay');
    assert.deepEqual(sent(sim), ['A1', 'B1', 'B2', 'B3', 'A1', 'A2', 'A3', 'A4'], 'the record in receipt order, the dead letter first');
    const after = await getLaneStatus({ redis, prefix }, 'pas');
    assert.equal(after.held, 0);
    assert.deepEqual(after.heldRecords, []);
    assert.equal(await redis.exists(`${prefix}:dlv:blocked:pas`), 0, 'no record left blocked');
  });

  it('a mapping failure is a dead letter that holds its record until it is dropped', async () => {
    const sim = await startPasSimulator();
    sims.push(sim);
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    await enqueueDeliveries({ redis, prefix }, [
      item('a1', 'ServiceRequest/A', 1, { failure: 'mappings/_shared/pid.yaml:20: PID-5: required' }),
      item('b1', 'ServiceRequest/B', 2),
      item('a2', 'ServiceRequest/A', 3),
    ]);
    await waitFor(async () => (await status('b1')) === 'delivered', 5000, 'other record delivered');
    const [dead] = await listDeadLetters({ redis, prefix });
    assert.deepEqual([dead!.messageId, dead!.reason, dead!.detail], ['a1', 'mapping-failed', 'mappings/_shared/pid.yaml:20: PID-5: required']);
    assert.equal(await status('a2'), 'held');
    await assert.rejects(replayDeadLetter({ redis, prefix }, 'pas', 'a1', { actor: 'ops:alice' }), /mapping failed.*reprocess/);
    await dropDeadLetter({ redis, prefix }, 'pas', 'a1', { actor: 'ops:bob', reason: 'sent by hand' });
    await waitFor(async () => (await status('a2')) === 'delivered', 5000, 'a2 released by the drop');
    assert.deepEqual(sent(sim), ['B1', 'A2']);
  });

  it('a PAS outage longer than maxAttempts × backoff never dead-letters: the lane holds and lane_head_stuck fires', async () => {
    const probe = await startPasSimulator();
    const port = probe.port;
    await probe.close(); // connection refused from now on
    // 3 attempts with backoff ≤ 20 ms would dead-letter within ~50 ms if refused connections counted.
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', port)], fastPolicy({ maxAttempts: 3, backoff: { initialMs: 5, maxMs: 20, multiplier: 2, jitter: 0 } }));
    await enqueueDeliveries({ redis, prefix }, [1, 2, 3, 4, 5].map((n) => item(`m${n}`, `ServiceRequest/R${n % 2}`, n)));
    await waitFor(async () => ((await getDeliveryHistory({ redis, prefix }, 'pas', 'm1'))?.summary.attempts ?? 0) >= 15, 10000, 'many refused attempts');
    const head = (await getDeliveryHistory({ redis, prefix }, 'pas', 'm1'))!;
    assert.equal(head.summary.cycleAttempts, 0, 'refused connections are not attempts of the message');
    assert.equal(head.summary.status, 'retrying');
    assert.equal(head.summary.lastOutcome, 'connection');
    assert.deepEqual(await listDeadLetters({ redis, prefix }), [], 'nothing dead-lettered during the outage');
    const lanes = await laneObservations({ redis, prefix }, ['pas']);
    const rules = { ...loadConfig({ NODE_ENV: 'test' }).alerts, laneHeadMaxAgeSeconds: 1 };
    const { states } = evaluateAlerts(new Map(), { at: Date.now() + 2000, lanes }, rules);
    assert.equal(states.get('lane_head_stuck|pas')?.firing, true, 'the alert says the lane is held');

    // Then the PAS answers but never ACKs (hung interface): still not the message's fault.
    const silent = await startPasSimulator({ port, scenario: { silentRate: 1 } });
    sims.push(silent);
    await waitFor(() => silent.received.length >= 5, 10000, 'ACK timeouts');
    assert.deepEqual(await listDeadLetters({ redis, prefix }), [], 'no ACK at all is not a refusal either');
    assert.ok(silent.received.every((m) => m.controlId === 'M1'), 'the head is retried in place');

    silent.setScenario({}); // PAS back
    await waitFor(async () => (await status('m5')) === 'delivered', 10000, 'backlog delivered');
    const firsts = [...new Set(silent.received.map((m) => m.controlId))];
    assert.deepEqual(firsts, ['M1', 'M2', 'M3', 'M4', 'M5']);
    assert.deepEqual(await listDeadLetters({ redis, prefix }), []);
  });

  it('a PAS refusal still dead-letters after maxAttempts of AE (only the PAS own answers count)', async () => {
    const sim = await startPasSimulator({ scenario: { decide: (i) => (i.controlId === 'M1' ? { kind: 'ack', code: 'AE' } : undefined) } });
    sims.push(sim);
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy({ maxAttempts: 3 }));
    await enqueueDeliveries({ redis, prefix }, [item('m1', 'ServiceRequest/A', 1), item('m2', 'ServiceRequest/B', 2)]);
    await waitFor(async () => (await status('m2')) === 'delivered', 5000, 'the lane moved on');
    assert.deepEqual(sent(sim), ['M1', 'M1', 'M1', 'M2']);
    assert.equal((await listDeadLetters({ redis, prefix }))[0]?.reason, 'max-attempts');
  });

  it('a replayed dead letter goes back to its receipt position, ahead of later messages, with its held record behind it', async () => {
    const sim = await startPasSimulator({
      scenario: { decide: (i) => (i.controlId === 'A1' && i.receipts === 1 ? { kind: 'ack', code: 'AR' } : undefined) },
    });
    sims.push(sim);
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    await enqueueDeliveries({ redis, prefix }, [item('a1', 'ServiceRequest/A', 1), item('b1', 'ServiceRequest/B', 2), item('a2', 'ServiceRequest/A', 3)]);
    await waitFor(async () => (await status('b1')) === 'delivered' && (await status('a2')) === 'held', 5000, 'a1 refused, b1 delivered, a2 held');
    await workers.close(); // lane not running: messages received later wait on it
    workers = undefined;
    await enqueueDeliveries({ redis, prefix }, [item('b2', 'ServiceRequest/B', 4), item('c1', 'ServiceRequest/C', 5)]);
    await replayDeadLetter({ redis, prefix }, 'pas', 'a1', { actor: 'ops:alice' });
    assert.deepEqual(await redis.lrange(`${prefix}:lane:pas`, 0, -1), ['a1', 'a2', 'b2', 'c1'], 'receipt order, not the back of the lane');
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    await waitFor(async () => (await status('c1')) === 'delivered', 5000, 'all delivered');
    assert.deepEqual(sent(sim), ['A1', 'B1', 'A1', 'A2', 'B2', 'C1']);
  });

  it('a replay while the owner is busy never lands among the entries it has read', async () => {
    // The owner retries B1 (AE) with B2..B40 read ahead; A1's replay (received first) must not be inserted among
    // them (they may already be in flight), so it goes right after what the owner holds and before later arrivals.
    let refuse = true;
    const sim = await startPasSimulator({
      scenario: {
        decide: (i) => (i.controlId === 'A1' && i.receipts === 1 ? { kind: 'ack', code: 'AR' } : i.controlId === 'B1' && refuse ? { kind: 'ack', code: 'AE' } : undefined),
      },
    });
    sims.push(sim);
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', sim.port)], fastPolicy());
    await enqueueDeliveries({ redis, prefix }, [item('a1', 'ServiceRequest/A', 1), ...Array.from({ length: 40 }, (_, i) => item(`b${i + 1}`, 'ServiceRequest/B', i + 2))]);
    await waitFor(() => sim.received.filter((m) => m.controlId === 'B1').length >= 3, 5000, 'B1 retried');
    await replayDeadLetter({ redis, prefix }, 'pas', 'a1', { actor: 'ops:alice' });
    await enqueueDeliveries({ redis, prefix }, [item('c1', 'ServiceRequest/C', 100)]);
    refuse = false;
    await waitFor(async () => (await status('c1')) === 'delivered', 5000, 'all delivered');
    const firsts = [...new Set(sent(sim))];
    assert.deepEqual(firsts, ['A1', ...Array.from({ length: 40 }, (_, i) => `B${i + 1}`), 'C1']);
    assert.equal(sent(sim).filter((c) => c === 'A1').length, 2, 'replayed once');
    assert.ok(sent(sim).lastIndexOf('A1') < sent(sim).indexOf('C1'), 'the replay goes before a message received after it');
  });

  it('property: whatever the PAS refuses, each record reaches it in receipt order, before and after a bulk replay', async function () {
    this.timeout(120_000);
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ record: fc.constantFrom('A', 'B', 'C', 'D'), refused: fc.boolean() }), { minLength: 1, maxLength: 30 }),
        async (plan) => {
          const runPrefix = uniquePrefix('records-prop');
          const store = { redis, prefix: runPrefix };
          const refuse = new Set(plan.flatMap((p, i) => (p.refused && i % 3 === 0 ? [`M${i}`] : [])));
          const sim = await startPasSimulator({ scenario: { decide: (i) => (refuse.has(i.controlId) && i.receipts === 1 ? { kind: 'ack', code: 'AR' } : undefined) } });
          const lanes = await startLaneWorkers(store, [pasDestination('pas', sim.port)], fastPolicy());
          try {
            const items = plan.map((p, i) => item(`m${i}`, `ServiceRequest/${p.record}`, i + 1));
            await enqueueDeliveries(store, items);
            const settled = async (): Promise<boolean> => {
              const statuses = await Promise.all(items.map(async (x) => (await getDeliveryHistory(store, 'pas', x.messageId))?.summary.status));
              return statuses.every((st) => st === 'delivered' || st === 'held' || st === 'dead-lettered');
            };
            const accepted = (): string[] => sim.received.filter((m) => m.action.kind === 'ack' && m.action.code === 'AA').map((m) => m.controlId);
            const byRecord = (ids: string[]): Record<string, number[]> => {
              const out: Record<string, number[]> = {};
              for (const id of ids) {
                const n = Number(id.slice(1));
                const list = (out[plan[n]!.record] ??= []);
                if (list[list.length - 1] !== n) {
                  list.push(n); // an ACK that came after the 100 ms ACK timeout: resent in place, same MSH-10
                }
              }
              return out;
            };
            // Each round: the lane settles, each record has reached the PAS as a prefix of its messages in receipt
            // order (nothing after a refused one), then every dead letter is replayed in bulk. A message refused on
            // its first receipt after a replay (it was held until then) is refused, held behind and replayed in turn.
            for (let round = 0; ; round += 1) {
              await waitFor(settled, 10000, `lane settled (round ${round})`);
              for (const [record, ns] of Object.entries(byRecord(accepted()))) {
                const all = plan.flatMap((p, i) => (p.record === record ? [i] : []));
                assert.deepEqual(ns, all.slice(0, ns.length), `record ${record}, round ${round}: receipt order, nothing past a refusal`);
              }
              if ((await listDeadLetters(store)).length === 0) {
                break;
              }
              assert.ok(round < plan.length, 'every replay round delivers something');
              await replayDeadLetters(store, {}, { actor: 'ops:prop' });
            }
            for (const [record, ns] of Object.entries(byRecord(accepted()))) {
              assert.deepEqual(ns, plan.flatMap((p, i) => (p.record === record ? [i] : [])), `record ${record} complete`);
            }
          } finally {
            await lanes.close();
            await sim.close();
          }
        },
      ),
      { numRuns: Number(process.env.RECORDS_RUNS ?? 25), seed: Number(process.env.PROPERTY_SEED ?? Date.now() % 2 ** 31), verbose: 1 },
    );
    console.log(`      ${process.env.RECORDS_RUNS ?? 25} runs in ${Date.now() - started} ms`);
  });
});
