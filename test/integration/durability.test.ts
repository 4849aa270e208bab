/*
 * ARCHITECTURE invariants 1 and 2 against a real redis-server that the test stops, kills and restarts:
 * a 200 is given only for a message that is stored with its job; Redis down → 503 REC_UNAVAILABLE within a second;
 * one X-Request-Id is one message however often and however concurrently it is sent.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedisChild, type RedisChild } from '../../src/dev/redis-child.js';
import { createInboundQueue, enqueueInbound } from '../../src/flows/inbound/inbound.js';
import { createProducerConnection } from '../../src/state/redis.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { messageBody } from '../helpers/messages.js';
import { igExample } from '../external/nhs-material.js';

const REFREQ01 = igExample('referral-request_new_111-to-ED_APP1_REFREQ01.json');
const referral = (): string => messageBody(REFREQ01);

async function counts(redisUrl: string, prefix: string): Promise<{ messages: number; jobs: number }> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue('inbound', { connection: redis, prefix });
  try {
    const messages = await redis.zcard(`${prefix}:messages`);
    const c = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    return { messages, jobs: Object.values(c).reduce((a, b) => a + b, 0) };
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

describe('durable acknowledgement with a real Redis', function () {
  this.timeout(60_000);
  let dir: string;
  let redis: RedisChild;
  let h: Harness;

  beforeEach(async function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bars-durability-'));
    redis = await startRedisChild(dir);
    process.env.DURABILITY_REDIS = redis.url;
    h = await startHarness({ config: { redis: { url: redis.url } } });
  });

  afterEach(async function () {
    await h.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 REC_UNAVAILABLE within a second when Redis is down, and 200 again once it is back', async function () {
    await redis.stop();
    const started = Date.now();
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, referral());
    const elapsed = Date.now() - started;
    assert.equal(res.status, 503, res.body);
    assert.ok(elapsed < 1000, `answered in ${elapsed} ms`);
    const oo = JSON.parse(res.body) as { issue: Array<{ code: string; details: { coding: Array<{ code: string }> } }> };
    assert.equal(oo.issue[0]!.details.coding[0]!.code, 'REC_UNAVAILABLE');
    assert.equal(oo.issue[0]!.code, 'transient');

    redis = await startRedisChild(dir, redis.port);
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, referral())).status;
    }
    assert.equal(status, 200);
  });

  it('gives 200 only for messages that survive a Redis crash and restart (kill -9 mid-load)', async function () {
    const results: Array<{ status: number; id?: string }> = [];
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const batch = await Promise.all(
          Array.from({ length: 8 }, async () => {
            const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, referral());
            const sr = res.status === 200
              ? (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; id: string } }> }).entry.find((e) => e.resource.resourceType === 'ServiceRequest')!.resource.id
              : undefined;
            return { status: res.status, id: sr };
          }),
        );
        results.push(...batch);
      }
    })();
    await new Promise((r) => setTimeout(r, 700));
    await redis.kill();
    await new Promise((r) => setTimeout(r, 400));
    stop = true;
    await load;

    const statuses = new Set(results.map((r) => r.status));
    for (const s of statuses) {
      assert.ok(s === 200 || s === 503, `only 200 and 503 expected, saw ${s}`);
    }
    const acknowledged = results.filter((r) => r.status === 200);
    assert.ok(acknowledged.length > 0, 'some requests were acknowledged before the crash');
    assert.ok(results.some((r) => r.status === 503), 'requests after the crash were refused');

    redis = await startRedisChild(dir, redis.port);
    const check = new Redis(redis.url);
    try {
      for (const { id } of acknowledged) {
        const rec = await check.hget(`${h.config.redis.prefix}:rec:ServiceRequest:${id}`, 'state');
        assert.ok(rec, `acknowledged ServiceRequest ${id} is stored after the restart`);
      }
    } finally {
      check.disconnect();
    }
    const c = await counts(redis.url, h.config.redis.prefix);
    assert.ok(c.jobs >= acknowledged.length, `every acknowledged message has its inbound job (${c.jobs} jobs, ${acknowledged.length} acknowledged)`);
  });

  it('stores one message and one job when the same X-Request-Id is sent 50 times at once', async function () {
    const headers = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
    const body = referral();
    const responses = await Promise.all(Array.from({ length: 50 }, () => h.send('POST', '/$process-message', headers, body)));
    const byStatus = new Map<number, number>();
    for (const r of responses) {
      byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    }
    assert.equal(byStatus.get(200), 1, `exactly one 200: ${JSON.stringify([...byStatus])}`);
    for (const s of byStatus.keys()) {
      assert.ok([200, 409, 425].includes(s), `unexpected status ${s}`);
    }
    const c = await counts(redis.url, h.config.redis.prefix);
    assert.deepEqual(c, { messages: 1, jobs: 1 });
  });

  it('keeps accepting after Redis stalled while the inbound queue was being created (no sticky start-up error)', async function () {
    // Found under CPU load: BullMQ's one-time INFO at queue creation timed out (the request path's command timeout) and
    // every later add rejected with that error, so the listener answered 503 until restarted.
    const producer = createProducerConnection({ url: redis.url, commandTimeoutMs: 300 });
    const admin = new Redis(redis.url);
    try {
      await new Promise<void>((resolve) => (producer.status === 'ready' ? resolve() : producer.once('ready', () => resolve())));
      await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
      const queue = createInboundQueue(producer, '{t-stall}');
      await new Promise((r) => setTimeout(r, 1200));
      await enqueueInbound(queue, { messageId: 'm-stall', workflow: 'referral-new', requestId: 'r1', correlationId: 'c1' });
      assert.ok(await queue.getJob('msg-m-stall'), 'the job was added once Redis answered again');
      await queue.close();
    } finally {
      admin.disconnect();
      producer.disconnect();
    }
  });
});
