/*
 * Retention (issue 6 §6) against the real receiver and worker: a current record keeps every version however old;
 * an old cancelled one goes with everything the pipeline wrote for it; pruning thousands of records in small batches
 * does not slow the listener down.
 */
import { strict as assert } from 'node:assert';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { startHarness, type Harness } from '../../helpers/harness.js';
import { loadJson, postMessage, prepare, resourcesOf, waitUntilStoreReady } from '../../helpers/bars-examples.js';
import { BARS_PACKAGE, unpackedPackage, type Bundle } from '../../helpers/profile-validator.js';
import { logLines } from '../../helpers/log-sink.js';
import { MessageStore } from '../../../src/state/message-store.js';
import { Pruner, startRetention, type RetentionRules } from '../../../src/ops/retention.js';

const DAY = 86_400_000;
const pkg = (name: string): string => path.join(unpackedPackage(BARS_PACKAGE), 'examples', name);
const VALREQ01 = 'VALREQ01 - Validation Service Request New Full - 999 to CAS.json';
const VALREQ02 = 'VALREQ02 - Validation Service Request Update Full - 999 to CAS Lower Priority.json';
const SERVREQ01 = 'SERVREQ01 - Service Request Update - Revoked.json';

async function allKeys(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error('timed out');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

describe('retention: pruning finished records', function () {
  this.timeout(120_000);
  let h: Harness;
  const rules = (over: Partial<RetentionRules> = {}): RetentionRules => ({ ...h.config.retention, ...over });

  before(async function () {
    // The worker's own retention timer is off: these tests drive the pruner themselves.
    h = await startHarness({ worker: true, config: { retention: { enabled: false } } });
    await waitUntilStoreReady(h);
  });
  after(async function () {
    await h.close();
  });

  /** Posts the steps as one conversation (same ServiceRequest and Patient ids). */
  async function conversation(steps: string[]): Promise<{ id: string }> {
    let ids: { root: string; patient?: string } | undefined;
    for (const step of steps) {
      const sent = prepare(loadJson(pkg(step)));
      if (ids) {
        resourcesOf(sent).find((r) => r.resourceType === 'ServiceRequest')!.id = ids.root;
        const patient = resourcesOf(sent).find((r) => r.resourceType === 'Patient');
        if (patient && ids.patient) {
          patient.id = ids.patient;
        }
      }
      const p = await postMessage(h, sent);
      assert.equal(p.res.status, 200, p.res.body.slice(0, 300));
      ids ??= { root: resourcesOf(p.bundle as Bundle).find((r) => r.resourceType === 'ServiceRequest')!.id!, patient: resourcesOf(p.bundle as Bundle).find((r) => r.resourceType === 'Patient')?.id };
    }
    return { id: ids!.root };
  }

  it('never prunes a current record\'s versions, prunes an old cancelled one with everything written for it', async function () {
    const { Redis } = await import('ioredis');
    const redis = new Redis(process.env.TEST_REDIS_URL!);
    const store = new MessageStore(redis, h.config.redis.prefix);
    const prefix = h.config.redis.prefix;

    const current = await conversation([VALREQ01, VALREQ02]);
    const cancelled = await conversation([VALREQ01, SERVREQ01]);
    const currentVersions = await store.getRecordVersions('ServiceRequest', current.id);
    const cancelledVersions = await store.getRecordVersions('ServiceRequest', cancelled.id);
    assert.equal(currentVersions.length, 2);
    assert.equal(cancelledVersions.length, 2);
    assert.equal((await store.getRecord('ServiceRequest', cancelled.id))!.status, 'revoked');
    // Let the worker finish with them (mapping, sequencer, any delivery), as it would have 90 days later.
    await waitFor(async () => Number(await redis.get(`${prefix}:seq:flushed`)) >= 4);
    const bundleIds = await Promise.all(cancelledVersions.map(async (m) => (await store.getMessage(m))!.bundleId));
    const mentions = async (ids: readonly string[]): Promise<string[]> =>
      (await allKeys(redis, prefix)).filter((k) => ids.some((id) => k.includes(id)));
    const setMembers = async (id: string): Promise<string[]> => {
      const hits: string[] = [];
      for (const k of (await allKeys(redis, prefix)).filter((x) => x.includes(':idx:') || x.includes(':slot:'))) {
        if ((await redis.smembers(k)).some((m) => m.includes(id))) {
          hits.push(k);
        }
      }
      return hits;
    };
    assert.ok((await setMembers(cancelled.id)).length >= 3, 'the cancelled record is in the patient index before');

    // 10 days on: nothing is old enough to look at.
    const soon = await new Pruner({ redis, prefix, rules: rules(), now: () => Date.now() + 10 * DAY }).pass();
    assert.equal(soon.prunedRecords, 0);
    assert.ok(await store.getRecord('ServiceRequest', cancelled.id));

    // 91 days on.
    const later = await new Pruner({ redis, prefix, rules: rules({ batchSize: 3 }), now: () => Date.now() + 91 * DAY }).pass();
    assert.ok(later.prunedRecords >= 1, JSON.stringify(later));
    assert.ok(later.keptCurrent >= 1, JSON.stringify(later));

    assert.equal(await store.getRecord('ServiceRequest', cancelled.id), undefined);
    // Completed BullMQ jobs (ids only) are not ours to delete: their queues age them out (7 days).
    const left = (await mentions([cancelled.id, ...cancelledVersions])).filter((k) => !/:(inbound|delivery-[^:]+):(msg|dlv)-/.test(k));
    assert.deepEqual(left, [], 'no key of the cancelled record or its messages is left');
    assert.deepEqual(await setMembers(cancelled.id), [], 'no index set still names it');
    for (const b of bundleIds) {
      assert.ok(await redis.exists(`${prefix}:bundle:${b}`), 'Bundle.id markers are kept (keepBundleIds)');
    }
    for (const m of cancelledVersions) {
      assert.equal(await redis.zscore(`${prefix}:messages`, m), null);
    }

    // The current record: every version, its messages and its index entries untouched.
    assert.deepEqual(await store.getRecordVersions('ServiceRequest', current.id), currentVersions);
    for (const m of currentVersions) {
      assert.ok(await store.getMessage(m), `current version ${m} kept`);
      assert.notEqual(await redis.zscore(`${prefix}:messages`, m), null);
    }
    assert.ok((await setMembers(current.id)).length >= 3);
    const read = await h.send('GET', `/ServiceRequest/${current.id}`, h.headers());
    assert.equal(read.status, 200);
    await redis.quit();
  });

  it('keeps a finished record whose output is still on a lane or dead-lettered, or that changed recently', async function () {
    const { Redis } = await import('ioredis');
    const redis = new Redis(process.env.TEST_REDIS_URL!);
    const prefix = h.config.redis.prefix;
    const old = Date.now() - 200 * DAY;
    await seedRecords(redis, prefix, 1, { status: 'revoked', at: old, outputStatus: 'dead-lettered', tag: 'dl' });
    await seedRecords(redis, prefix, 1, { status: 'revoked', at: old, outputStatus: 'delivered', tag: 'ok' });
    // Received long ago, but a PAS event (say) touched it 10 days ago: the clock restarts at the last update.
    await seedRecords(redis, prefix, 1, { status: 'completed', at: old, updatedAt: Date.now() - 10 * DAY, outputStatus: 'delivered', tag: 'recent' });
    const counts = await new Pruner({ redis, prefix, rules: rules() }).pass();
    assert.equal(counts.keptPending, 1, JSON.stringify(counts));
    assert.equal(counts.keptRecent, 1, JSON.stringify(counts));
    assert.ok(await redis.exists(`${prefix}:rec:ServiceRequest:${seedId('dl', 0)}`));
    assert.ok(await redis.exists(`${prefix}:rec:ServiceRequest:${seedId('recent', 0)}`));
    assert.equal(await redis.exists(`${prefix}:rec:ServiceRequest:${seedId('ok', 0)}`), 0);
    await redis.quit();
  });

  it('prunes a few thousand records in small batches without raising the listener\'s p99 meaningfully', async function () {
    const { Redis } = await import('ioredis');
    const redis = new Redis(process.env.TEST_REDIS_URL!);
    const prefix = h.config.redis.prefix;
    const N = Number(process.env.RETENTION_TEST_RECORDS ?? 2000);
    const old = Date.now() - 120 * DAY;
    await seedRecords(redis, prefix, N, { status: 'revoked', at: old, outputStatus: 'delivered', tag: 'bulk' });
    await seedRecords(redis, prefix, 200, { status: 'active', at: old, outputStatus: 'delivered', tag: 'live' });
    const readId = seedId('live', 7);

    /** Requests from 4 concurrent clients until `until` resolves; latencies in ms. */
    async function load(until: Promise<unknown>): Promise<{ metadata: number[]; read: number[] }> {
      const out = { metadata: [] as number[], read: [] as number[] };
      let done = false;
      void until.then(() => (done = true));
      await Promise.all(
        [0, 1, 2, 3].map(async (i) => {
          while (!done) {
            const t = performance.now();
            const res = i % 2 === 0 ? await h.send('GET', '/metadata', h.headers()) : await h.send('GET', `/ServiceRequest/${readId}`, h.headers());
            (i % 2 === 0 ? out.metadata : out.read).push(performance.now() - t);
            assert.ok(res.status === 200 || res.status === 404, `${res.status} ${res.body.slice(0, 200)}`);
          }
        }),
      );
      return out;
    }

    // The default rules (batch 100, 250 ms between ticks), driven here without the start-up delay.
    const runner = startRetention({ redis, prefix, rules: rules(), log: h.running.log, timer: false });
    const started = performance.now();
    let pruneMs = 0;
    const pruning = (async () => {
      for (;;) {
        const r = await runner.tick();
        if (r?.passDone) {
          pruneMs = performance.now() - started;
          return;
        }
        await new Promise((res) => setTimeout(res, rules().tickMs));
      }
    })();
    const during = await load(pruning);
    await runner.stop();
    const baseline = await load(new Promise((r) => setTimeout(r, 5000)));

    const left = await redis.zcard(`${prefix}:messages`);
    const bulkLeft = (await allKeys(redis, prefix)).filter((k) => k.includes('bulk') || k.includes(seedId('bulk', 0).slice(0, 9)));
    const fig = (xs: number[]) => `n=${xs.length} p50=${percentile(xs, 50).toFixed(1)}ms p99=${percentile(xs, 99).toFixed(1)}ms`;
    const rate = Math.round(N / (pruneMs / 1000));
    process.stdout.write(
      `      retention: pruned ${N} records (${2 * N} messages) in ${Math.round(pruneMs)} ms (${rate} records/s, batch ${rules().batchSize}, ${rules().tickMs} ms between ticks)\n` +
        `      GET /metadata        without prune: ${fig(baseline.metadata)}   during prune: ${fig(during.metadata)}\n` +
        `      GET /ServiceRequest  without prune: ${fig(baseline.read)}   during prune: ${fig(during.read)}\n`,
    );
    assert.deepEqual(bulkLeft.filter((k) => !k.includes(':bundle:')), [], 'every pruned record\'s keys are gone');
    assert.ok(left >= 400, 'the current records\' messages are all still there');
    assert.ok(await redis.exists(`${prefix}:rec:ServiceRequest:${readId}`));
    // "Meaningfully": the p99 during pruning stays within twice the baseline plus 25 ms of scheduling noise.
    assert.ok(percentile(during.metadata, 99) <= 2 * percentile(baseline.metadata, 99) + 25, 'GET /metadata p99 rose too much');
    assert.ok(percentile(during.read, 99) <= 2 * percentile(baseline.read, 99) + 25, 'GET /ServiceRequest p99 rose too much');
    const passLine = logLines.filter((l) => l.includes('retention pass done')).at(-1);
    assert.ok(passLine, 'a retention pass line is logged');
    assert.doesNotMatch(passLine, /msg-bulk|bbbbbbbb-/, 'counts only, no ids');
    await redis.quit();
  });
});

const TAGS: Record<string, string> = { bulk: 'b', live: 'a', dl: 'd', ok: 'c', recent: 'e' };
/** A receiver-style UUID per seeded record, recognisable by its first group (bbbbbbbb- for the bulk ones). */
function seedId(tag: string, i: number): string {
  return `${TAGS[tag]!.repeat(8)}-0000-4000-8000-${String(i).padStart(12, '0')}`;
}

/**
 * Writes records in the store's key layout (as commit.ts, inbound-processor.ts and the delivery lanes write them):
 * two versions each, one delivered output per version, patient index entries.
 */
async function seedRecords(
  redis: Redis,
  prefix: string,
  n: number,
  o: { status: string; at: number; updatedAt?: number; outputStatus: string; tag: string },
): Promise<void> {
  const iso = new Date(o.at).toISOString();
  const updated = new Date(o.updatedAt ?? o.at).toISOString();
  for (let start = 0; start < n; start += 250) {
    const p = redis.pipeline();
    for (let i = start; i < Math.min(n, start + 250); i++) {
      const id = seedId(o.tag, i);
      const patientKey = { nhsNumber: `90000${String(i).padStart(5, '0')}`, family: `fam${o.tag}${i}`, birthDate: '1980-01-01', postcode: 'LS11AA' };
      const state = { type: 'ServiceRequest', id, version: 2, status: o.status, resource: { resourceType: 'ServiceRequest', id, status: o.status }, patientKey, updatedAt: updated, createdAt: iso, lastUpdatedById: {} };
      p.hset(`${prefix}:rec:ServiceRequest:${id}`, { version: '2', state: JSON.stringify(state) });
      for (let v = 1; v <= 2; v++) {
        const m = `msg-${o.tag}-${i}-${v}`;
        const d = `${m}.ref-i12`;
        const bundle = { resourceType: 'Bundle', id: `b-${m}`, entry: [{ resource: { resourceType: 'Patient', id: `p-${o.tag}-${i}`, identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: patientKey.nhsNumber }], name: [{ family: patientKey.family }], birthDate: patientKey.birthDate, address: [{ postalCode: 'LS1 1AA' }] } }, { resource: { resourceType: 'ServiceRequest', id, status: o.status } }] };
        const stored = { id: m, workflow: 'referral-new', requestId: randomUUID(), correlationId: randomUUID(), bundleId: `b-${m}`, recordType: 'ServiceRequest', recordId: id, receivedAt: iso, bundle };
        p.set(`${prefix}:msg:${m}`, JSON.stringify(stored));
        p.set(`${prefix}:bundle:b-${m}`, m);
        p.set(`${prefix}:msg:${m}:seq`, String(i * 2 + v));
        p.rpush(`${prefix}:rec:ServiceRequest:${id}:versions`, m);
        p.zadd(`${prefix}:messages`, o.at - 1000 + v, m);
        p.sadd(`${prefix}:msg:${m}:outputs`, d);
        p.set(`${prefix}:out:${d}`, 'MSH|^~\\&|...');
        p.set(`${prefix}:out:${d}:meta`, JSON.stringify({ deliveryId: d, messageId: m, mappingId: 'ref-i12', destination: 'pas', controlId: `BB${o.tag}${i}${v}`, contentType: 'x', textKey: `${prefix}:out:${d}` }));
        p.set(`${prefix}:ctl:BB${o.tag}${i}${v}`, d);
        p.hset(`${prefix}:dlv:hist:pas:${d}`, { status: v === 2 ? o.outputStatus : 'delivered', messageId: d });
        p.sadd(`${prefix}:dlv:dests:${d}`, 'pas');
      }
      for (const [kind, value] of [['nhs', patientKey.nhsNumber], ['family', patientKey.family], ['birthdate', patientKey.birthDate], ['postcode', patientKey.postcode]] as const) {
        p.sadd(`${prefix}:idx:${kind}:${value}`, `ServiceRequest/${id}`);
      }
    }
    await p.exec();
  }
}
