import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCommand } from '../../helpers/cli.js';

const REFREQ01 = 'mappings/tests/referral-new.ref-i12/REFREQ01-111-to-ED.json';

describe('mapping tools', function () {
  this.timeout(60_000);

  it('--explain lists the rules that produced nothing, with why and where', async function () {
    const run = await runCommand(['map', 'referral-new.ref-i12', REFREQ01, '--explain']);
    assert.equal(run.code, 0, run.err);
    const text = run.out;
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

      const before = await runCommand(['mappings', 'test', '--mappings', dir]);
      assert.equal(before.code, 1);
      assert.match(before.out, /FAIL referral-new\.ref-i12\/REFREQ01-111-to-ED/);

      const up = await runCommand(['mappings', 'test', '--mappings', dir, '--update']);
      assert.equal(up.code, 0, up.out + up.err);
      const text = up.out;
      assert.match(text, /UPDATE referral-new\.ref-i12\/REFREQ01-111-to-ED .*\n {2}line \d+ PV1-19: expected "BB-[^"]*\^\^\^BARS-BRIDGE\^VN" got "BB-[^"]*\^\^\^OTHER-NS\^VN"\n {7}wrote /);
      assert.match(text, /new {2}referral-new\.csv\/REFREQ03-GP-to-pharmacy: wrote .*REFREQ03-GP-to-pharmacy\.csv/);
      assert.match(text, /, \d+ updated\n$/);
      assert.match(readFileSync(expected, 'utf8'), /\^\^\^OTHER-NS\^VN/);
      assert.ok(existsSync(path.join(dir, 'tests/referral-new.csv/REFREQ03-GP-to-pharmacy.csv')));

      const after = await runCommand(['mappings', 'test', '--mappings', dir]);
      assert.equal(after.code, 0, after.out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
