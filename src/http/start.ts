/*
 * The web side of the service: the mutual-TLS BaRS listener, serving the receiver app over the given store and
 * inbound queue. Its stop is the first step of a graceful stop: stop accepting, finish the requests in flight (each is
 * stored and its job queued before its 200) before the workers and queues behind them close.
 */
import type { Queue } from 'bullmq';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { listenAs, type ListenerName } from '../listen-errors.js';
import type { MessageStore } from '../state/message-store.js';
import type { InboundJobData } from '../flows/inbound/inbound.js';
import { onSighup, type Stoppable } from '../lifecycle.js';
import { createApp } from './app.js';
import { createDiary } from '../flows/diary/start.js';
import { destinationsOf } from '../config/destinations.js';
import { listenReceiver, type ReceiverServer } from './server.js';

export const RECEIVER_LISTENER: ListenerName = { what: 'BaRS listener', portVariable: 'BARS_PORT', hostVariable: 'BARS_HOST' };

export interface Receiver extends Stoppable {
  readonly server: ReceiverServer;
}

export async function startReceiver(deps: {
  config: Readonly<Config>;
  store: MessageStore;
  inbound: Queue<InboundJobData>;
  log: Logger;
  metrics: Metrics;
}): Promise<Receiver> {
  const { config, log } = deps;
  // The PAS diary behind GET /Slot and the booking check (src/flows/diary/), read from Redis as the worker keeps it.
  const diary = createDiary({ config, destinations: destinationsOf(config), redis: deps.store.redis, store: deps.store, log });
  const app = createApp({ ...deps, diary, now: () => new Date() });
  const server = await listenAs(RECEIVER_LISTENER, config.http.host, config.http.port, () => listenReceiver(
    app,
    {
      host: config.http.host,
      port: config.http.port,
      tls: { cert: config.tls.cert!, key: config.tls.key!, ca: config.tls.ca! },
      allow: config.tls.allow,
      keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
      handshakeTimeoutMs: config.http.handshakeTimeoutMs,
      maxConnections: config.http.maxConnections,
    },
    log,
  ));
  // Certificates are re-read on SIGHUP (a renewed certificate without a restart).
  const sighup = onSighup(() => server.reload());
  log.info({ port: server.port, host: config.http.host, services: config.service.ids }, 'BaRS receiver listening (mutual TLS)');
  let closing: Promise<void> | undefined;
  return {
    server,
    stop: () => (closing ??= sighup.stop().then(() => server.close(config.http.requestTimeoutMs + 1000))),
  };
}
