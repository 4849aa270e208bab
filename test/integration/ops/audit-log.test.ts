/*
 * Issue 14 item 5: the audit lists are bounded — at most AUDIT_MAX_ENTRIES each on append, and entries older than
 * retention.auditDays removed by the retention pass — so neither memory under `noeviction` nor the personal data in
 * them (who traced which NHS number) grows for ever.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { AUDIT_LISTS, AUDIT_MAX_ENTRIES, appendAudit, auditKey, pruneAudit, readAudit } from '../../../src/state/audit-log.js';
import { startRetention } from '../../../src/ops/retention.js';
import { createLogger } from '../../../src/logging.js';
import { audit as traceAudit } from '../../../src/ops/trace.js';

const DAY = 24 * 3600 * 1000;

describe('audit lists are bounded (issue 14)', function () {
  let redis: Redis;
  let prefix: string;
  beforeEach(function () {
    redis = new Redis(process.env.TEST_REDIS_URL!);
    prefix = `{audit-${randomUUID().slice(0, 8)}}`;
  });
  afterEach(function () {
    redis.disconnect();
  });

  it('an append trims the list to its newest AUDIT_MAX_ENTRIES', async function () {
    const key = auditKey(prefix, 'dlv:audit');
    // Fill to the bound cheaply, then append through the function.
    const filler = Array.from({ length: AUDIT_MAX_ENTRIES }, (_, i) => JSON.stringify({ at: new Date(i).toISOString(), actor: 'x', n: i }));
    for (let i = 0; i < filler.length; i += 10_000) {
      await redis.rpush(key, ...filler.slice(i, i + 10_000));
    }
    await appendAudit(redis, prefix, 'dlv:audit', { at: new Date().toISOString(), actor: 'ops-alice', action: 'drop' });
    assert.equal(await redis.llen(key), AUDIT_MAX_ENTRIES);
    const [newest] = (await readAudit(redis, prefix, 'dlv:audit', 1)) as Array<{ actor: string }>;
    assert.equal(newest!.actor, 'ops-alice');
    assert.equal((JSON.parse((await redis.lindex(key, 0))!) as { n: number }).n, 1, 'the oldest went');
  });

  it('pruneAudit removes entries older than the cutoff from every list, and only those', async function () {
    const now = Date.now();
    for (const list of AUDIT_LISTS) {
      for (const age of [400, 366, 10, 0]) {
        await redis.rpush(auditKey(prefix, list), JSON.stringify({ at: new Date(now - age * DAY).toISOString(), actor: 'a' }));
      }
    }
    const removed = await pruneAudit(redis, prefix, new Date(now - 365 * DAY));
    assert.equal(removed, 2 * AUDIT_LISTS.length);
    for (const list of AUDIT_LISTS) {
      assert.equal(await redis.llen(auditKey(prefix, list)), 2, list);
    }
  });

  it('the retention pass prunes the trace audit by retention.auditDays', async function () {
    await traceAudit(redis, prefix, 'ops-bob', '9434765919');
    const runner = startRetention({
      redis,
      prefix,
      rules: { enabled: true, messagesDays: 90, batchSize: 100, tickMs: 10, passIntervalSeconds: 3600, keepBundleIds: true, auditDays: 30 },
      log: createLogger('silent'),
      now: () => Date.now() + 31 * DAY,
      timer: false,
    });
    try {
      const result = await runner.tick();
      assert.ok(result?.passDone);
      assert.equal(await redis.llen(auditKey(prefix, 'audit:trace')), 0);
    } finally {
      await runner.stop();
    }
  });
});
