import { strict as assert } from 'node:assert';
import { loadInboundPolicy, parseInboundPolicy } from '../../../src/flows/inbound/inbound-policy.js';

describe('inbound queue policy', () => {
  it('loads queues/inbound.yaml', () => {
    const p = loadInboundPolicy('queues/inbound.yaml');
    assert.deepEqual({ ...p }, { concurrency: 8, lockDurationMs: 10_000, stalledIntervalMs: 5_000 });
    assert.ok(Object.isFrozen(p));
  });

  it('uses the defaults when the file is missing', () => {
    assert.equal(loadInboundPolicy('queues/no-such-file.yaml').lockDurationMs, 10_000);
  });

  it('reports every problem at once', () => {
    assert.throws(
      () => parseInboundPolicy({ concurrency: 0, lockDurationMs: 10, extra: true }),
      (err: Error) => /concurrency/.test(err.message) && /lockDurationMs/.test(err.message) && /extra/.test(err.message),
    );
  });
});
