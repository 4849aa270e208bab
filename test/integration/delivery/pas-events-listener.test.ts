import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { buildArrivalA04, sendPasEvent } from '../../../src/dev/pas-sim-events.js';
import { pasEventKey, startPasEventsListener, type PasEventsListener } from '../../../src/flows/pas-events/listener.js';
import { testRedis, uniquePrefix } from './helpers.js';

describe('PAS events listener (ACK after durable queueing)', () => {
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

  it('stores the raw message and its job before answering AA; a resend is not queued twice', async () => {
    const prefix = uniquePrefix('pasev');
    listener = await startPasEventsListener({ redis, prefix, port: 0, host: '127.0.0.1', allow: ['PAS^RXX'] });
    const text = buildArrivalA04({ controlId: 'PAS0001', patientId: '9000000009', visitNumber: 'V1' });
    const ack = await sendPasEvent({ host: '127.0.0.1', port: listener.port }, text, 'PAS0001');
    assert.equal(ack.code, 'AA');
    assert.match(ack.raw, /^MSH\|\^~\\&\|BARS\|RXX\|PAS\|RXX\|/, 'ACK swaps sender and receiver');
    const jobs = await listener.queue.getJobs(['waiting']);
    assert.equal(jobs.length, 1, 'queued before the AA');
    assert.deepEqual(Object.keys(jobs[0]!.data), ['eventId'], 'job data is the id only');
    assert.equal(await redis.get(pasEventKey(prefix, jobs[0]!.data.eventId)), text);
    const again = await sendPasEvent({ host: '127.0.0.1', port: listener.port }, text, 'PAS0001');
    assert.equal(again.code, 'AA');
    assert.equal((await listener.queue.getJobs(['waiting'])).length, 1, 'resend acknowledged, not queued twice');
  });

  it('answers AE when Redis cannot take the message, so the PAS resends', async () => {
    const prefix = uniquePrefix('pasev-down');
    const offline = new Redis(process.env.TEST_REDIS_URL!, { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 0 });
    offline.on('error', () => undefined); // expected: it never connects
    try {
      listener = await startPasEventsListener({ redis: offline, prefix, port: 0, host: '127.0.0.1', allow: ['PAS^RXX'] });
      const text = buildArrivalA04({ controlId: 'PAS0002', patientId: '9000000009', visitNumber: 'V2' });
      const ack = await sendPasEvent({ host: '127.0.0.1', port: listener.port }, text, 'PAS0002');
      assert.equal(ack.code, 'AE');
      assert.match(ack.text ?? '', /resend/);
    } finally {
      await listener?.close().catch(() => undefined);
      listener = undefined;
      offline.disconnect();
    }
  });
});
