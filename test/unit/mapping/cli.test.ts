import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { StoredMessage } from '../../../src/bars/types.js';
import { mapCommand, mappingsTestCommand } from '../../../src/mapping/cli.js';

function sink(): { stream: Writable; text: () => string } {
  let s = '';
  return { stream: new Writable({ write: (c, _e, cb) => ((s += String(c)), cb()) }), text: () => s };
}

const REFREQ01 = 'mappings/tests/referral-new.ref-i12/REFREQ01-111-to-ED.json';

describe('mapping tools', function () {
  this.timeout(60_000);

  it('--explain lists the rules that produced nothing, with why and where', async function () {
    const out = sink();
    assert.equal(await mapCommand(['referral-new.ref-i12', REFREQ01, '--explain'], out.stream), 0);
    const text = out.text();
    const [written, silent] = text.split(/\n# rules that produced nothing \(\d+\)\n/);
    assert.ok(silent, text);
    // RF1-2 Referral Priority: REFREQ01's ServiceRequest has no priority.
    assert.match(silent, /^RF1-2\.1 +expression yields nothing\n +← mappings\/_shared\/ref-header\.yaml:\d+ +%serviceRequest\.priority$/m);
    assert.doesNotMatch(written, /expression yields nothing/);
    assert.match(written, /^RF1-6\.1 +"BB-/m);
  });

  it('mappings test --update shows the diff, then writes the new expected output; a case without one gets one', async function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'bb-golden-update-'));
    try {
      cpSync('mappings', dir, { recursive: true });
      const pv1 = path.join(dir, '_shared/pv1-referral.yaml');
      writeFileSync(pv1, readFileSync(pv1, 'utf8').replace('PV1-19.4: { value: BARS-BRIDGE }', 'PV1-19.4: { value: OTHER-NS }'));
      const expected = path.join(dir, 'tests/referral-new.ref-i12/REFREQ01-111-to-ED.hl7');
      rmSync(path.join(dir, 'tests/referral-new.csv/REFREQ03-GP-to-pharmacy.csv'));

      const before = sink();
      assert.equal(await mappingsTestCommand(['--mappings', dir], before.stream), 1);
      assert.match(before.text(), /FAIL referral-new\.ref-i12\/REFREQ01-111-to-ED/);

      const up = sink();
      assert.equal(await mappingsTestCommand(['--mappings', dir, '--update'], up.stream), 0);
      const text = up.text();
      assert.match(text, /UPDATE referral-new\.ref-i12\/REFREQ01-111-to-ED .*\n {2}line \d+ PV1-19: expected "BB-[^"]*\^\^\^BARS-BRIDGE\^VN" got "BB-[^"]*\^\^\^OTHER-NS\^VN"\n {7}wrote /);
      assert.match(text, /new {2}referral-new\.csv\/REFREQ03-GP-to-pharmacy: wrote .*REFREQ03-GP-to-pharmacy\.csv/);
      assert.match(text, /, \d+ updated\n$/);
      assert.match(readFileSync(expected, 'utf8'), /\^\^\^OTHER-NS\^VN/);
      assert.ok(existsSync(path.join(dir, 'tests/referral-new.csv/REFREQ03-GP-to-pharmacy.csv')));

      const after = sink();
      assert.equal(await mappingsTestCommand(['--mappings', dir], after.stream), 0, after.text());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('map --message renders the stored messages a key names, with the mappings that select them', async function () {
    const msg = JSON.parse(readFileSync(REFREQ01, 'utf8')) as StoredMessage;
    const asked: string[] = [];
    const messages = async (key: string): Promise<StoredMessage[]> => {
      asked.push(key);
      return key === msg.reference ? [msg] : [];
    };
    const out = sink();
    assert.equal(await mapCommand(['--message', msg.reference!], out.stream, { messages }), 0, out.text());
    assert.deepEqual(asked, [msg.reference]);
    const text = out.text();
    assert.match(text, new RegExp(`^# message ${msg.id} \\(referral-new, .*\\): referral-new\\.adt-a05, referral-new\\.csv, referral-new\\.ref-i12$`, 'm'));
    assert.match(text, /^## referral-new\.ref-i12\nMSH\|.*\|REF\^I12\^REF_I12\|/m);
    assert.match(text, /^## referral-new\.adt-a05\nMSH\|.*\|ADT\^A05\^ADT_A05\|/m);

    const one = sink();
    assert.equal(await mapCommand(['referral-new.ref-i12', '--message', msg.reference!, '--explain'], one.stream, { messages }), 0);
    assert.doesNotMatch(one.text(), /ADT\^A05/);
    assert.match(one.text(), /# rules that produced nothing/);

    assert.equal(await mapCommand(['--message', 'BB-NOSUCH'], sink().stream, { messages }), 1);
    assert.equal(await mapCommand(['--message', 'x'], sink().stream), 2, 'no store: usage error');
  });
});
