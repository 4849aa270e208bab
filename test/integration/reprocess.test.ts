/*
 * Reprocess after a mapping fix (issue 12 §5), end to end on real sockets: a broken ADT^A05 mapping dead-letters
 * the A05 of every referral, and the REF^I12 of the same referral is held behind it (visible in `queues`, `trace`
 * and /metrics); after the mapping is fixed, `bars-bridge reprocess --failed` renders them again and the PAS gets
 * each referral's A05 then its I12, in receipt order, audited with the actor.
 */
import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { listDeadLetters, readDeadLetterAudit } from '../../src/flows/delivery/dead-letters.js';
import { runCommand } from '../helpers/cli.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { messageBody, receipt, waitFor } from '../helpers/messages.js';

/** Collects what a command prints. */

describe('reprocess after a mapping fix (real mTLS, Redis, lanes and PAS simulator)', function () {
  this.timeout(60_000);
  let h: Harness;
  let redis: Redis;
  let mappingsDir: string;
  const a05 = (): string => path.join(mappingsDir, 'referral-new.adt-a05.yaml');
  let good: string;

  before(async function () {
    mappingsDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'bars-reprocess-')), 'mappings');
    cpSync('mappings', mappingsDir, { recursive: true });
    good = readFileSync(a05(), 'utf8');
    // A mapping edit that loads but can never render: EVN-2 required, and its expression yields nothing.
    const broken = good.replace('EVN-2: { expr: "%message.receivedAt", format: ts, required: true }', 'EVN-2: { expr: "%message.receivedAt.where(false)", format: ts, required: true }');
    assert.notEqual(broken, good);
    writeFileSync(a05(), broken);
    // Golden cases gate a set at load; this edit is one they do not cover (as an edit to a case without one would be).
    rmSync(path.join(mappingsDir, 'tests', 'referral-new.adt-a05'), { recursive: true, force: true });
    h = await startHarness({ worker: true, config: { mappingsDir } });
    redis = new Redis(h.config.redis.url);
  });
  after(async function () {
    redis?.disconnect();
    await h?.close();
    rmSync(path.dirname(mappingsDir), { recursive: true, force: true });
  });

  it('holds the I12 behind the failed A05, then reprocess --failed delivers both in receipt order, audited', async function () {
    const prefix = h.config.redis.prefix;
    const sim = h.running.pasSimulator!;
    const references: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, messageBody());
      assert.equal(res.status, 200, res.body);
      references.push(receipt(res.body).reference);
    }
    const dead = await waitFor(async () => {
      const list = await listDeadLetters({ redis, prefix });
      return list.length === 3 ? list : undefined;
    });
    assert.ok(dead.every((d) => d.reason === 'mapping-failed' && d.messageId.endsWith('.referral-new.adt-a05')), JSON.stringify(dead));
    await waitFor(async () => ((await redis.smembers(`${prefix}:dlv:blocked:pas`)).length === 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sim.received.filter((m) => references.some((ref) => m.text.includes(ref))).length, 0, 'no I12 of a referral whose A05 failed');

    // Visible: queues, trace, metrics.
    const cli = (argv: string[]): ReturnType<typeof runCommand> =>
      runCommand([...argv, '--redis-url', h.config.redis.url, '--redis-prefix', prefix], { ...process.env, NODE_ENV: 'test', BARS_MAPPINGS_DIR: h.config.mappingsDir });
    const queues = await cli(['queues']);
    assert.match(queues.out, /lane pas .*held 3/);
    assert.match(queues.out, /held behind dead letter pas\/[0-9a-f-]+\.referral-new\.adt-a05: 1 later message\(s\) of ServiceRequest\//);
    const traced = await cli(['trace', references[0]!]);
    assert.match(traced.out, /referral-new\.ref-i12 → pas .*held behind dead letter pas\/[0-9a-f-]+\.referral-new\.adt-a05/);
    const metrics = await (await fetch(`http://127.0.0.1:${h.running.adminPort}/metrics`)).text();
    assert.match(metrics, /bars_bridge_held_messages\{destination="pas"\} 3/);
    assert.match(metrics, /bars_bridge_held_records\{destination="pas"\} 3/);
    assert.match(metrics, /bars_bridge_dead_letters\{destination="pas"\} 3/);
    assert.match(metrics, /bars_bridge_mapping_failures_total\{mapping="referral-new\.adt-a05"\} 3/, 'counted by the mapping that failed');

    writeFileSync(a05(), good); // the fix
    const dry = await cli(['reprocess', '--failed', '--dry-run', '--actor', 'ops:alice']);
    assert.equal(dry.code, 0, dry.out + dry.err);
    assert.equal((dry.out.match(/referral-new\.adt-a05 → pas {2}would go/g) ?? []).length, 3, dry.out);
    assert.equal((await listDeadLetters({ redis, prefix })).length, 3, 'a dry run changes nothing');

    const run = await cli(['reprocess', '--failed', '--actor', 'ops:alice']);
    assert.equal(run.code, 0, run.out + run.err);
    assert.match(run.out, /3 message\(s\)/);
    const mine = await waitFor(() => {
      const got = sim.received.filter((m) => references.some((ref) => m.text.includes(ref)));
      return got.length === 6 ? got : undefined;
    });
    // A05 then I12 for each referral, and the referrals in receipt order.
    const expected = references.flatMap((ref) => [`${ref} ADT^A05`, `${ref} REF^I12`]);
    assert.deepEqual(mine.map((m) => `${references.find((ref) => m.text.includes(ref))} ${m.messageType.split('^').slice(0, 2).join('^')}`), expected);
    assert.deepEqual(await listDeadLetters({ redis, prefix }), []);
    assert.deepEqual(await redis.smembers(`${prefix}:dlv:blocked:pas`), []);
    const audit = await readDeadLetterAudit({ redis, prefix });
    assert.ok(audit.filter((a) => a.action === 'reprocess' && a.actor === 'ops:alice').length >= 3, JSON.stringify(audit));

    // By reference: every message of the record, and what is delivered is left alone (nothing sent twice).
    const byRef = await cli(['reprocess', references[0]!, '--actor', 'ops:bob']);
    assert.equal(byRef.code, 0, byRef.out + byRef.err);
    assert.match(byRef.out, /referral-new\.adt-a05 → pas {2}delivered/);
    assert.match(byRef.out, /1 message\(s\)/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sim.received.filter((m) => m.text.includes(references[0]!)).length, 2);
    assert.equal((await cli(['reprocess', '--actor', 'ops:bob'])).code, 2, 'neither a key nor --failed');
  });
});
