/*
 * Asynchronous BaRS responses, wired from the configuration: the `responses` queue (always, so events can be queued
 * by any process) and, in worker processes with the proxy configured, the token client, the proxy client and the
 * worker. runtime.ts calls startResponses() and pushes its close() on the shutdown stack.
 */
import type { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../logging.js';
import type { MessageStore } from '../../state/message-store.js';
import { createHttpPost, type HttpTransportOptions } from './http.js';
import { createProxyClient, type ProxyClient } from './proxy-client.js';
import { createResponseQueue, startResponseWorker, type BackoffOptions, type ResponseQueueDeps, type ResponseWorker } from './queue.js';
import { createTokenClient, readKeyMaterial } from './token.js';

export { enqueueResponse, enqueueResponsesFor, processResponse, startResponseWorker, createResponseQueue, RESPONSES_QUEUE } from './queue.js';
export type { ResponseEvent, ResponseKind } from '../../protocol/bars/response-events.js';
export { responsesFor, loadRules } from './rules.js';
export { buildResponse } from './builder.js';
export { checkResponseBundle } from './check.js';

export interface StartResponsesOptions {
  readonly config: Readonly<Config>;
  /** Store on the producer connection (enqueueing, response records). */
  readonly store: MessageStore;
  /** Start the worker (worker processes only). */
  readonly worker: boolean;
  /** Blocking connection for the worker (createWorkerConnection). */
  readonly workerConnection?: Redis;
  readonly log: Logger;
  /** Extra CA / client certificate for the proxy and token endpoint (INT: the NHS INT CA). */
  readonly transport?: HttpTransportOptions;
  readonly acceptVersion?: string;
  readonly attempts?: number;
  readonly backoff?: BackoffOptions;
  readonly timeoutMs?: number;
  /** Counts failed lane sweeper passes (bars_bridge_background_failures_total). */
  readonly failures?: Counter<'loop'>;
}

export interface Responses {
  /** Pass to enqueueResponse / enqueueResponsesFor. */
  readonly deps: ResponseQueueDeps;
  readonly worker?: ResponseWorker;
  close(): Promise<void>;
}

/** Creates the queue, and the sender and worker when asked for and configured. */
export function startResponses(options: StartResponsesOptions): Responses {
  const { config, store, log } = options;
  const queue = createResponseQueue(store.redis, store.prefix, { attempts: options.attempts });
  queue.on('error', () => undefined); // errors reach the caller of enqueue (who answers for them); the event would be noise
  const deps: ResponseQueueDeps = { store, queue, log };
  const proxy = config.proxy;
  let worker: ResponseWorker | undefined;
  let client: ProxyClient | undefined;
  if (options.worker) {
    if (!proxy.url || !proxy.tokenUrl || !proxy.clientId || !proxy.kid || !proxy.privateKey || !options.workerConnection) {
      log.warn({ configured: Object.keys(proxy) }, 'BaRS proxy not configured (BARS_PROXY_URL, BARS_TOKEN_URL, BARS_CLIENT_ID, BARS_KID, BARS_PRIVATE_KEY): responses are queued but not sent');
    } else {
      const post = createHttpPost(options.transport);
      const token = createTokenClient({ tokenUrl: proxy.tokenUrl, clientId: proxy.clientId, kid: proxy.kid, privateKey: readKeyMaterial(proxy.privateKey), post, log });
      client = createProxyClient({
        proxyUrl: proxy.url,
        token,
        organisation: { odsCode: config.service.odsCode, name: config.service.name },
        acceptVersion: options.acceptVersion,
        timeoutMs: options.timeoutMs,
        post,
        log,
      });
      worker = startResponseWorker({ ...deps, connection: options.workerConnection, sender: client, service: config.service, log, backoff: options.backoff, ...(options.failures ? { failures: options.failures } : {}) });
      log.info({ proxy: proxy.url }, 'responses worker started');
    }
  }
  return {
    deps,
    worker,
    close: async () => {
      await worker?.close();
      await queue.close();
      client?.close();
    },
  };
}
