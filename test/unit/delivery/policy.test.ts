import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ACK_POLICY, parseDestinations } from '../../../src/config/destinations.js';
import { backoffDelay, lanePolicy, loadDeliveryPolicy, parseDeliveryPolicy } from '../../../src/flows/delivery/policy.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('delivery policy and destinations', () => {
  it('loads queues/delivery.yaml', () => {
    const policy = loadDeliveryPolicy(path.join(repo, 'queues/delivery.yaml'));
    assert.equal(policy.backoff.initialMs, 1000);
    assert.equal(policy.maxAttempts, 60);
    assert.deepEqual(lanePolicy(policy, 'pas-main'), { backoff: policy.backoff, maxAttempts: 60 });
  });

  it('reports every problem at once', () => {
    assert.throws(
      () => parseDeliveryPolicy({ backoff: { initialMs: -1, maxMs: 1 }, maxAttempts: 'never' }),
      (err: Error) => /initialMs/.test(err.message) && /maxAttempts/.test(err.message) && /lock/.test(err.message),
    );
  });

  it('applies per-destination overrides', () => {
    const policy = parseDeliveryPolicy({
      backoff: { initialMs: 10, maxMs: 100 },
      maxAttempts: 3,
      lock: { leaseMs: 1000, takeoverPollMs: 50 },
      retention: { deliveredTextTtlSeconds: 60, historyTtlSeconds: 60 },
      destinations: { slow: { maxAttempts: 'forever' } },
    });
    assert.equal(lanePolicy(policy, 'slow').maxAttempts, 'forever');
    assert.equal(lanePolicy(policy, 'other').maxAttempts, 3);
  });

  it('backs off exponentially up to the cap, within the jitter band', () => {
    const b = { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 };
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(b, n)), [100, 200, 400, 800, 1000, 1000]);
    const j = { ...b, jitter: 0.2 };
    assert.equal(backoffDelay(j, 1, () => 0), 80);
    assert.equal(backoffDelay(j, 1, () => 1), 120);
  });

  it('fills destination defaults, including the default ACK policy', () => {
    const [pas, drop] = parseDestinations([
      { name: 'pas-main', kind: 'mllp', host: 'pas', port: 2575 },
      { name: 'ed-drop', kind: 'file', directory: '/tmp/x' },
    ]);
    assert.equal(pas!.kind, 'mllp');
    if (pas!.kind === 'mllp') {
      assert.deepEqual(pas!.ackPolicy, DEFAULT_ACK_POLICY);
      assert.equal(pas!.keepAlive, true);
    }
    assert.equal(drop!.kind === 'file' && drop!.fileNamePattern, '{controlId}.hl7');
    assert.throws(() => parseDestinations([{ name: 'Bad:Name', kind: 'mllp', host: 'h', port: 1 }]), /lower-case/);
    assert.throws(
      () => parseDestinations([
        { name: 'a', kind: 'file', directory: '/x' },
        { name: 'a', kind: 'file', directory: '/y' },
      ]),
      /unique/,
    );
  });
});
