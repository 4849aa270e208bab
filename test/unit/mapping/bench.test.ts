import assert from 'node:assert/strict';
import { runMappingBench } from '../../../bench/mapping.js';

describe('mapping benchmark (short CI run)', function () {
  this.timeout(30_000);
  it('compiled expressions are faster than evaluating the same expressions raw', function () {
    const r = runMappingBench({ seconds: 0.4 });
    assert.ok(r.expressions > 50, `${r.expressions} expressions`);
    assert.ok(r.compiledPerSec > 0 && r.rawPerSec > 0);
    assert.ok(r.ratio > 1.5, `compiled/raw ratio ${r.ratio.toFixed(2)}`);
  });
});
