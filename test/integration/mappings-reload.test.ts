/*
 * Hot reload in the running worker: a rename-save is picked up and logged with the changed file and the set's hash;
 * a mapping that can make a second PV1 in REF^I12 is refused with file:line while the previous set keeps delivering.
 */
import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startHarness, type Harness } from '../helpers/harness.js';
import { capturingLogger, logLines } from '../helpers/log-sink.js';
import { messageBody, receipt, waitFor } from '../helpers/messages.js';

type Line = { msg?: string; hash?: string; changed?: string[]; problems?: string[]; rejected?: string };

/** Log lines of the run are JSON from our loggers, and also children's plain output (the PHI check reads both). */
function parsed(lines: readonly string[]): Line[] {
  return lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Line];
    } catch {
      return [];
    }
  });
}

function linesAfter(start: number, msg: string): Line[] {
  return parsed(logLines.slice(start)).filter((l) => l.msg === msg);
}

describe('mappings hot reload in the worker', function () {
  this.timeout(90_000);
  let h: Harness;
  let dir: string;
  before(async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'bb-worker-mappings-'));
    cpSync('mappings', dir, { recursive: true });
    h = await startHarness({ worker: true, log: capturingLogger(), config: { mappingsDir: dir } });
  });
  after(async function () {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs a rename-save with the changed file and hash, and refuses a second PV1 while the previous set keeps delivering', async function () {
    const loaded = parsed(logLines).filter((l) => l.msg?.startsWith('mappings loaded')).pop();
    assert.match(loaded?.hash ?? '', /^[0-9a-f]{12}$/);

    const file = path.join(dir, 'referral-new.ref-i12.yaml');
    const original = readFileSync(file, 'utf8');
    let start = logLines.length;
    writeFileSync(`${file}.tmp`, original.replace(/^description: >-$/m, 'description: >-\n  Edited by rename.'));
    renameSync(`${file}.tmp`, file);
    const reloaded = await waitFor(() => linesAfter(start, 'mappings reloaded')[0], 30_000);
    assert.deepEqual(reloaded.changed, ['referral-new.ref-i12.yaml (changed)']);
    assert.match(reloaded.hash!, /^[0-9a-f]{12}$/);
    assert.notEqual(reloaded.hash, loaded!.hash);

    start = logLines.length;
    writeFileSync(file, `${original.replace(/^description: >-$/m, 'description: >-\n  Edited by rename.')}  - segment: PV1\n    fields:\n      PV1-2: { value: E }\n`);
    const rejected = await waitFor(() => linesAfter(start, 'mapping edit rejected; previous mappings still running')[0], 30_000);
    assert.ok(rejected.problems!.some((p) => /referral-new\.ref-i12\.yaml:\d+: segment PV1 cannot come after another PV1/.test(p)), JSON.stringify(rejected.problems));
    assert.equal(rejected.changed?.[0], 'referral-new.ref-i12.yaml (changed)');

    // The previous set still runs: a referral is delivered as REF^I12 with one PV1.
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, messageBody());
    assert.equal(res.status, 200, res.body);
    const { reference } = receipt(res.body);
    const i12 = await waitFor(() => h.running.pasSimulator!.received.find((m) => m.text.includes('REF^I12') && m.text.includes(reference)), 30_000);
    assert.equal(i12.text.split('\r').filter((s) => s.startsWith('PV1|')).length, 1);
  });
});
