import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { StoredMessage } from '../../../src/protocol/bars/types.js';
import { dictionaryFor } from '../../../src/mapping/hl7-dictionary.js';
import { structureProblems } from '../../../src/mapping/hl7-validate.js';
import { loadMappingSet } from '../../../src/mapping/load.js';
import { loadLiveMappings } from '../../../src/mapping/registry.js';
import { renderMessage } from '../../../src/mapping/render.js';
import { readStructure, structureCheck } from '../../../src/mapping/structure-check.js';
import type { SegmentItem } from '../../../src/mapping/types.js';

const dict = dictionaryFor('2.4')!;
const I12 = 'referral-new.ref-i12.yaml';

function copyOfMappings(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bb-structure-'));
  cpSync('mappings', dir, { recursive: true });
  return dir;
}

/** Line (1-based) of the first line of `file` matching `re`. */
function lineOf(file: string, re: RegExp, from = 0): number {
  return readFileSync(file, 'utf8').split('\n').findIndex((l, i) => i >= from && re.test(l)) + 1;
}

const SECOND_PV1 = `  - segment: PV1
    fields:
      PV1-1: { value: '2' }
      PV1-2: { value: E }
`;

describe('structure check at load', function () {
  let dir: string;
  beforeEach(function () {
    dir = copyOfMappings();
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('the shipped mappings fit their message structures', function () {
    assert.deepEqual(loadMappingSet('mappings').problems, []);
  });

  it('refuses a second PV1 in REF^I12 with file:line', function () {
    const file = path.join(dir, I12);
    const line = readFileSync(file, 'utf8').split('\n').length;
    appendFileSync(file, SECOND_PV1);
    const { problems } = loadMappingSet(dir);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], new RegExp(`${I12.replace(/\./g, '\\.')}:${line}: segment PV1 cannot come after another PV1 .*in REF_I12 \\(REF_I12 has room for one PV1 there\\)`));
  });

  it('refuses a second PV1 at hot reload, and the previous set keeps rendering', function () {
    const registry = loadLiveMappings(dir);
    const before = registry.get('referral-new.ref-i12');
    appendFileSync(path.join(dir, I12), SECOND_PV1);
    const r = registry.reload();
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.problems.some((p) => /referral-new\.ref-i12\.yaml:\d+: segment PV1 cannot come after another PV1/.test(p)), JSON.stringify(r));
    assert.deepEqual(r.changed, [`${I12} (changed)`]);
    assert.equal(registry.get('referral-new.ref-i12'), before, 'previous set still in use');
    const msg = JSON.parse(readFileSync('mappings/tests/referral-new.ref-i12/REFREQ01-111-to-ED.json', 'utf8')) as StoredMessage;
    const text = renderMessage(before!, msg, { now: new Date(), controlId: 'T1' }).text;
    assert.equal(text.split('\r').filter((s) => s.startsWith('PV1|')).length, 1);
  });

  it('refuses a foreach PV1 in a shared fragment once, naming every mapping that includes it', function () {
    const frag = path.join(dir, '_shared/pv1-referral.yaml');
    writeFileSync(frag, readFileSync(frag, 'utf8').replace('  - segment: PV1\n', '  - segment: PV1\n    foreach: "%bundle.entry.resource.ofType(Encounter)"\n'));
    const { problems } = loadMappingSet(dir);
    const line = lineOf(frag, /- segment: PV1/);
    const i12 = problems.filter((p) => p.includes('REF_I12'));
    assert.equal(i12.length, 1, problems.join('\n'));
    assert.match(i12[0], new RegExp(`_shared/pv1-referral\\.yaml:${line}: segment PV1 cannot come after another PV1 in REF_I12 .*this rule repeats it with foreach`));
    for (const m of ['referral-cancel.ref-i14.yaml', 'referral-new.ref-i12.yaml', 'referral-update.ref-i13.yaml']) {assert.ok(i12[0].includes(m), m);}
    assert.ok(problems.some((p) => /ADT_A05 .*\(in mapping .*referral-new\.adt-a05\.yaml\)$/.test(p)), problems.join('\n'));
  });

  it('refuses a conditional segment the structure requires, pointing at its rule', function () {
    const frag = path.join(dir, '_shared/pid.yaml');
    writeFileSync(frag, readFileSync(frag, 'utf8').replace('  - segment: PID\n    required: true\n', '  - segment: PID\n    when: "%patient.exists()"\n'));
    const { problems } = loadMappingSet(dir);
    const line = lineOf(frag, /- segment: PID/);
    assert.ok(problems.length > 0);
    assert.ok(problems.some((p) => p.startsWith(`${path.relative(process.cwd(), frag)}:${line}: segment PID is written only under when/foreach, but REF_I12.PID is required`)), problems.join('\n'));
  });

  it('refuses OBX outside the OBSERVATION group of its OBR (conditions are not read: the group says they go together)', function () {
    const frag = path.join(dir, '_shared/ref-clinical.yaml');
    const text = readFileSync(frag, 'utf8');
    // The same rules without the group: OBR under its own condition, OBX after it.
    const ungrouped = text.replace(/ {2}- group: OBSERVATION[^\n]*\n {4}when: ("[^"]+")\n {4}segments:\n((?: {6}[^\n]*\n)+)/, (_m, when: string, body: string) => {
      const lines = body.split('\n').map((l) => l.slice(4));
      lines.splice(1, 0, `    when: ${when}`);
      return lines.join('\n');
    });
    assert.notEqual(ungrouped, text);
    writeFileSync(frag, ungrouped);
    const { problems } = loadMappingSet(dir);
    assert.ok(problems.some((p) => /_shared\/obx\.yaml:\d+: segment OBX cannot come after PID or after NK1 or after AL1 in REF_I12/.test(p)), problems.join('\n'));
  });

  it('reads a message the way the render-time check does (random segment sequences)', function () {
    for (const structure of ['REF_I12', 'SIU_S12', 'ADT_A05']) {
      const alphabet = [...new Set(JSON.stringify(dict.messages[structure]).match(/"([A-Z][A-Z0-9]{2})":/g)!.map((m) => m.slice(1, 4)))];
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...alphabet, 'ZU1'), { maxLength: 14 }), (segs) => {
          const sendTime = structureProblems(dict, structure, ['MSH', ...segs]).map((p) =>
            p.replace(/^structure: (\S+) is required \(min \d+\) but missing$/, 'missing $1').replace(/^structure: segment (\S+) \(.*$/, 'refused $1'),
          );
          const loadTime = readStructure(dict, structure, ['MSH', ...segs]);
          // After a refusal the render-time reader stops matching and reports the rest of the structure as it was
          // left; the load-time reader stops at the refusal. The refusal and every problem before it agree.
          const cut = loadTime.findIndex((p) => p.startsWith('refused'));
          if (cut < 0) {assert.deepEqual(loadTime, sendTime);}
          else {
            assert.deepEqual(loadTime.slice(0, cut), sendTime.slice(0, cut));
            assert.equal(sendTime[sendTime.length - 1], loadTime[cut]);
          }
        }),
        { numRuns: 300 },
      );
    }
  });

  it('finds a problem exactly when some message the rules can make fails the render-time check', function () {
    // Rules as counts (1, 0–1 under `when`, 0–n under `foreach`); every message of up to 2 repetitions is tried.
    const structure = 'REF_I12';
    const alphabet = ['RF1', 'PRD', 'CTD', 'PID', 'NK1', 'AL1', 'OBR', 'OBX', 'NTE', 'PV1', 'PV2'];
    const rule = fc.record({ segment: fc.constantFrom(...alphabet), count: fc.constantFrom('one', 'when', 'foreach') });
    const asItem = (r: { segment: string; count: string }): SegmentItem =>
      ({ kind: 'segment', segment: r.segment, when: r.count === 'when' ? {} : undefined, foreach: r.count === 'foreach' ? {} : undefined, required: false, fields: [], where: `x.yaml:1` }) as unknown as SegmentItem;
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 6 }), (rules) => {
        const choices = rules.map((r) => (r.count === 'one' ? [1] : r.count === 'when' ? [0, 1] : [0, 1, 2]));
        let anyFails = false;
        const pick = (i: number, acc: string[]): void => {
          if (anyFails) {return;}
          if (i === rules.length) {
            if (structureProblems(dict, structure, ['MSH', ...acc]).length > 0) {anyFails = true;}
            return;
          }
          for (const n of choices[i]) {pick(i + 1, [...acc, ...Array<string>(n).fill(rules[i].segment)]);}
        };
        pick(0, []);
        const found = structureCheck(dict, structure, rules.map(asItem), 'x.yaml:1');
        assert.equal(found.length > 0, anyFails, `${JSON.stringify(rules)}\n${found.join('\n')}`);
      }),
      { numRuns: 400 },
    );
  });
});
