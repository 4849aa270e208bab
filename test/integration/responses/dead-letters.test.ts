/*
 * Issue 12 item 8: responses that fail for good are listed and replayable, like delivery dead letters. A response the
 * proxy refuses (400) or whose retries run out is a dead letter; replay sends it again (same request, or rebuilt as a
 * new request) through its conversation's lane; drop gives up on it knowingly; both are audited with the actor.
 */
import { strict as assert } from 'node:assert';
import { enqueueResponse } from '../../../src/flows/responses/queue.js';
import {
  dropResponseDeadLetter,
  listResponseDeadLetters,
  readResponseDeadLetterAudit,
  replayResponseDeadLetter,
  ResponseDeadLetterNotFoundError,
  showResponseDeadLetter,
} from '../../../src/flows/responses/dead-letters.js';
import { startResponsesEnv, type ResponsesEnv } from './env.js';
import { runCommand } from '../../helpers/cli.js';

describe('responses: dead letters are listed, replayed and dropped (issue 12)', function () {
  this.timeout(60_000);
  let env: ResponsesEnv;
  before(async function () {
    env = await startResponsesEnv();
  });
  after(async function () {
    await env?.close();
  });

  async function deadLettered(): Promise<{ responseId: string; requestId: string; correlationId: string }> {
    const stored = await env.receive('validation-request_new_999-to-CAS_APP4_VALREQ01');
    env.proxy.setScenario(['bad-request'], 'ok', stored.correlationId);
    const q = await enqueueResponse(env.deps, { messageId: stored.id, kind: 'validation-interim', event: { type: 'validation-picked-up' } });
    const done = await env.waitFinished(q.responseId);
    assert.equal(done.state, 'dead-letter');
    return { responseId: q.responseId, requestId: q.requestId, correlationId: stored.correlationId };
  }

  it('a 400 from the proxy is listed with its reason and status, without the body', async function () {
    const { responseId } = await deadLettered();
    const listed = (await listResponseDeadLetters(env.store)).find((d) => d.responseId === responseId);
    assert.ok(listed, 'listed');
    assert.equal(listed.lastStatus, 400);
    assert.equal(listed.kind, 'validation-interim');
    assert.ok(!('body' in listed));
    const shown = await showResponseDeadLetter(env.store, responseId);
    assert.ok(shown.operationOutcome, 'keeps the proxy OperationOutcome');
    // The same through the command line.
    const redis = ['--redis-url', process.env.TEST_REDIS_URL!, '--redis-prefix', env.store.prefix];
    const cli = await runCommand(['response-dead-letters', 'list', '--json', ...redis]);
    assert.equal(cli.code, 0, cli.err);
    assert.ok((JSON.parse(cli.out) as Array<{ responseId: string }>).some((d) => d.responseId === responseId));
    assert.equal((await runCommand(['response-dead-letters', 'drop', 'no-such-response', '--actor', 'ops-x', ...redis])).code, 1);
    assert.equal((await runCommand(['response-dead-letters', 'replay', responseId, ...redis], { ...process.env, BARS_ACTOR: undefined })).code, 2, 'replay needs an actor');
  });

  it('replay (same) resends the same request: same X-Request-Id and body, delivered, out of the list, audited', async function () {
    const { responseId, requestId, correlationId } = await deadLettered();
    const before = env.proxy.requests.filter((r) => r.headers['x-request-id'] === requestId);
    const replayedWith = await replayResponseDeadLetter({ store: env.store, queue: env.queue }, responseId, { actor: 'ops-alice', reason: 'proxy fixed' });
    assert.equal(replayedWith, requestId);
    const done = await env.waitFinished(responseId);
    assert.equal(done.state, 'delivered');
    const after = env.proxy.requests.filter((r) => r.headers['x-request-id'] === requestId);
    assert.equal(after.length, before.length + 1);
    assert.equal(after.at(-1)!.body, before[0]!.body, 'a retry carries the same body');
    assert.equal(after.at(-1)!.headers['x-correlation-id'], correlationId);
    assert.ok(!(await listResponseDeadLetters(env.store)).some((d) => d.responseId === responseId));
    const audit = (await readResponseDeadLetterAudit(env.store)) as Array<{ actor: string; action: string; responseId: string }>;
    assert.ok(audit.some((a) => a.responseId === responseId && a.action === 'replay' && a.actor === 'ops-alice'));
  });

  it('replay (rebuild) sends a new request: new X-Request-Id, body built again', async function () {
    const { responseId, requestId } = await deadLettered();
    const replayedWith = await replayResponseDeadLetter({ store: env.store, queue: env.queue }, responseId, { actor: 'ops-bob', mode: 'rebuild' });
    assert.notEqual(replayedWith, requestId);
    const done = await env.waitFinished(responseId);
    assert.equal(done.state, 'delivered');
    assert.equal(done.requestId, replayedWith);
    assert.ok(env.proxy.requests.some((r) => r.headers['x-request-id'] === replayedWith));
  });

  it('drop takes it out of the list for good (state dropped), audited; a second replay or drop is refused', async function () {
    const { responseId } = await deadLettered();
    await dropResponseDeadLetter(env.store, responseId, { actor: 'ops-carol', reason: 'sender told by phone' });
    assert.ok(!(await listResponseDeadLetters(env.store)).some((d) => d.responseId === responseId));
    assert.equal((await env.responses.get(responseId))!.state, 'dropped');
    await assert.rejects(dropResponseDeadLetter(env.store, responseId, { actor: 'x' }), ResponseDeadLetterNotFoundError);
    await assert.rejects(replayResponseDeadLetter({ store: env.store, queue: env.queue }, responseId, { actor: 'x' }), ResponseDeadLetterNotFoundError);
    const audit = (await readResponseDeadLetterAudit(env.store)) as Array<{ actor: string; action: string; responseId: string }>;
    assert.ok(audit.some((a) => a.responseId === responseId && a.action === 'drop' && a.actor === 'ops-carol'));
  });
});
