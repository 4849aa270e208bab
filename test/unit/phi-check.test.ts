/*
 * The run-wide PHI check (test/setup.ts) must be able to fail (issue 13 item 5): a value of the fixtures that reaches
 * a log line — of any logger, at any level, or of a child process — is found. Each probe removes its own line after
 * checking, so the run's final check still passes.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createLogger } from '../../src/logging.js';
import { captureChildOutput, logLines } from '../helpers/log-sink.js';
import { findLeaks, fixturePhi } from '../helpers/phi.js';

function takeLeaks(marker: string, phi: readonly string[]): Array<{ value: string }> {
  const mine = logLines.filter((l) => l.includes(marker));
  const leaks = findLeaks(mine, phi);
  for (const line of mine) {
    logLines.splice(logLines.indexOf(line), 1);
  }
  return leaks;
}

describe('PHI log check (seeded leaks)', function () {
  const phi = fixturePhi();

  it('scans NHS numbers, names, birth dates, postcodes, address lines and e-mail addresses of every example, the BaRS package included', function () {
    assert.ok(phi.some((v) => /^\d{10}$/.test(v)), 'NHS numbers');
    assert.ok(phi.some((v) => /^\d{4}-\d{2}-\d{2}$/.test(v)), 'birth dates');
    assert.ok(phi.some((v) => /^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$/i.test(v)), 'postcodes');
    assert.ok(phi.some((v) => v.includes('@')), 'e-mail addresses');
    assert.ok(phi.length > 30, `only ${phi.length} values`);
  });

  it('finds a value logged by a silent logger the code under test created', function () {
    const value = phi.find((v) => /^\d{10}$/.test(v))!;
    createLogger('silent', 'leaky').error({ probe: 'seeded-leak-1', nhsNumber: value }, 'oops');
    assert.deepEqual(takeLeaks('seeded-leak-1', phi).map((l) => l.value), [value]);
  });

  it('finds a value a child process printed', async function () {
    const value = phi.find((v) => /^\d{4}-\d{2}-\d{2}$/.test(v))!;
    const child = spawn(process.execPath, ['-e', `console.error('seeded-leak-2 born ${value}')`]);
    captureChildOutput(child);
    await new Promise((resolve) => child.once('close', resolve));
    assert.deepEqual(takeLeaks('seeded-leak-2', phi).map((l) => l.value), [value]);
  });
});
