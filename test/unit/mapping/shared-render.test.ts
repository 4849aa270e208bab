/*
 * messageRenderer (several mappings of one message sharing one environment and the results of the expressions they
 * have in common) renders exactly what renderMessage renders, and fails exactly as it fails.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { StoredMessage } from '../../../src/protocol/bars/types.js';
import { readsOf } from '../../../src/mapping/compile.js';
import { GOLDEN_CONTROL_ID, GOLDEN_NOW, listGoldenCases } from '../../../src/mapping/golden.js';
import { loadMappings, MappingError, messageRenderer, renderMessage, type CompiledMapping } from '../../../src/mapping/index.js';
import { storedMessageFromBundle } from '../../../src/mapping/stored-message.js';
import { readExample } from './helpers/examples.js';

const registry = loadMappings('mappings');

function outcome(fn: () => { text: string }): string {
  try {
    return fn().text;
  } catch (e) {
    if (e instanceof MappingError) {return `MappingError ${e.message}\n${e.problems.join('\n')}`;}
    throw e;
  }
}

describe('messageRenderer (mappings of one message share an environment)', function () {
  it('renders every golden case as renderMessage does, with every mapping that selects its message', function () {
    const cases = listGoldenCases('mappings').cases;
    assert.ok(cases.length >= 12);
    for (const c of cases) {
      const msg = JSON.parse(readFileSync(c.input, 'utf8')) as StoredMessage;
      const mappings: CompiledMapping[] = [registry.get(c.mappingId)!, ...registry.select(msg)];
      const render = messageRenderer(msg);
      mappings.forEach((m, i) => {
        const opts = { now: GOLDEN_NOW, controlId: `${GOLDEN_CONTROL_ID.slice(0, 15)}-${i}` };
        assert.equal(outcome(() => render(m, opts)), outcome(() => renderMessage(m, msg, opts)), `${c.mappingId}/${c.name} with ${m.id}`);
      });
    }
  });

  it('ADT^A05 then REF^I12 of the 111→ED referral: same bytes, and the same failures for a broken message', function () {
    const good = storedMessageFromBundle(readExample('referral-request_new_111-to-ED_APP1_REFREQ01.json'));
    const bad = storedMessageFromBundle(readExample('referral-request_new_111-to-ED_APP1_REFREQ01.json'));
    const patient = bad.bundle.entry!.find((e) => e.resource?.resourceType === 'Patient')!.resource!;
    patient.gender = 'bird';
    delete patient.name;
    for (const msg of [good, bad]) {
      const mappings = registry.select(msg);
      assert.deepEqual(mappings.map((m) => m.id).filter((id) => id.endsWith('adt-a05') || id.endsWith('ref-i12')).length, 2);
      const render = messageRenderer(msg);
      // Twice each: a second pass reads only remembered results.
      for (const m of [...mappings, ...mappings]) {
        const opts = { now: new Date('2024-03-01T09:30:05Z'), controlId: `C-${m.id.length}` };
        assert.equal(outcome(() => render(m, opts)), outcome(() => renderMessage(m, msg, opts)), m.id);
      }
    }
  });

  it('reuses only expressions whose result depends on focus and variables alone', function () {
    assert.deepEqual(readsOf("%patient.name.where(use = 'official') | %patient.name"), ['patient']);
    assert.deepEqual(readsOf('%item.value & %destination.receivingFacility & %item.code'), ['item', 'destination']);
    assert.deepEqual(readsOf('given.skip(1).join(\' \')'), []);
    for (const impure of ['now()', '%patient.birthDate < today()', 'timeOfDay()', "name.trace('x').family", '%`odd name`', "%'odd'"]) {
      assert.equal(readsOf(impure), undefined, impure);
    }
  });
});
