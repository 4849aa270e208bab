import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadPasEventRules } from '../../../src/flows/pas-events/rules.js';
import { checkResponseRules, pasEventSources, unmatchableRules } from '../../../src/flows/responses/reachability.js';
import { DEFAULT_RULES_FILE, loadRules, parseRules, ruleLines } from '../../../src/flows/responses/rules.js';

const PAS_FILE = 'mappings/pas-events/rules.yaml';
const pasRules = loadPasEventRules(PAS_FILE);

describe('response rules that can never match', function () {
  it('the shipped rules have none that are wrong; rules for events nothing emits are listed as unreached', function () {
    const r = checkResponseRules(loadRules(), ruleLines(DEFAULT_RULES_FILE), pasEventSources(pasRules, PAS_FILE));
    assert.deepEqual(r.errors, []);
    // Named so that wiring an emitter (or removing the rule) is a visible change to this list.
    assert.deepEqual(
      r.unreached.map((u) => /'([^']+)'/.exec(u)![1]),
      ['cad-delivery-failed', 'validation-picked-up', 'validation-rejected', 'validation-completed', 'validation-delivery-failed'],
    );
    assert.ok(r.unreached.every((u) => /^mappings\/responses\/rules\.yaml:\d+: /.test(u)));
  });

  it('finds validation-encounter-cancelled dead when PAS rejections carry no reason code (the bug), with its line', function () {
    const withoutReason = pasRules.map((r) => ({ ...r, reasonCode: undefined }));
    const r = checkResponseRules(loadRules(), ruleLines(DEFAULT_RULES_FILE), pasEventSources(withoutReason, PAS_FILE));
    const line = readFileSync(DEFAULT_RULES_FILE, 'utf8').split('\n').findIndex((l) => l.includes('id: validation-encounter-cancelled')) + 1;
    assert.equal(r.errors.length, 1, r.errors.join('\n'));
    assert.match(r.errors[0], new RegExp(`^mappings/responses/rules\\.yaml:${line}: response rule 'validation-encounter-cancelled' can never match: .*rule 'referral rejected by the PAS': it carries no reason code`));
  });

  it('finds rules whose conditions cannot hold for their event type, or that no emitter satisfies', function () {
    const rules = parseRules(`rules:
  - { id: from-on-dna, event: appointment-no-show, from: [planned], useCases: [a1], respond: [referral-dna] }
  - { id: reason-on-dna, event: appointment-no-show, reasonCodes: [OTH], useCases: [a1], respond: [referral-dna] }
  - { id: same-status, event: encounter-status-changed, changed: true, from: [arrived], to: [arrived], useCases: [a6], respond: [referral-status] }
  - { id: never-set, event: encounter-status-changed, to: [onleave], useCases: [a6], respond: [referral-status] }
  - { id: fc-only, event: encounter-status-changed, to: [cancelled], reasonCodes: [FC], useCases: [a4], respond: [validation-interim] }
  - { id: fine, event: encounter-status-changed, from: [planned], to: [arrived], useCases: [a6], respond: [referral-status] }
`);
    const found = unmatchableRules(rules, pasEventSources(pasRules, PAS_FILE));
    assert.deepEqual(found.map((f) => [f.rule, f.severity]), [
      ['from-on-dna', 'error'],
      ['reason-on-dna', 'error'],
      ['same-status', 'error'],
      ['never-set', 'error'],
      ['fc-only', 'error'],
    ]);
    // A PAS that agrees to send the code in a field can carry any of them: then FC can match.
    const withField = pasRules.map((r) => (r.reasonCode ? { ...r, reasonCode: { field: 'RF1-10.1', default: 'OTH' as const } } : r));
    assert.deepEqual(unmatchableRules(rules, pasEventSources(withField, PAS_FILE)).map((f) => f.rule), ['from-on-dna', 'reason-on-dna', 'same-status', 'never-set']);
  });
});
