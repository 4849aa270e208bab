import { strict as assert } from 'node:assert';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../../../src/config/schema.js';
import type { Bundle } from '../../../src/protocol/bars/types.js';
import { startMockProxy } from '../../../src/dev/mock-proxy.js';
import { createLogger } from '../../../src/logging.js';
import { startResponses, enqueueResponsesFor } from '../../../src/flows/responses/index.js';
import { ResponseStore } from '../../../src/state/response-store.js';
import { MessageStore } from '../../../src/state/message-store.js';
import { createProducerConnection, createWorkerConnection } from '../../../src/state/redis.js';
import { startHarness, TEST_SERVICE_ID } from '../../helpers/harness.js';
import { EXAMPLES, postAsSender } from './env.js';

describe('responses: startResponses wiring from the configuration', function () {
  this.timeout(30_000);

  it('without proxy settings queues but does not start a worker; with them, sends', async function () {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const proxy = await startMockProxy({ publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string, clientId: 'wired', kid: 'k' });
    const h = await startHarness();
    const settings = { url: process.env.TEST_REDIS_URL!, commandTimeoutMs: 2000 };
    const producer = createProducerConnection(settings);
    const workerConnection = createWorkerConnection(settings);
    const store = new MessageStore(producer, h.config.redis.prefix);
    const log = createLogger('silent');
    try {
      const unconfigured = startResponses({ config: h.config, store, worker: true, workerConnection, log });
      assert.equal(unconfigured.worker, undefined);
      await unconfigured.close();

      const config = { ...h.config, proxy: { url: proxy.url, tokenUrl: proxy.tokenUrl, clientId: 'wired', kid: 'k', privateKey: keys.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string } } as Readonly<Config>;
      const responses = startResponses({ config, store, worker: true, workerConnection, log, transport: { ca: proxy.ca }, backoff: { baseMs: 20, maxMs: 100 } });
      const bundle = JSON.parse(readFileSync(`${EXAMPLES}/validation-request_new_999-to-CAS_APP4_VALREQ01.json`, 'utf8')) as Bundle;
      bundle.id = randomUUID();
      (bundle.entry![0]!.resource as unknown as { destination: Array<{ endpoint: string }> }).destination[0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
      const sr = (await postAsSender(h, bundle)).entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource!;
      const messageId = (await store.getRecord('ServiceRequest', sr.id!))!.latestMessageId;
      const [queued] = await enqueueResponsesFor(responses.deps, { messageId, event: { type: 'validation-picked-up' } });
      const rs = new ResponseStore(store);
      const until = Date.now() + 10_000;
      while ((await rs.get(queued!.responseId))?.state !== 'delivered' && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal((await rs.get(queued!.responseId))?.state, 'delivered');
      assert.equal(proxy.requests.length, 1);
      await responses.close();
    } finally {
      await h.close();
      await proxy.close();
      producer.disconnect();
      workerConnection.disconnect();
    }
  });
});
