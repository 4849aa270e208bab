import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, Resource } from '../../../src/protocol/bars/types.js';
import { fhirToHl7Date, fhirToHl7Ts } from '../../../src/mapping/datetime.js';
import { loadMappings, MappingError, renderMessage } from '../../../src/mapping/index.js';
import { loadMappingSet } from '../../../src/mapping/load.js';
import { storedMessageFromBundle } from '../../../src/mapping/stored-message.js';
import { runCommand } from '../../helpers/cli.js';
import { EXAMPLES_DIR, readExample } from './helpers/examples.js';

const OPTS = { now: new Date('2024-03-01T09:30:05Z'), controlId: 'T1' };
const registry = loadMappings('mappings');
const i12 = registry.get('referral-new.ref-i12')!;

function referral(edit: (patient: Resource, sr: Resource, b: Bundle) => void): ReturnType<typeof storedMessageFromBundle> {
  const b = readExample('referral-request_new_111-to-ED_APP1_REFREQ01.json');
  const find = (t: string): Resource => b.entry!.find((e) => e.resource?.resourceType === t)!.resource!;
  edit(find('Patient'), find('ServiceRequest'), b);
  return storedMessageFromBundle(b);
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof MappingError) {return [...e.problems];}
    throw e;
  }
  assert.fail('expected a MappingError');
}

describe('FHIR → HL7 date/time', function () {
  it('keeps the offset of an instant (HL7 TS)', function () {
    assert.equal(fhirToHl7Ts('2021-10-13T16:20:27+07:00'), '20211013162027+0700');
    assert.equal(fhirToHl7Ts('2021-10-13T16:20:27-03:30'), '20211013162027-0330');
    assert.equal(fhirToHl7Ts('2020-11-10T19:57:26.961Z'), '20201110195726.961+0000');
    assert.equal(fhirToHl7Ts('2021-10-11T15:23:30.8185338+00:00'), '20211011152330.8185+0000');
    assert.equal(fhirToHl7Ts('2021-10'), '202110');
    assert.equal(fhirToHl7Date('1959-05-04'), '19590504');
    assert.throws(() => fhirToHl7Ts('13/10/2021'));
  });
});

