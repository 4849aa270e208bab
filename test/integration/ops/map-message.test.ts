/*
 * `bars-bridge map --message <key>` against a real store: a referral accepted over mTLS is re-rendered from Redis with
 * the current mappings, found by our reference and by the receiver id of its ServiceRequest.
 */
import { strict as assert } from 'node:assert';
import { runCommand } from '../../helpers/cli.js';
import { startHarness, type Harness } from '../../helpers/harness.js';
import { messageBody, receipt } from '../../helpers/messages.js';

describe('map --message (stored messages re-rendered with the current mappings)', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async function () {
    h = await startHarness();
  });
  after(async function () {
    await h.close();
  });

  it('finds a stored referral by our reference and by its record id', async function () {
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, messageBody());
    assert.equal(res.status, 200, res.body);
    const { reference, srId } = receipt(res.body);
    const redis = ['--redis-url', h.config.redis.url, '--redis-prefix', h.config.redis.prefix];
    for (const key of [reference, srId!]) {
      const run = await runCommand(['map', 'referral-new.ref-i12', '--message', key, ...redis]);
      assert.equal(run.code, 0, run.out + run.err);
      assert.match(run.out, /^# message [0-9a-f-]{36} \(referral-new, /m);
      const rf1 = run.out.split('\n').find((l) => l.startsWith('RF1|'));
      assert.ok(rf1?.includes(`|${reference}^BARS-BRIDGE|`), `RF1-6 is our reference: ${key}`);
    }
    const none = await runCommand(['map', '--message', 'BB-DOES-NOT-EXIST', ...redis]);
    assert.equal(none.code, 1);
    assert.match(none.err, /no stored message for BB-DOES-NOT-EXIST/);
    // All the mappings that select a message, when no mapping is named.
    const all = await runCommand(['map', '--message', reference, ...redis]);
    assert.match(all.out, /^## referral-new\.adt-a05\nMSH\|.*\|ADT\^A05\^ADT_A05\|/m);
    assert.equal((await runCommand(['map', 'referral-new.ref-i12', 'x.json', '--message', reference, ...redis])).code, 2, 'a bundle and --message: usage error');
  });
});
