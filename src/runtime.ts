/*
 * The composition root: starts the parts a process type runs — `web` (the mutual-TLS listener), `worker` (the flows'
 * workers and loops), or both for a single-machine trust (`npm start`) — and nothing else. Each part owns its queue,
 * worker, loops and keys (src/flows/*); everything started is stopped in reverse order (lifecycle.ts).
 */
import type { Config } from './config/schema.js';
import { destinationsOf } from './config/destinations.js';
import { loadConfig } from './config/load.js';
import { unknownVariables } from './config/variables.js';
import { createLogger, type Logger } from './logging.js';
import { StopStack } from './lifecycle.js';
import { createMetrics } from './metrics.js';
import { devDefaults, startDevPeers, type DevPeers } from './dev/wiring.js';
import { startReceiver, type Receiver } from './http/start.js';
import { connectProducer, createWorkerConnection } from './state/redis.js';
import { MessageStore } from './state/message-store.js';
import { createInboundQueue } from './flows/inbound/inbound.js';
import { startInbound } from './flows/inbound/start.js';
import { startDelivery } from './flows/delivery/start.js';
import { pasEventRulesOf, startPasEvents } from './flows/pas-events/start.js';
import type { StatusEvent } from './flows/pas-events/processor.js';
import { startResponseFlow } from './flows/responses/start.js';
import { listenerErrorWindow } from './ops/alerts.js';
import { startOps } from './ops/start.js';
import { bookingRefusalHook, createDiary, diaryObservations } from './flows/diary/start.js';
import { enqueueResponsesFor } from './flows/responses/index.js';

export { shutdownOnSignals } from './lifecycle.js';
export { DEV_SLOTS } from './dev/wiring.js';

export interface Running {
  readonly config: Readonly<Config>;
  readonly log: Logger;
  readonly receiver?: Receiver['server'];
  readonly adminPort?: number;
  /** The PAS simulator of a development worker (tests read what it received). */
  readonly pasSimulator?: DevPeers['pasSimulator'];
  readonly pasEventsPort?: number;
  /** The development mock BaRS proxy (tests read what it received). */
  readonly mockProxy?: DevPeers['mockProxy'];
  /** Subscribes to status changes applied from PAS events (tests, responses). */
  onStatus(listener: (event: StatusEvent) => void): void;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly web: boolean;
  readonly worker: boolean;
  /** Admin server (health, readiness, metrics, dashboard); on by default. */
  readonly admin?: boolean;
  readonly config?: Readonly<Config>;
  readonly log?: Logger;
}

export async function start(options: StartOptions): Promise<Running> {
  let config = options.config ?? loadConfig();
  const log = options.log ?? createLogger(config.logLevel);
  // Production refused these in loadConfig; elsewhere a misspelt variable is worth a warning, not a stop.
  const unknown = options.config ? [] : unknownVariables(process.env);
  if (unknown.length > 0) {
    log.warn({ variables: unknown }, 'unknown environment variables ignored (misspelt? README "Configuration" lists them); production refuses to start with them');
  }
  const stack = new StopStack();
  try {
    config = config.env === 'production' ? config : await devDefaults(config, log, stack);
    const producer = await connectProducer(config.redis, log, stack);
    const store = new MessageStore(producer, config.redis.prefix);
    const inbound = createInboundQueue(producer, config.redis.prefix);
    inbound.on('error', () => undefined); // Redis errors reach the request that hit them (503); the event would be noise
    stack.push('inbound queue', () => inbound.close());
    const metrics = createMetrics();
    const statusListeners: Array<(e: StatusEvent) => void> = [];
    const receiver = options.web
      ? await startReceiver({ config, store, inbound, log, metrics, diary: createDiary({ config, destinations: destinationsOf(config), redis: producer, store, log }) })
      : undefined;
    if (receiver) {
      stack.push('receiver', receiver);
    }
    let worker:
      | { peers: DevPeers; pasEventsPort: number | undefined; queues: ReturnType<typeof startResponseFlow>['deps']['queue'][]; running: () => boolean; diary: ReturnType<typeof diaryObservations> }
      | undefined;
    if (options.worker) {
      const peers: DevPeers = config.env === 'production' ? { config } : await startDevPeers(config, log, stack);
      config = peers.config;
      const redis = createWorkerConnection(config.redis);
      stack.push('redis (worker)', () => redis.quit());
      const destinations = destinationsOf(config);
      // The diary (issue 17): fed by PAS events, told of bookings the PAS refused, watched by the alerts.
      const diary = createDiary({ config, destinations, redis, store: new MessageStore(redis, config.redis.prefix), log });
      const refusals: { respond?: (messageId: string, eventId: string) => Promise<void> } = {};
      const onDeadLetter = bookingRefusalHook(diary, new MessageStore(redis, config.redis.prefix), () => refusals.respond);
      stack.push('delivery lanes', await startDelivery({ config, redis, destinations, log, onDeadLetter, metrics }));
      const pasRules = pasEventRulesOf(config);
      const responses = startResponseFlow({ config, store, redis, log, metrics, pasEvents: pasRules, ...(peers.proxyTransport ? { transport: peers.proxyTransport } : {}) });
      stack.push('responses', () => responses.close());
      refusals.respond = async (messageId, eventId) => void (await enqueueResponsesFor(responses.deps, { messageId, event: { type: 'delivery-failed', eventId } }));
      const onStatus = async (event: StatusEvent, record: Parameters<typeof responses.respondTo>[1]): Promise<void> => {
        statusListeners.forEach((l) => l(event));
        await responses.respondTo(event, record);
      };
      const pasEvents = await startPasEvents({ config, rules: pasRules.rules, producer, redis, log, metrics, onStatus, onMessage: (text) => diary.applyMessage(text) });
      stack.push('PAS events', pasEvents);
      const flow = await startInbound({ config, redis, queue: inbound, destinations: new Set(destinations.map((d) => d.name)), log, metrics });
      stack.push('inbound', flow);
      worker = { peers, pasEventsPort: pasEvents.port, queues: [responses.deps.queue], running: () => flow.isRunning(), diary: diaryObservations(diary, metrics, config.alerts.deadLetterWindowHours) };
      log.info('worker started');
    }
    const ops = await startOps({
      config,
      redis: producer,
      store,
      queues: [inbound, ...(worker?.queues ?? [])],
      metrics,
      log,
      checks: worker ? [{ name: 'inbound worker', ok: worker.running }] : [],
      ...(receiver ? { listenerErrors: listenerErrorWindow(metrics.requests, config.alerts.errorWindowSeconds) } : {}),
      roles: { web: options.web, worker: options.worker },
      ...(worker ? { diary: worker.diary } : {}),
      admin: options.admin !== false,
    });
    stack.push('ops', ops);
    if (receiver) {
      // Graceful stop starts here (last pushed, first popped): stop accepting connections and let the requests in
      // flight finish BEFORE the workers and queues behind them close, so nothing acknowledged is left half-done.
      stack.push('receiver (stop accepting, finish requests in flight)', receiver);
    }
    return {
      config,
      log,
      adminPort: ops.adminPort,
      pasEventsPort: worker?.pasEventsPort,
      ...(receiver ? { receiver: receiver.server } : {}),
      ...(worker?.peers.pasSimulator ? { pasSimulator: worker.peers.pasSimulator } : {}),
      ...(worker?.peers.mockProxy ? { mockProxy: worker.peers.mockProxy } : {}),
      onStatus: (listener) => void statusListeners.push(listener),
      stop: () => stack.stopAll(log, 10_000),
    };
  } catch (err) {
    await stack.stopAll(log, 5000);
    throw err;
  }
}
