import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadLiveMappings, type MappingRegistry, type ReloadResult } from '../../../src/mapping/registry.js';
import { MappingError } from '../../../src/mapping/errors.js';

function copyOfMappings(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bb-reload-'));
  cpSync('mappings', dir, { recursive: true });
  return dir;
}

/** Collects reload results from `registry.watch` and waits for the next one. */
function watcher(registry: MappingRegistry): { next: (what: string) => Promise<ReloadResult>; stop: () => void } {
  const results: ReloadResult[] = [];
  let wake: (() => void) | undefined;
  // No poll: file events alone must see every kind of save.
  const stop = registry.watch(
    (r) => {
      results.push(r);
      wake?.();
    },
    { debounceMs: 100, pollMs: 0 },
  );
  return {
    stop,
    next: async (what) => {
      const deadline = Date.now() + 10_000;
      while (results.length === 0) {
        if (Date.now() > deadline) {assert.fail(`no reload after ${what}`);}
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
      return results.shift()!;
    },
  };
}

const I12 = 'referral-new.ref-i12.yaml';
const PV1 = '_shared/pv1-referral.yaml';

function describeAs(dir: string, file: string, text: string): string {
  const p = path.join(dir, file);
  return readFileSync(p, 'utf8').replace(/^description: .*(?:\n {2}.*)*$/m, `description: ${text}`);
}

describe('mappings hot reload', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(function () {
    dir = copyOfMappings();
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('picks up rename-saves and in-place saves, in any order, at the top level and in _shared/', async function () {
    const registry = loadLiveMappings(dir);
    const w = watcher(registry);
    try {
      const hashes = new Set([registry.hash]);
      const steps: Array<[string, string, () => void]> = [
        ['write temp + rename', I12, () => {
          writeFileSync(path.join(dir, `${I12}.tmp`), describeAs(dir, I12, 'one'));
          renameSync(path.join(dir, `${I12}.tmp`), path.join(dir, I12));
        }],
        ['in-place save after a rename-save', I12, () => writeFileSync(path.join(dir, I12), describeAs(dir, I12, 'two'))],
        ['sed -i', I12, () => execFileSync('sed', ['-i', 's/^description: two$/description: three/', path.join(dir, I12)])],
        ['in-place save after sed -i', I12, () => writeFileSync(path.join(dir, I12), describeAs(dir, I12, 'four'))],
        ['sed -i in _shared/', PV1, () => execFileSync('sed', ['-i', 's/^description: PV1 /description: PV1 (edited) /', path.join(dir, PV1)])],
        ['in-place save in _shared/ after sed -i', PV1, () => writeFileSync(path.join(dir, PV1), readFileSync(path.join(dir, PV1), 'utf8').replace('(edited)', '(edited again)'))],
      ];
      const expected = ['one', 'two', 'three', 'four'];
      for (const [what, file, act] of steps) {
        act();
        const r = await w.next(what);
        assert.equal(r.outcome, 'reloaded', `${what}: ${JSON.stringify(r)}`);
        assert.deepEqual(r.changed, [`${file} (changed)`], what);
        assert.equal(r.hash, registry.hash);
        assert.ok(!hashes.has(r.hash), `${what}: a new hash`);
        hashes.add(r.hash);
        const e = expected.shift();
        if (e) {assert.equal(registry.get('referral-new.ref-i12')!.description, e, what);}
      }
      assert.match(readFileSync(path.join(dir, PV1), 'utf8'), /\(edited again\)/);
    } finally {
      w.stop();
    }
  });

  it('does nothing when the content did not change (same hash)', function () {
    const registry = loadLiveMappings(dir);
    const before = registry.mappings;
    writeFileSync(path.join(dir, I12), readFileSync(path.join(dir, I12)));
    const r = registry.reload();
    assert.deepEqual({ outcome: r.outcome, changed: r.changed, hash: r.hash }, { outcome: 'unchanged', changed: [], hash: registry.hash });
    assert.equal(registry.mappings, before);
  });

  it('keeps the previous set when the new one fails its golden cases', function () {
    const registry = loadLiveMappings(dir);
    const before = registry.get('referral-new.ref-i12');
    const hash = registry.hash;
    writeFileSync(path.join(dir, PV1), readFileSync(path.join(dir, PV1), 'utf8').replace("PV1-19.4: { value: BARS-BRIDGE }", "PV1-19.4: { value: SOMEONE-ELSE }"));
    const r = registry.reload();
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.ok(!r.ok);
    assert.equal(r.hash, hash, 'the active set is still the old one');
    assert.notEqual(r.candidate, hash);
    const golden = r.problems.filter((p) => /golden case fails/.test(p));
    // Every REF_I12-structured golden case and the ADT^A05 one have PV1-19.
    assert.ok(golden.some((p) => /tests\/referral-new\.ref-i12\/REFREQ01-111-to-ED\.hl7: golden case fails with these rules \(line \d+ PV1-19\)/.test(p)), golden.join('\n'));
    assert.ok(golden.some((p) => /tests\/referral-new\.adt-a05\//.test(p)));
    assert.ok(!r.problems.some((p) => p.includes('SOMEONE-ELSE')), 'positions only, no output text');
    assert.equal(registry.get('referral-new.ref-i12'), before);
    const again = registry.reload();
    assert.ok(!again.ok && again.again && !r.again, 'still refused on the next look, marked as seen before (the watcher reports it once)');
  });

  it('refuses at start-up a set whose golden cases fail', function () {
    writeFileSync(path.join(dir, PV1), readFileSync(path.join(dir, PV1), 'utf8').replace("PV1-19.5: { value: VN }", "PV1-19.5: { value: XX }"));
    assert.throws(() => loadLiveMappings(dir), (e: unknown) => e instanceof MappingError && e.problems.some((p) => /golden case fails/.test(p)));
  });

  it('reports a YAML error in a shared fragment once, with line and column, naming the mappings that include it', function () {
    const registry = loadLiveMappings(dir);
    const pid = path.join(dir, '_shared/pid.yaml');
    const lines = readFileSync(pid, 'utf8').split('\n');
    const at = lines.findIndex((l) => /^ {6}PID-1:/.test(l));
    lines.splice(at + 1, 0, '      PID-2: { value: x');
    writeFileSync(pid, lines.join('\n'));
    const r = registry.reload();
    assert.ok(!r.ok);
    const mine = r.problems.filter((p) => p.includes('pid.yaml'));
    assert.equal(mine.length, 1, r.problems.join('\n'));
    assert.match(mine[0], /_shared\/pid\.yaml:\d+:\d+: /);
    assert.doesNotMatch(mine[0], /token in YAML stream|\n/);
    // pid.yaml is included by the referral mappings directly and by the SIU ones through _shared/siu.yaml.
    for (const m of ['referral-new.ref-i12', 'referral-update.ref-i13', 'referral-cancel.ref-i14', 'referral-new.adt-a05', 'booking-new.siu-s12', 'booking-update.siu-s14', 'booking-cancel.siu-s15']) {
      assert.ok(mine[0].includes(`${m}.yaml`), `${m} named in: ${mine[0]}`);
    }
    assert.deepEqual(r.changed, ['_shared/pid.yaml (changed)']);
  });
});
