import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { goldenDiff, listGoldenCases, renderGoldenCase } from '../../../src/mapping/golden.js';
import { loadMappings } from '../../../src/mapping/index.js';
import { EXAMPLES } from './helpers/examples.js';

describe('mapping golden cases (mappings/tests)', function () {
  const registry = loadMappings('mappings');
  const { cases, problems } = listGoldenCases('mappings');

  it('every case has an expected output file', function () {
    assert.deepEqual(problems, []);
  });

  it('every default mapping has at least one golden case', function () {
    const untested = registry.mappings.filter((m) => !cases.some((c) => c.mappingId === m.id)).map((m) => m.id);
    assert.deepEqual(untested, []);
  });

  it('every NHS example the receiver accepts is a golden case', function () {
    for (const ex of EXAMPLES) {for (const m of ex.mappings) {assert.ok(cases.some((c) => c.mappingId === m && c.name === ex.name), `${m}/${ex.name}`);}}
  });

  for (const c of cases) {
    it(`${c.mappingId}/${c.name} renders exactly as ${c.kind}`, function () {
      const expected = readFileSync(c.expected, 'utf8').replace(/\r\n?/g, '\n');
      const actual = renderGoldenCase(registry, c);
      assert.ok(actual === expected, `golden mismatch:\n${goldenDiff(expected, actual, c.kind)}`);
    });
  }
});
