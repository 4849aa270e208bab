/*
 * The whole failure table of the sender retry rules, end to end: for each scripted proxy answer, one response is
 * queued and followed to its end. Counted per scenario: delivered (the receiver behind the mock processed it),
 * dead-lettered (kept in Redis with the reason), lost (ended neither delivered nor dead-lettered, or claimed delivered
 * while the receiver never processed it — must be 0) and duplicated (processed more than once). Run twice: with a
 * receiver that detects duplicates (what BaRS requires of receivers) and with one that does not, which shows where
 * duplicates can arise at all: only after ambiguous answers (no answer, 504, answer without integrity headers).
 */
import { strict as assert } from 'node:assert';
import type { MockStep } from '../../../src/dev/mock-proxy.js';
import { enqueueResponse } from '../../../src/flows/responses/queue.js';
import type { StoredMessage } from '../../../src/protocol/bars/types.js';
import { ATTEMPTS, startResponsesEnv, type ResponsesEnv } from './env.js';

interface Scenario {
  readonly name: string;
  readonly steps: readonly MockStep[];
  readonly fallback?: MockStep;
  readonly expect: 'delivered' | 'duplicate-delivered' | 'dead-letter';
  /** The proxy's answer leaves it unknown whether the receiver got the message. */
  readonly ambiguous?: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: '200', steps: ['ok'], expect: 'delivered' },
  { name: '409 duplicate', steps: ['duplicate'], expect: 'duplicate-delivered' },
  { name: '408 then 200', steps: [408], expect: 'delivered' },
  { name: '429 then 200', steps: [429], expect: 'delivered' },
  { name: '503, 503 then 200', steps: [503, 503], expect: 'delivered' },
  { name: '504 (receiver finished late) then retry', steps: [504], expect: 'duplicate-delivered', ambiguous: true },
  { name: 'timeout (no answer) then retry', steps: ['timeout'], expect: 'duplicate-delivered', ambiguous: true },
  { name: '200 without integrity headers then retry', steps: ['no-integrity-headers'], expect: 'duplicate-delivered', ambiguous: true },
  { name: '500 without OperationOutcome then 200', steps: ['error-no-oo'], expect: 'delivered' },
  { name: '401 token expired → refresh → 200', steps: ['token-expired'], expect: 'delivered' },
  { name: '400 with OperationOutcome', steps: ['bad-request'], expect: 'dead-letter' },
  { name: '503 for ever (attempts exhausted)', steps: [], fallback: 503, expect: 'dead-letter' },
  { name: 'timeout, 503, 429, 504 then 200', steps: ['timeout', 503, 429, 504], expect: 'duplicate-delivered', ambiguous: true },
];

interface Row {
  scenario: string;
  dedupe: boolean;
  state: string;
  requests: number;
  delivered: number;
  deadLettered: number;
  lost: number;
  duplicated: number;
}

async function runTable(env: ResponsesEnv, messages: StoredMessage[], dedupe: boolean): Promise<Row[]> {
  env.proxy.setDedupe(dedupe);
  const runs = await Promise.all(
    SCENARIOS.map(async (s, i) => {
      const stored = messages[i]!;
      env.proxy.setScenario(s.steps, s.fallback ?? 'ok', stored.correlationId);
      const q = await enqueueResponse(env.deps, { messageId: stored.id, kind: 'validation-interim', event: { type: 'validation-picked-up' } });
      return { s, stored, q };
    }),
  );
  const rows: Row[] = [];
  for (const { s, stored, q } of runs) {
    const done = await env.waitFinished(q.responseId);
    const reqs = env.proxy.requests.filter((r) => r.headers['x-correlation-id'] === stored.correlationId && r.headers['x-request-id'] === q.requestId);
    const processed = env.proxy.deliveries(q.requestId);
    const delivered = done.state === 'delivered' || done.state === 'duplicate-delivered';
    rows.push({
      scenario: s.name,
      dedupe,
      state: done.state,
      requests: reqs.length,
      delivered: delivered ? 1 : 0,
      deadLettered: done.state === 'dead-letter' ? 1 : 0,
      lost: (delivered && processed === 0) || (!delivered && done.state !== 'dead-letter') ? 1 : 0,
      duplicated: Math.max(0, processed - 1),
    });
    // Every attempt of one response is the same request: same X-Request-Id (filtered above) and the same body.
    assert.equal(new Set(reqs.map((r) => r.body)).size, 1, `${s.name}: one body for all attempts`);
    const expected = !dedupe && s.ambiguous ? 'delivered' : s.expect;
    assert.equal(done.state, expected, `${s.name} (dedupe ${dedupe})`);
    if (s.expect === 'dead-letter') {
      assert.ok(done.operationOutcome || done.lastReason, `${s.name}: dead letter keeps the proxy's answer`);
    }
  }
  return rows;
}

describe('responses: retry rules over the whole failure table', function () {
  this.timeout(60_000);
  let env: ResponsesEnv;
  let messages: StoredMessage[] = [];
  before(async function () {
    env = await startResponsesEnv();
    messages = [];
    for (let i = 0; i < SCENARIOS.length * 2; i++) {
      messages.push(await env.receive('validation-request_new_999-to-CAS_APP4_VALREQ01'));
    }
  });
  after(async function () {
    await env?.close();
  });

  it(`sends every scenario to its end with 0 lost, duplicates only after ambiguous answers (attempts ${ATTEMPTS})`, async function () {
    const rows = [...(await runTable(env, messages.slice(0, SCENARIOS.length), true)), ...(await runTable(env, messages.slice(SCENARIOS.length), false))];
    console.log('\n    retry table (dedupe = the receiver answers 409 duplicate for a known X-Request-Id)');
    console.table(rows);
    const sum = (dedupe: boolean, k: 'lost' | 'duplicated' | 'delivered' | 'deadLettered'): number => rows.filter((r) => r.dedupe === dedupe).reduce((a, r) => a + r[k], 0);
    for (const dedupe of [true, false]) {
      console.log(`    dedupe=${dedupe}: responses ${SCENARIOS.length}, delivered ${sum(dedupe, 'delivered')}, dead-lettered ${sum(dedupe, 'deadLettered')}, lost ${sum(dedupe, 'lost')}, duplicated ${sum(dedupe, 'duplicated')}`);
    }
    assert.equal(sum(true, 'lost') + sum(false, 'lost'), 0, 'no response lost');
    assert.equal(sum(true, 'duplicated'), 0, 'no duplicate with a receiver that detects them');
    for (const r of rows.filter((x) => x.duplicated > 0)) {
      assert.ok(SCENARIOS.find((s) => s.name === r.scenario)!.ambiguous, `duplicate only after an ambiguous answer: ${r.scenario}`);
    }
  });
});
