/*
 * The worker process type's half of the composition root (runtime.ts composes the rest): the flows that work behind
 * the acknowledgement — delivery lanes, responses, PAS events, the diary and the inbound worker — joined where one
 * flow's event is another's input. Started in the order a message needs them (lanes before the worker that feeds
 * them), so stopped in the reverse: the inbound worker first, the lanes last.
 */
import type { Queue } from 'bullmq';
import type { Config } from './config/schema.js';
import { destinationsOf } from './config/destinations.js';
import type { Logger } from './logging.js';
import type { StopStack } from './lifecycle.js';
import type { Metrics } from './metrics.js';
import { createWorkerConnection } from './state/redis.js';
import { MessageStore } from './state/message-store.js';
import type { InboundJobData } from './flows/inbound/inbound.js';
import { startInbound } from './flows/inbound/start.js';
import { startDelivery } from './flows/delivery/start.js';
import { pasEventRulesOf, startPasEvents } from './flows/pas-events/start.js';
import type { StatusEvent } from './flows/pas-events/processor.js';
import { startResponseFlow } from './flows/responses/start.js';
import { enqueueResponsesFor } from './flows/responses/index.js';
import { bookingRefusalHook, createDiary, diaryObservations } from './flows/diary/start.js';

export interface WorkerDeps {
  readonly config: Readonly<Config>;
  /** The producer's store: responses are queued and recorded on it. */
  readonly store: MessageStore;
  readonly inbound: Queue<InboundJobData>;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** TLS trust for a proxy that is not the configured one (the development mock proxy). */
  readonly proxyTransport?: { ca: string };
  /** Every status change applied from a PAS event (tests subscribe through Running.onStatus). */
  readonly onStatus: (event: StatusEvent) => void;
}

export interface Worker {
  readonly pasEventsPort: number | undefined;
  /** Queues the admin dashboard and gauges show besides `inbound`. */
  readonly queues: readonly Queue[];
  isRunning(): boolean;
  readonly diary: ReturnType<typeof diaryObservations>;
}

export async function startWorker(deps: WorkerDeps, stack: StopStack): Promise<Worker> {
  const { config, store, metrics, log } = deps;
  const redis = createWorkerConnection(config.redis);
  stack.push('redis (worker)', () => redis.quit());
  const workerStore = new MessageStore(redis, config.redis.prefix);
  const destinations = destinationsOf(config);
  // The diary (issue 17): fed by PAS events, told of bookings the PAS refused, watched by the alerts.
  const diary = createDiary({ config, destinations, redis, store: workerStore, log });
  const refusals: { respond?: (messageId: string, eventId: string) => Promise<void> } = {};
  const onDeadLetter = bookingRefusalHook(diary, workerStore, () => refusals.respond);
  stack.push('delivery lanes', await startDelivery({ config, redis, destinations, log, metrics, onDeadLetter }));
  const pasRules = pasEventRulesOf(config);
  const responses = startResponseFlow({ config, store, redis, log, metrics, pasEvents: pasRules, ...(deps.proxyTransport ? { transport: deps.proxyTransport } : {}) });
  stack.push('responses', () => responses.close());
  refusals.respond = async (messageId, eventId) => void (await enqueueResponsesFor(responses.deps, { messageId, event: { type: 'delivery-failed', eventId } }));
  const pasEvents = await startPasEvents({
    config,
    rules: pasRules.rules,
    producer: store.redis,
    redis,
    log,
    metrics,
    onStatus: async (event, record) => {
      deps.onStatus(event);
      await responses.respondTo(event, record);
    },
    onMessage: (text) => diary.applyMessage(text),
  });
  stack.push('PAS events', pasEvents);
  const inbound = await startInbound({ config, redis, queue: deps.inbound, destinations: new Set(destinations.map((d) => d.name)), log, metrics });
  stack.push('inbound', inbound);
  log.info('worker started');
  return {
    pasEventsPort: pasEvents.port,
    queues: [responses.deps.queue],
    isRunning: () => inbound.isRunning(),
    diary: diaryObservations(diary, metrics, config.alerts.deadLetterWindowHours),
  };
}