describe('mapping render', function () {
  it('selects mappings by workflow and use case', function () {
    const ids = (file: string): string[] => registry.select(storedMessageFromBundle(readExample(file))).map((m) => m.id);
    assert.deepEqual(ids('referral-request_new_111-to-ED_APP1_REFREQ01.json'), ['referral-new.adt-a05', 'referral-new.csv', 'referral-new.ref-i12']);
    assert.deepEqual(ids('referral-request_new_999-to-CAS_APP3_REFREQ02.json'), ['referral-new.csv', 'referral-new.ref-i12']);
    assert.deepEqual(ids('booking-cancel_BOOKREQ02.json'), ['booking-cancel.siu-s15']);
    const response = { ...storedMessageFromBundle(readExample('booking-cancel_BOOKREQ02.json')), workflow: 'response-referral' as const };
    assert.deepEqual(registry.select(response), []);
  });

  it('escapes | ^ ~ \\ & in values', function () {
    const msg = referral((p) => ((p.name as Array<{ family: string }>)[0].family = 'O|Brien^Smith~Jones\\Co&Sons'));
    const text = renderMessage(i12, msg, OPTS).text;
    assert.ok(text.includes('O\\F\\Brien\\S\\Smith\\R\\Jones\\E\\Co\\T\\Sons^Julie'), text.split('\r')[4]);
  });

  it('follows relative Type/id references inside the Bundle', function () {
    const msg = referral((p, sr, b) => {
      p.id = 'pat-1';
      sr.subject = { reference: 'Patient/pat-1' };
      for (const e of b.entry!) {if (e.resource === p) {e.fullUrl = 'https://example.org/fhir/Patient/pat-1';}}
    });
    assert.match(renderMessage(i12, msg, OPTS).text, /\rPID\|1\|\|3478526985\^\^\^NHS\^NH\|/);
  });

  it('fails with a MappingError when a required rule yields nothing', function () {
    const msg = referral((_p, sr) => delete sr.status);
    const problems = problemsOf(() => renderMessage(i12, msg, OPTS));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^mappings\/_shared\/ref-header\.yaml:\d+: RF1-1\.1: required, but the expression yields nothing$/);
  });

  it('names a patient without Patient.name `Unknown` (ITK §5.3.2), as for the CAD C1 call of BaRS REFREQ8A', function () {
    const msg = referral((p) => {
      delete p.name;
      delete p.identifier;
    });
    const text = renderMessage(i12, msg, OPTS).text;
    assert.match(text, /\rPID\|1\|\|BB-000001\^\^\^BARS-BRIDGE\^PI\|\|Unknown\^\^\^\^\^\^L\|/);
  });

  it('sends a line feed in free text as \\X0D0A\\ in NTE-3 (FT) and as a space in a name (XPN), both read back', function () {
    const msg = referral((p, sr) => {
      (p.name as Array<{ family: string }>)[0]!.family = 'Smith\nJones';
      sr.patientInstruction = 'Line one\nline two\r\nline three\ttabbed';
    });
    const text = renderMessage(i12, msg, OPTS).text;
    assert.match(text, /\rPID\|[^\r]*\|Smith Jones\^/);
    assert.match(text, /\rNTE\|[^\r]*Line one\\X0D0A\\line two\\X0D0A\\line three\\X09\\tabbed/);
    assert.doesNotMatch(text, /\n/);
  });

  it('gives a patient without an NHS number our reference as a local PID-3 identifier (BARS-BRIDGE, PI)', function () {
    const msg = referral((p) => (p.identifier = []));
    assert.match(renderMessage(i12, msg, OPTS).text, /\rPID\|1\|\|BB-[0-9A-Z]+\^\^\^BARS-BRIDGE\^PI\|/);
  });

  it('fails on a code with no entry in its value table', function () {
    const msg = referral((p) => (p.gender = 'bird'));
    assert.match(problemsOf(() => renderMessage(i12, msg, OPTS)).join('\n'), /PID-8\.1: code 'bird' has no entry in table administrative-sex/);
  });

  it('fails on a value over its length limit (overflow: error), without printing the value', function () {
    const msg = referral((p) => ((p.name as Array<{ family: string }>)[0].family = 'X'.repeat(36)));
    const problems = problemsOf(() => renderMessage(i12, msg, OPTS));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^mappings\/_shared\/pid\.yaml:\d+: PID-5\[1\]\.1: value is 36 characters, limit is 35 \(overflow: error\)$/);
    assert.ok(!problems.join('').includes('XXXX'));
  });

  it('continues a long text into NTE segments (overflow: nte), never cutting it', function () {
    const long = 'word '.repeat(120).trim();
    const msg = referral((_p, sr) => (sr.patientInstruction = long));
    const segs = renderMessage(i12, msg, OPTS).text.split('\r');
    const start = segs.findIndex((s) => s.endsWith('|PI'));
    const pieces = [segs[start].split('|')[3], segs[start + 1].split('|')[3], segs[start + 2].split('|')[3]];
    assert.ok(pieces.every((p) => p.length <= 240));
    assert.equal(pieces.join(''), long);
    assert.match(segs[start + 1], /^NTE\|\|P\|/);
  });

  it('is deterministic for a fixed now and control id', function () {
    const msg = referral(() => undefined);
    assert.equal(renderMessage(i12, msg, OPTS).text, renderMessage(i12, msg, OPTS).text);
    assert.match(renderMessage(i12, msg, { ...OPTS, controlId: 'RESEND-7' }).text, /\|RESEND-7\|P\|2\.4\|/);
  });

  it('checks the structure: a message missing a required segment is refused', function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'bb-mappings-'));
    try {
      cpSync('mappings', dir, { recursive: true });
      writeFileSync(path.join(dir, 'no-prd.yaml'), 'description: REF without PRD\nworkflows: [referral-new]\noutput: { format: hl7v2, version: "2.4", messageType: REF^I12^REF_I12 }\nsegments:\n  - include: _shared/msh-itk.yaml\n  - segment: RF1\n    fields:\n      RF1-6.1: "%reference"\n  - include: _shared/pid.yaml\n');
      // Refused at load (structure-check.ts: no message these rules make has a PRD) …
      const rel = path.relative(process.cwd(), dir);
      assert.throws(() => loadMappings(dir), (e: unknown) => e instanceof MappingError && e.problems.some((p) => p.startsWith(`${rel}/_shared/pid.yaml:`) && p.endsWith(`REF_I12.PROVIDER_CONTACT is required, but a message can reach PID without it (in mapping ${rel}/no-prd.yaml)`)));
      // … and the render-time check, which every message still passes before it leaves, refuses it too.
      const m = loadMappingSet(dir).mappings.find((x) => x.id === 'no-prd')!;
      assert.deepEqual(problemsOf(() => renderMessage(m, referral(() => undefined), OPTS)), ['mappings/no-prd.yaml: structure: REF_I12.PROVIDER_CONTACT is required (min 1) but missing'.replace('mappings/', `${rel}/`)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mapping CLI commands', function () {
  const bundle = (name: string): string => `${EXAMPLES_DIR}/${name}`;

  it('map prints the HL7 message and, with --explain, the rule behind each value', async function () {
    const run = await runCommand(['map', 'referral-new.ref-i12', bundle('referral-request_new_111-to-ED_APP1_REFREQ01.json'), '--explain']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /^MSH\|\^~\\&\|BARS-BRIDGE\|/);
    assert.match(run.out, /PID-3\[1\]\.1 +"3478526985"\n +← mappings\/_shared\/pid\.yaml:\d+  iif\(%rep is Identifier, value, %rep\)/);
    const json = await runCommand(['map', 'referral-new.ref-i12', bundle('referral-request_new_111-to-ED_APP1_REFREQ01.json'), '--json']);
    assert.equal(json.code, 0, json.err);
    const parsed = JSON.parse(json.out) as { ok: boolean; mapping: string; output: string };
    assert.equal(parsed.mapping, 'referral-new.ref-i12');
    assert.equal(parsed.output, run.out.slice(0, run.out.indexOf('\n# explain')), 'the same message as the text output');
  });

  it('map exits 1 with the problems of a failing message, 2 on usage errors', async function () {
    const failing = await runCommand(['map', 'referral-update.ref-i13', bundle('booking-cancel_BOOKREQ02.json')]);
    assert.equal(failing.code, 1);
    assert.match(failing.out, /RF1-1\.1: required/);
    const missing = await runCommand(['map', 'only-one-arg']);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /map needs <mapping> <bundle>, or --message <key>/);
    const unknown = await runCommand(['map', 'no-such-mapping', bundle('booking-cancel_BOOKREQ02.json')]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /no mapping 'no-such-mapping' in mappings/);
    assert.equal((await runCommand(['map', 'referral-new.ref-i12', bundle('booking-cancel_BOOKREQ02.json'), '--workflow', 'nonsense'])).code, 2);
  });

  it('mappings test passes on the shipped cases and fails with a field diff on a changed expectation', async function () {
    const ok = await runCommand(['mappings', 'test']);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /16 passed, 0 failed/);
    const json = await runCommand(['mappings', 'test', '--json']);
    assert.equal(json.code, 0);
    assert.deepEqual((({ passed, failed }) => ({ passed, failed }))(JSON.parse(json.out) as { passed: number; failed: number }), { passed: 16, failed: 0 });

    const dir = mkdtempSync(path.join(tmpdir(), 'bb-mappings-'));
    try {
      cpSync('mappings', dir, { recursive: true });
      const f = path.join(dir, 'tests/referral-cancel.ref-i14/SERVREQ01-revoked.hl7');
      const { readFileSync } = await import('node:fs');
      writeFileSync(f, readFileSync(f, 'utf8').replace('Jones^Julie', 'Jones^Julia'));
      const bad = await runCommand(['mappings', 'test', '--mappings', dir]);
      assert.equal(bad.code, 1);
      assert.match(bad.out, /FAIL referral-cancel\.ref-i14\/SERVREQ01-revoked/);
      assert.match(bad.out, /PID-5: expected "Jones\^Julia\^\^\^Mrs\^\^L" got "Jones\^Julie\^\^\^Mrs\^\^L"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
