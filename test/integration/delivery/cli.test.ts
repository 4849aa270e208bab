import assert from 'node:assert/strict';
import { runCommand } from '../../helpers/cli.js';
import { recordDeadLetter } from '../../../src/flows/delivery/dead-letters.js';
import { enqueueDelivery } from '../../../src/flows/delivery/lanes.js';
import { adt, testRedis, uniquePrefix } from './helpers.js';

async function run(argv: string[], prefix: string): Promise<{ code: number; text: string }> {
  const { code, out, err } = await runCommand(['dead-letters', ...argv, '--redis-url', process.env.TEST_REDIS_URL!, '--redis-prefix', prefix], {});
  return { code, text: out + err };
}

describe('dead-letters CLI', () => {
  it('lists, replays and audits, and refuses without an actor', async () => {
    const redis = testRedis();
    const prefix = uniquePrefix('cli');
    try {
      await enqueueDelivery({ redis, prefix }, { messageId: 'm1', destination: 'pas', controlId: 'C1', contentType: 'x-application/hl7-v2+er7', text: adt('C1') });
      await recordDeadLetter({ redis, prefix }, { messageId: 'm1', destination: 'pas', controlId: 'C1', renderedKey: `${prefix}:dlv:text:pas:m1` }, { reason: 'ack-AR', detail: 'Unknown clinic' });
      const list = await run(['list'], prefix);
      assert.equal(list.code, 0);
      assert.match(list.text, /pas {2}m1 {2}MSH-10 C1 {2}ack-AR/);
      assert.ok(!list.text.includes('PID'), 'no HL7 text printed');
      const json = await run(['list', '--json'], prefix);
      assert.deepEqual((JSON.parse(json.text) as Array<{ messageId: string; controlId: string }>).map((d) => [d.messageId, d.controlId]), [['m1', 'C1']]);
      assert.equal((await run(['replay', 'pas', 'm1'], prefix)).code, 2);
      const replay = await run(['replay', 'pas', 'm1', '--actor', 'ops:dave', '--new-control-id', 'C1B'], prefix);
      assert.equal(replay.code, 0, replay.text);
      assert.match(replay.text, /MSH-10 C1B/);
      assert.equal((await run(['show', 'pas', 'm1'], prefix)).code, 1, 'no longer a dead letter');
      assert.match((await run(['audit'], prefix)).text, /ops:dave {2}replay {2}pas\/m1 {2}new MSH-10 C1B/);
    } finally {
      await redis.quit();
    }
  });
});
