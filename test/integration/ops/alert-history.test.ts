/* Alert changes reach Redis for every process's console, newest first, bounded (ops/alert-history.ts). */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ALERT_HISTORY_MAX, readAlertHistory, recordAlertChanges } from '../../../src/ops/alert-history.js';
import { keyspace } from '../../../src/state/keys.js';

describe('alert history (console: recent alerts)', function () {
  let redis: Redis;
  const prefix = `{ah-${randomUUID().slice(0, 8)}}`;
  before(function () {
    redis = new Redis(process.env.TEST_REDIS_URL!);
  });
  after(async function () {
    await redis.del(keyspace(prefix).alertHistory());
    redis.disconnect();
  });

  it('keeps firing and resolved changes with their ids, newest first, and never more than the bound', async function () {
    await recordAlertChanges(redis, prefix, [{ alert: 'dead_letters', subject: 'delivery', firing: true, details: { count: 2, ids: ['m1.referral-new.adt-a05'] } }], Date.parse('2026-12-08T05:00:00Z'));
    await recordAlertChanges(redis, prefix, [{ alert: 'dead_letters', subject: 'delivery', firing: false, details: {} }], Date.parse('2026-12-08T05:10:00Z'));
    const [latest, first] = await readAlertHistory(redis, prefix);
    assert.deepEqual(latest, { at: '2026-12-08T05:10:00.000Z', alert: 'dead_letters', subject: 'delivery', firing: false, details: {} });
    assert.deepEqual(first!.details, { count: 2, ids: ['m1.referral-new.adt-a05'] });
    const many = Array.from({ length: ALERT_HISTORY_MAX + 20 }, (_, i) => ({ alert: 'lane_head_stuck', subject: `lane-${i}`, firing: true, details: {} }));
    await recordAlertChanges(redis, prefix, many, Date.now());
    assert.equal(await redis.llen(keyspace(prefix).alertHistory()), ALERT_HISTORY_MAX);
    assert.equal((await readAlertHistory(redis, prefix, 1))[0]!.subject, `lane-${ALERT_HISTORY_MAX + 19}`);
  });
});
