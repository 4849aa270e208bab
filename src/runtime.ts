/*
 * The composition root: starts the parts a process type runs — `web` (the mutual-TLS listener), `worker` (the flows'
 * workers and loops), or both for a single-machine trust (`npm start`) — and nothing else. Each part owns its queue,
 * worker, loops and keys (src/flows/*); everything started is stopped in reverse order (lifecycle.ts).
 */
import type { Config } from './config/schema.js';
import { loadConfig } from './config/load.js';
import { unknownVariables } from './config/variables.js';
import { createLogger, type Logger } from './logging.js';
import { StopStack } from './lifecycle.js';
import { createMetrics } from './metrics.js';
import { devDefaults, startDevPeers, type DevPeers } from './dev/wiring.js';
import { startReceiver, type Receiver } from './http/start.js';
import { connectProducer } from './state/redis.js';
import { MessageStore } from './state/message-store.js';
import { startWorker } from './worker.js';
import { createInboundQueue } from './flows/inbound/inbound.js';
import type { StatusEvent } from './flows/pas-events/processor.js';
import { listenerErrorWindow } from './ops/alerts.js';
import { startOps } from './ops/start.js';

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
    const receiver = options.web ? await startReceiver({ config, store, inbound, log, metrics }) : undefined;
    if (receiver) {
      stack.push('receiver', receiver);
    }
    let peers: DevPeers = { config };
    if (options.worker && config.env !== 'production') {
      peers = await startDevPeers(config, log, stack);
      config = peers.config;
    }
    const worker = options.worker
      ? await startWorker({ config, store, inbound, metrics, log, onStatus: (e) => statusListeners.forEach((l) => l(e)), ...(peers.proxyTransport ? { proxyTransport: peers.proxyTransport } : {}) }, stack)
      : undefined;
    const ops = await startOps({
      config,
      redis: producer,
      store,
      queues: [inbound, ...(worker?.queues ?? [])],
      metrics,
      log,
      checks: worker ? [{ name: 'inbound worker', ok: () => worker.isRunning() }] : [],
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
      ...(peers.pasSimulator ? { pasSimulator: peers.pasSimulator } : {}),
      ...(peers.mockProxy ? { mockProxy: peers.mockProxy } : {}),
      onStatus: (listener) => void statusListeners.push(listener),
      stop: () => stack.stopAll(log, 10_000),
    };
  } catch (err) {
    await stack.stopAll(log, 5000);
    throw err;
  }
}
