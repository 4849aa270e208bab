/*
 * Issue 14: PAS events that change nothing (no rule for their type, or naming no record of ours) were kept for ever.
 * Now they are kept for PAS_EVENTS_RETENTION_DAYS, counted in metrics and listed by `bars-bridge pas-events`.
 */
import { keyspace } from '../../../src/state/keys.js';
import assert from 'node:assert/strict';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../../../src/config/load.js';
import { buildArrivalA04, sendPasEvent } from '../../../src/dev/pas-sim-events.js';
import { createMetrics } from '../../../src/metrics.js';
import { runCommand } from '../../helpers/cli.js';
import { keptKey, listKeptEvents } from '../../../src/flows/pas-events/kept.js';
import { startPasEventsListener, type PasEventJobData, type PasEventsListener } from '../../../src/flows/pas-events/listener.js';
import { processPasEvent } from '../../../src/flows/pas-events/processor.js';
import { loadPasEventRules } from '../../../src/flows/pas-events/rules.js';
import { MessageStore } from '../../../src/state/message-store.js';
import { testRedis, uniquePrefix } from './helpers.js';

const rules = loadPasEventRules('mappings/pas-events/rules.yaml');

describe('PAS events retention (issue 14)', function () {
  this.timeout(20_000);
  let redis: Redis;
  let listener: PasEventsListener | undefined;

  beforeEach(() => {
    redis = testRedis();
  });
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
    redis.disconnect();
  });

  /** Sends the messages, then runs the processor on every queued job as the worker would. */
  async function sendAndProcess(prefix: string, retentionSeconds: number, texts: Array<[string, string]>, metrics = createMetrics()): Promise<string[]> {
    listener = await startPasEventsListener({ redis, prefix, port: 0, allow: ['PAS^RXX'], retentionSeconds });
    for (const [controlId, text] of texts) {
      assert.equal((await sendPasEvent({ host: '127.0.0.1', port: listener.port }, text, controlId)).code, 'AA');
    }
    const jobs = await listener.queue.getJobs(['waiting']);
    const store = new MessageStore(redis, prefix);
    for (const job of jobs) {
      await processPasEvent(job as unknown as Job<PasEventJobData>, { store, log: pino({ level: 'silent' }), rules: () => rules, now: () => new Date(), retentionMs: retentionSeconds * 1000, metrics });
      await job.remove(); // done, as the worker would complete it
    }
    return jobs.map((j) => j.data.eventId);
  }

  it('unmatched and no-rule events expire after the retention, and are counted and listed meanwhile', async () => {
    const prefix = uniquePrefix('pasev-ret');
    const metrics = createMetrics();
    const ids = await sendAndProcess(
      prefix,
      2,
      [
        ['UNM1', buildArrivalA04({ controlId: 'UNM1', patientId: '9000000009', visitNumber: 'BB-NOSUCH' })],
        ['NORULE1', buildArrivalA04({ controlId: 'NORULE1', patientId: '9000000009', visitNumber: 'BB-NOSUCH', messageType: 'ADT^A08^ADT_A01' })],
      ],
      metrics,
    );
    assert.equal(ids.length, 2);
    const listed = await listKeptEvents(redis, prefix, { now: Date.now(), retentionMs: 2000 });
    assert.deepEqual(listed.map((e) => [e.kind, e.messageType, e.controlId, e.sender]).sort(), [
      ['no-record', 'ADT^A04', 'UNM1', 'PAS^RXX'],
      ['no-rule', 'ADT^A08', 'NORULE1', 'PAS^RXX'],
    ]);
    const counted = (await metrics.pasEventsProcessed.get()).values.map((v) => [v.labels.result, v.value]).sort();
    assert.deepEqual(counted, [['no-record', 1], ['no-rule', 1]]);
    for (const id of ids) {
      const ttl = await redis.ttl(keyspace(prefix).pasEvent(id));
      assert.ok(ttl > 0 && ttl <= 2, `text TTL ${ttl}`);
    }
    const seen = await redis.keys(`${prefix}:pasev:seen:*`);
    assert.equal(seen.length, 2);
    for (const k of seen) {
      assert.ok((await redis.ttl(k)) > 0, 'the de-duplication marker expires too');
    }

    const run = await runCommand(['pas-events', '--redis-url', process.env.TEST_REDIS_URL!, '--redis-prefix', prefix], { NODE_ENV: 'test', PAS_EVENTS_RETENTION_DAYS: '1' });
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /\(last 1 days\): 2\n/);
    assert.match(run.out, /no-record\s+ADT\^A04\s+from PAS\^RXX\s+MSH-10 UNM1/);
    assert.doesNotMatch(run.out, /9000000009|TEST\^PATIENT/, 'ids and codes only');

    await new Promise((r) => setTimeout(r, 2300));
    assert.deepEqual(await redis.keys(`${prefix}:pasev:*:*`).then((keys) => keys.filter((k) => !k.startsWith(keptKey(prefix, 'no-rule')) && !k.startsWith(keptKey(prefix, 'no-record')))), [], 'texts and markers expired');
    assert.deepEqual(await listKeptEvents(redis, prefix, { now: Date.now(), retentionMs: 2000 }), []);
    // The index is trimmed as later events are kept.
    await listener!.close();
    listener = undefined;
    await sendAndProcess(prefix, 2, [['UNM2', buildArrivalA04({ controlId: 'UNM2', patientId: '9000000009', visitNumber: 'BB-NOSUCH' })]]);
    assert.equal(await redis.zcard(keptKey(prefix, 'no-record')), 1);
    assert.equal(await redis.zcard(keptKey(prefix, 'no-rule')), 1, 'until a no-rule event comes, its stale entry is only filtered');
  });

  it('keeps events for 30 days by default', async () => {
    const prefix = uniquePrefix('pasev-ret30');
    const config = loadConfig({ NODE_ENV: 'test' });
    assert.equal(config.pasEvents.retentionDays, 30);
    assert.equal(loadConfig({ NODE_ENV: 'test', PAS_EVENTS_RETENTION_DAYS: '7' }).pasEvents.retentionDays, 7);
    listener = await startPasEventsListener({ redis, prefix, port: 0, allow: ['PAS^RXX'] });
    await sendPasEvent({ host: '127.0.0.1', port: listener.port }, buildArrivalA04({ controlId: 'D30', patientId: '9000000009', visitNumber: 'X' }), 'D30');
    const [job] = await listener.queue.getJobs(['waiting']);
    const ttl = await redis.ttl(keyspace(prefix).pasEvent(job!.data.eventId));
    assert.ok(ttl > 29 * 86_400 && ttl <= 30 * 86_400, `TTL ${ttl}`);
  });
});
