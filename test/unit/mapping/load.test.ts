import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadMappings, MappingError } from '../../../src/mapping/index.js';
import { storedMessageFromBundle } from '../../../src/mapping/stored-message.js';
import { readExample } from './helpers/examples.js';

function copyOfMappings(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bb-mappings-'));
  cpSync('mappings', dir, { recursive: true });
  return dir;
}

const BROKEN = `description: broken on purpose
workflows: [referral-new, referral-sideways]
output:
  format: hl7v2
  version: '2.4'
  messageType: REF^I12^REF_I12
segments:
  - segment: PID
    fields:
      PID-3.1: "%patient.identifier.where(system = 'x'"
      PID-8: { expr: "%patient.gender", table: no-such-table }
      PID-99: "'x'"
      PV1-2: "'E'"
  - segment: XYZ
  - segment: PID
    fields:
      PID-5.1: { expr: "%nosuchvariable.family" }
      PID-7: { expr: "%patient.birthDate", format: julian, bogus: 1 }
`;

describe('mapping loader', function () {
  it('loads the shipped mappings, one per workflow the receiver accepts', function () {
    const registry = loadMappings('mappings');
    const workflows = new Set(registry.mappings.flatMap((m) => m.workflows));
    for (const w of ['referral-new', 'referral-update', 'referral-cancel', 'validation-new', 'validation-update', 'validation-cancel', 'booking-new', 'booking-update', 'booking-cancel']) {
      assert.ok(workflows.has(w as never), w);
    }
  });

  it('reports EVERY problem of a broken file as file:line', function () {
    const dir = copyOfMappings();
    try {
      writeFileSync(path.join(dir, 'broken.yaml'), BROKEN);
      const err = (() => {
        try {
          loadMappings(dir);
        } catch (e) {
          return e;
        }
        assert.fail('loadMappings accepted a broken file');
      })();
      assert.ok(err instanceof MappingError);
      const problems = err.problems.map((p) => p.replace(/^.*broken\.yaml/, 'broken.yaml'));
      const expect = [
        [2, /unknown workflow 'referral-sideways'/],
        [10, /FHIRPath does not parse/],
        [11, /unknown value table 'no-such-table'/],
        [12, /PID-99 does not exist in HL7 v2\.4/],
        [13, /target 'PV1-2' must look like PID-/],
        [14, /segment XYZ is not defined/],
        [17, /FHIRPath fails on an empty Bundle: .*nosuchvariable/],
        [18, /format must be text, ts or date/],
        [18, /unknown key 'bogus'/],
      ] as const;
      for (const [line, re] of expect) {
        assert.ok(problems.some((p) => p.startsWith(`broken.yaml:${line}:`) && re.test(p)), `missing problem at line ${line} ${re}\n${problems.join('\n')}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports YAML syntax errors with their line and column', function () {
    const dir = copyOfMappings();
    try {
      writeFileSync(path.join(dir, 'bad-syntax.yaml'), 'description: x\nworkflows: [referral-new\noutput: {}\n');
      assert.throws(() => loadMappings(dir), (e: unknown) => e instanceof MappingError && e.problems.some((p) => /bad-syntax\.yaml:3:1: /.test(p)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reload keeps the previous good set after a broken edit, and swaps in a fixed one', function () {
    const dir = copyOfMappings();
    try {
      const registry = loadMappings(dir);
      const before = registry.mappings.length;
      writeFileSync(path.join(dir, 'broken.yaml'), BROKEN);
      const bad = registry.reload();
      assert.equal(bad.ok, false);
      assert.ok(!bad.ok && bad.problems.length >= 9);
      assert.equal(registry.mappings.length, before, 'previous set still in use');
      const msg = storedMessageFromBundle(readExample('referral-request_new_111-to-ED_APP1_REFREQ01.json'));
      assert.equal(registry.select(msg).length, 3);

      rmSync(path.join(dir, 'broken.yaml'));
      writeFileSync(path.join(dir, 'extra.yaml'), 'description: extra\nworkflows: [referral-new]\ndestination: pas-files\noutput: { format: flat }\ncolumns:\n  - { name: ref, expr: "%reference" }\n');
      const good = registry.reload();
      assert.deepEqual({ ok: good.ok, outcome: good.outcome, changed: good.changed }, { ok: true, outcome: 'reloaded', changed: ['extra.yaml (added)'] });
      assert.ok(good.ok && good.mappings === before + 1);
      assert.equal(registry.select(msg).length, 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('watch() reloads after a file changes', async function () {
    const dir = copyOfMappings();
    const registry = loadMappings(dir);
    const result = new Promise<unknown>((resolve) => {
      const stop = registry.watch((r) => {
        stop();
        resolve(r);
      }, { debounceMs: 50 });
    });
    writeFileSync(path.join(dir, 'broken.yaml'), BROKEN);
    const r = (await result) as { ok: boolean };
    rmSync(dir, { recursive: true, force: true });
    assert.equal(r.ok, false);
  });
});
