import { strict as assert } from 'node:assert';
import { loadRules, parseRules, responsesFor } from '../../../src/flows/responses/rules.js';
import type { ResponseEvent } from '../../../src/protocol/bars/response-events.js';

const uc = (useCase: string): { useCase: string } => ({ useCase });

describe('responses: rules (mappings/responses/rules.yaml)', function () {
  it('loads and validates the shipped rules', function () {
    assert.ok(loadRules().length >= 8);
  });

  const table: Array<[string, ResponseEvent, string, string[]]> = [
    ['DNA feedback for APP1', { type: 'appointment-no-show' }, 'a1t1', ['referral-dna']],
    ['DNA feedback for APP2', { type: 'appointment-no-show' }, 'a2t3', ['referral-dna']],
    ['no DNA feedback for APP3', { type: 'appointment-no-show' }, 'a3t1', []],
    ['CAD: every Encounter status change', { type: 'encounter-status-changed', from: 'planned', to: 'arrived' }, 'a6t1', ['referral-status']],
    ['CAD: no change, no response', { type: 'encounter-status-changed', from: 'arrived', to: 'arrived' }, 'a6t2', []],
    ['CAD rejection', { type: 'encounter-status-changed', from: 'planned', to: 'cancelled', reasonCode: 'RRNA' }, 'a6t3', ['referral-status']],
    ['APP4 picked up → interim', { type: 'validation-picked-up' }, 'a4t1', ['validation-interim']],
    ['APP4 rejected → interim', { type: 'validation-rejected', reasonCode: 'FC' }, 'a4t2', ['validation-interim']],
    ['APP4 completed → full', { type: 'validation-completed', carePlanStatus: 'completed' }, 'a4t3', ['validation-full']],
    ['APP4 Encounter planned → in-progress → interim', { type: 'encounter-status-changed', from: 'planned', to: 'in-progress' }, 'a4t1', ['validation-interim']],
    ['APP4 Encounter → finished → full', { type: 'encounter-status-changed', from: 'in-progress', to: 'finished' }, 'a4t1', ['validation-full']],
    ['APP4 Encounter cancelled without reason → nothing (a rejection needs a reason code)', { type: 'encounter-status-changed', from: 'planned', to: 'cancelled' }, 'a4t1', []],
    ['APP4 validation events do not apply to APP1', { type: 'validation-picked-up' }, 'a1t1', []],
    ['delivery failed, APP4 → interim rejection', { type: 'delivery-failed' }, 'a4t4', ['validation-interim']],
    ['delivery failed, APP6 → status response', { type: 'delivery-failed' }, 'a6t1', ['referral-status']],
    ['delivery failed, APP1 → nothing (no rejection response in the workflow)', { type: 'delivery-failed' }, 'a1t1', []],
    ['delivery failed, APP5 → nothing', { type: 'delivery-failed' }, 'a5t1', []],
    ['no use case → nothing', { type: 'validation-picked-up' }, '', []],
  ];
  for (const [title, event, useCase, expected] of table) {
    it(title, function () {
      assert.deepEqual(responsesFor(event, uc(useCase)), expected);
    });
  }

  it('matching rules add up without duplicates', function () {
    const rules = parseRules(`
rules:
  - { id: a, event: validation-picked-up, useCases: [a4], respond: [validation-interim] }
  - { id: b, event: validation-picked-up, useCases: [a4t1], respond: [validation-interim, validation-full] }
`);
    assert.deepEqual(responsesFor({ type: 'validation-picked-up' }, uc('a4t1'), rules), ['validation-interim', 'validation-full']);
    assert.deepEqual(responsesFor({ type: 'validation-picked-up' }, uc('a4t2'), rules), ['validation-interim']);
  });

  it('refuses unknown kinds, events and keys, listing every problem', function () {
    assert.throws(
      () => parseRules('rules:\n  - { id: x, event: nope, useCases: [a4], respond: [shout] , extra: 1 }\n'),
      (err: Error) => /event/.test(err.message) && /respond/.test(err.message) && /extra/.test(err.message),
    );
    assert.throws(() => parseRules('rules:\n  - { id: x, event: validation-picked-up, useCases: [a4], respond: [validation-interim] }\n  - { id: x, event: validation-picked-up, useCases: [a4], respond: [validation-interim] }\n'), /duplicate/);
  });
});
