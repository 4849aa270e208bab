/*
 * `bars-bridge map --message <key>` against a real store: a referral accepted over mTLS is re-rendered from Redis with
 * the current mappings, found by our reference and by the receiver id of its ServiceRequest.
 */
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { mapCommand } from '../../../src/mapping/cli.js';
import { storedMessages } from '../../../src/ops/cli.js';
import { startHarness, type Harness } from '../../helpers/harness.js';
import { messageBody, receipt } from '../../helpers/messages.js';

function sink(): { stream: Writable; text: () => string } {
  let s = '';
  return { stream: new Writable({ write: (c, _e, cb) => ((s += String(c)), cb()) }), text: () => s };
}

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
    const deps = { messages: (key: string) => storedMessages(h.config, key) };
    for (const key of [reference, srId!]) {
      const out = sink();
      assert.equal(await mapCommand(['referral-new.ref-i12', '--message', key], out.stream, deps), 0, out.text());
      assert.match(out.text(), /^# message [0-9a-f-]{36} \(referral-new, /m);
      const rf1 = out.text().split('\n').find((l) => l.startsWith('RF1|'));
      assert.ok(rf1?.includes(`|${reference}^BARS-BRIDGE|`), `RF1-6 is our reference: ${key}`);
    }
    const none = sink();
    assert.equal(await mapCommand(['--message', 'BB-DOES-NOT-EXIST'], none.stream, deps), 1);
    assert.match(none.text(), /no stored message for BB-DOES-NOT-EXIST/);
  });
});
