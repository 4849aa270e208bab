/*
 * Test environment for the responses: the real receiver (harness) on the run's Redis, the mock proxy, a signing key,
 * the responses queue and worker wired the way runtime.ts would, with short timeouts and backoff.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { startHarness, TEST_SERVICE_ID, type Harness } from '../../helpers/harness.js';
import { startMockProxy, type MockProxy } from '../../../src/dev/mock-proxy.js';
import { createLogger } from '../../../src/logging.js';
import { createProducerConnection, createWorkerConnection } from '../../../src/state/redis.js';
import { MessageStore } from '../../../src/state/message-store.js';
import { createHttpPost } from '../../../src/flows/responses/http.js';
import { createProxyClient, type ProxyClient } from '../../../src/flows/responses/proxy-client.js';
import { createResponseQueue, startResponseWorker, type ResponseJobData, type ResponseQueueDeps, type ResponseWorker } from '../../../src/flows/responses/queue.js';
import { ResponseStore, TERMINAL, type ResponseRecord } from '../../../src/state/response-store.js';
import { createTokenClient } from '../../../src/flows/responses/token.js';
import type { Bundle, StoredMessage } from '../../../src/protocol/bars/types.js';
import { IG_EXAMPLES_DIR } from '../../external/nhs-material.js';

export const EXAMPLES = IG_EXAMPLES_DIR;
export const ATTEMPTS = 5;

export interface ResponsesEnv {
  readonly h: Harness;
  readonly proxy: MockProxy;
  readonly store: MessageStore;
  readonly responses: ResponseStore;
  readonly queue: Queue<ResponseJobData>;
  readonly deps: ResponseQueueDeps;
  readonly worker: ResponseWorker;
  readonly client: ProxyClient;
  /** Posts an NHS example request to the receiver; returns the stored message. */
  receive(name: string): Promise<StoredMessage>;
  waitFinished(responseId: string, timeoutMs?: number): Promise<ResponseRecord>;
  close(): Promise<void>;
}

export async function startResponsesEnv(): Promise<ResponsesEnv> {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const proxy = await startMockProxy({ publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string, clientId: 'bars-bridge-test', kid: 'kid-1' });
  const h = await startHarness();
  const settings = { url: process.env.TEST_REDIS_URL!, commandTimeoutMs: 2000 };
  const producer: Redis = createProducerConnection(settings);
  const workerConnection: Redis = createWorkerConnection(settings);
  const prefix = h.config.redis.prefix;
  const store = new MessageStore(producer, prefix);
  const queue = createResponseQueue(producer, prefix, { attempts: ATTEMPTS });
  queue.on('error', () => undefined);
  const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'responses-test');
  const post = createHttpPost({ ca: proxy.ca });
  const token = createTokenClient({
    tokenUrl: proxy.tokenUrl,
    clientId: 'bars-bridge-test',
    kid: 'kid-1',
    privateKey: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    post,
    log,
  });
  const client = createProxyClient({ proxyUrl: proxy.url, token, organisation: { odsCode: h.config.service.odsCode, name: h.config.service.name }, post, timeoutMs: 1500, log });
  const deps: ResponseQueueDeps = { store, queue, log };
  const worker = startResponseWorker({
    ...deps,
    connection: workerConnection,
    sender: client,
    service: h.config.service,
    log,
    concurrency: 16,
    backoff: { baseMs: 25, maxMs: 250 },
    sweepIntervalMs: 60_000,
  });
  const responses = new ResponseStore(store);

  return {
    h,
    proxy,
    store,
    responses,
    queue,
    deps,
    worker,
    client,
    async receive(name) {
      const bundle = JSON.parse(readFileSync(`${EXAMPLES}/${name}.json`, 'utf8')) as Bundle;
      bundle.id = randomUUID();
      const header = bundle.entry![0]!.resource as unknown as { destination: Array<{ endpoint: string }> };
      header.destination[0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
      const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, JSON.stringify(bundle));
      if (res.status !== 200) {throw new Error(`receiver answered ${res.status}: ${res.body}`);}
      const body = JSON.parse(res.body) as Bundle;
      const sr = body.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource!;
      const record = await store.getRecord('ServiceRequest', sr.id!);
      return (await store.getMessage(record!.latestMessageId))!;
    },
    async waitFinished(responseId, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = await responses.get(responseId);
        if (r && TERMINAL.has(r.state)) {return r;}
        if (Date.now() > until) {throw new Error(`response ${responseId} not finished (state ${r?.state})`);}
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      await worker.close();
      await queue.close();
      client.close();
      await h.close();
      await proxy.close();
      producer.disconnect();
      workerConnection.disconnect();
    },
  };
}

/**
 * Posts a request the way a BaRS sender does, retrying 503/425 with the same X-Request-Id (Sender-responsibilities):
 * the receiver answers 503 when its Redis is slower than its command timeout, which happens on a loaded test machine.
 * @returns the 200 body.
 */
export async function postAsSender(h: Harness, bundle: Bundle): Promise<Bundle> {
  const headers = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
  for (let attempt = 1; ; attempt++) {
    const res = await h.send('POST', '/$process-message', headers, JSON.stringify(bundle));
    if (res.status === 200) {
      return JSON.parse(res.body) as Bundle;
    }
    if (![503, 425].includes(res.status) || attempt >= 5) {
      throw new Error(`receiver answered ${res.status}: ${res.body}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
  }
}

export const decode = (b64: string): unknown => JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
