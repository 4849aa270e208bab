/*
 * Invariant 3 at its sharpest: inbound jobs processed in the REVERSE of their receipt order still hand their outputs
 * to the delivery lanes in receipt order. (Without the sequencer the hand-off order would be reversed.)
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { loadMappings } from '../../src/mapping/index.js';
import { processInbound } from '../../src/flows/inbound/inbound-processor.js';
import { markReady, sequencerStatus } from '../../src/flows/inbound/sequencer.js';
import type { InboundJobData } from '../../src/flows/inbound/inbound.js';
import { MessageStore } from '../../src/state/message-store.js';
import { createLogger } from '../../src/logging.js';
import { startHarness, TEST_SERVICE_ID, type Harness } from '../helpers/harness.js';

const FIXTURE = JSON.parse(readFileSync('test/fixtures/referral-111-to-ed.json', 'utf8')) as { id: string; entry: Array<{ resource: { destination?: Array<{ endpoint: string }> } }> };

describe('receipt-order sequencer', function () {
  let h: Harness;
  let redis: Redis;
  before(async function () {
    h = await startHarness({ worker: false });
    redis = new Redis(h.config.redis.url);
  });
  after(async function () {
    redis.disconnect();
    await h.close();
  });

  it('hands outputs to the lanes in receipt order when mapping finishes in reverse order', async function () {
    const prefix = h.config.redis.prefix;
    const messageIds: string[] = [];
    for (let i = 0; i < 6; i++) {
      const b = structuredClone(FIXTURE);
      b.id = randomUUID();
      b.entry[0]!.resource.destination![0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
      const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, JSON.stringify(b));
      assert.equal(res.status, 200);
      const sr = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; id: string } }> }).entry.find((e) => e.resource.resourceType === 'ServiceRequest')!.resource.id;
      const state = JSON.parse((await redis.hget(`${prefix}:rec:ServiceRequest:${sr}`, 'state'))!) as { latestMessageId: string };
      messageIds.push(state.latestMessageId);
    }
    const handedOff: string[] = [];
    const registry = loadMappings('mappings');
    const deps = {
      store: new MessageStore(redis, prefix),
      log: createLogger('silent'),
      mappings: () => registry,
      destinations: new Set(['pas']),
      sequencer: { redis, prefix, handOff: async (outputs: ReadonlyArray<{ messageId: string }>) => void handedOff.push(...outputs.map((o) => o.messageId)) },
      now: () => new Date('2026-11-23T10:00:00Z'),
      attempts: 10,
    };
    for (const id of [...messageIds].reverse()) {
      const job = { id: `msg-${id}`, data: { messageId: id, workflow: 'referral-new', requestId: randomUUID(), correlationId: randomUUID() }, attemptsMade: 0 } as unknown as Job<InboundJobData>;
      await processInbound(job, deps);
    }
    const firstSeen = [...new Set(handedOff)];
    assert.deepEqual(firstSeen, messageIds, 'lanes receive the messages in receipt order');
    assert.equal(handedOff.length, messageIds.length * 2, 'each 111→ED referral has two outputs (ADT^A05, REF^I12)');
  });

  it('a message rendered again after its number was flushed reaches the lanes at its receipt position and leaves no phantom "mapped and waiting" count', async function () {
    // What bull-board's Retry did (and a job re-run after its number was released still can): render the message
    // again once the flusher has passed its number. Marking that number ready left an entry nothing ever reads.
    const prefix = h.config.redis.prefix;
    const b = structuredClone(FIXTURE);
    b.id = randomUUID();
    b.entry[0]!.resource.destination![0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, JSON.stringify(b));
    assert.equal(res.status, 200);
    const sr = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; id: string } }> }).entry.find((e) => e.resource.resourceType === 'ServiceRequest')!.resource.id;
    const messageId = (JSON.parse((await redis.hget(`${prefix}:rec:ServiceRequest:${sr}`, 'state'))!) as { latestMessageId: string }).latestMessageId;
    const handed: Array<{ mode: string; deliveryId: string; record?: string; order?: number }> = [];
    const registry = loadMappings('mappings');
    const deps = {
      store: new MessageStore(redis, prefix),
      log: createLogger('silent'),
      mappings: () => registry,
      destinations: new Set(['pas']),
      sequencer: {
        redis,
        prefix,
        handOff: async (outputs: ReadonlyArray<{ deliveryId: string; record?: string; order?: number }>, mode: string) =>
          void handed.push(...outputs.map((o) => ({ mode, deliveryId: o.deliveryId, ...(o.record ? { record: o.record } : {}), ...(o.order !== undefined ? { order: o.order } : {}) }))),
      },
      now: () => new Date('2026-11-23T10:00:00Z'),
      attempts: 10,
    };
    const job = { id: `msg-${messageId}`, data: { messageId, workflow: 'referral-new', requestId: randomUUID(), correlationId: randomUUID() }, attemptsMade: 0 } as unknown as Job<InboundJobData>;
    await processInbound(job, deps);
    assert.deepEqual(handed.map((x) => x.mode), ['tail', 'tail'], 'first render: through the flusher');
    const outputs = await redis.smembers(`${prefix}:msg:${messageId}:outputs`);
    await redis.del(...outputs.map((id) => `${prefix}:out:${id}:meta`)); // a re-render, not a replay of the stored output
    await processInbound(job, deps); // the retry
    assert.deepEqual(handed.slice(2).map((x) => x.mode), ['position', 'position'], 'the re-render goes to the lanes at its receipt position');
    assert.deepEqual(handed.slice(2).map((x) => x.order), handed.slice(0, 2).map((x) => x.order), 'same receipt positions');
    assert.equal(handed[2]!.record, `ServiceRequest/${sr}`);
    const seq = Number(await redis.get(`${prefix}:msg:${messageId}:seq`));
    assert.equal(await redis.hexists(`${prefix}:seq:ready`, String(seq)), 0, 'no ready mark behind the cursor');
    assert.equal(await redis.hlen(`${prefix}:seq:ready`), 0);
    assert.equal((await sequencerStatus(redis, prefix)).ready, 0, 'no phantom "mapped and waiting" count');
    // And the sequencer itself refuses a number the cursor has passed, whoever calls it.
    assert.equal(await markReady({ redis, prefix }, seq, []), false);
    assert.equal(await redis.hlen(`${prefix}:seq:ready`), 0);
  });
});
