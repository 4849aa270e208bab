/*
 * What ops see of one process: the admin server (/healthz, /readyz, /metrics, the dashboard) and the alert rules
 * evaluated over the observations the flows of this process can make.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import { destinationsOf } from '../config/destinations.js';
import type { Logger } from '../logging.js';
import { StopStack, type Stoppable } from '../lifecycle.js';
import type { MessageStore } from '../state/message-store.js';
import { createAdminApp, listenAdmin } from './admin.js';
import { parseCredentials } from './admin-auth.js';
import { startAlertWebhook } from './alert-webhook.js';
import { recordAlertChanges } from './alert-history.js';
import { reportFailure } from '../background.js';
import { certificateExpiries, deadLetterObservations, laneObservations, redisObservation, startAlerts, type AlertChange, type AlertSources } from './alerts.js';
import { listenAs, type ListenerName } from '../listen-errors.js';
import type { Metrics } from '../metrics.js';

export const ADMIN_LISTENER: ListenerName = {
  what: 'admin',
  portVariable: 'ADMIN_PORT',
  hostVariable: 'ADMIN_HOST',
  inUseHint: 'each process on a host needs its own (deploy/web.env 9090, deploy/worker.env 9091)',
};

export interface OpsDeps {
  readonly config: Readonly<Config>;
  readonly redis: Redis;
  readonly store: MessageStore;
  readonly queues: readonly Queue[];
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly checks: ReadonlyArray<{ name: string; ok: () => boolean }>;
  /** The web process's listener error window (alerts.ts listenerErrorWindow). */
  readonly listenerErrors?: AlertSources['listener'];
  /** Whether this process holds the server certificate (web) and the proxy client certificate (worker). */
  readonly roles: { readonly web: boolean; readonly worker: boolean };
  /** Start the admin server (default on). */
  readonly admin: boolean;
  /** The worker's diary observation (src/flows/diary/start.ts diaryObservations). */
  readonly diary?: AlertSources['diary'];
}

export interface Ops extends Stoppable {
  readonly adminPort: number | undefined;
}

export async function startOps(deps: OpsDeps): Promise<Ops> {
  const { config, log, metrics } = deps;
  const stack = new StopStack();
  let adminPort: number | undefined;
  if (deps.admin) {
    const admin = await listenAs(ADMIN_LISTENER, config.admin.host, config.admin.port, () => listenAdmin(
      createAdminApp({
        redis: deps.redis,
        queues: deps.queues,
        metrics,
        log,
        credentials: parseCredentials(config.admin.token, config.admin.tokens),
        allowedHosts: config.admin.allowedHosts,
        production: config.env === 'production',
        checks: deps.checks,
        store: deps.store,
        destinations: destinationsOf(config).map((d) => d.name),
        console: { mappingsDir: config.mappingsDir, pasEventsRetentionDays: config.pasEvents.retentionDays, alerts: config.alerts },
      }),
      config.admin.host,
      config.admin.port,
    ));
    adminPort = admin.port;
    stack.push('admin server', () => admin.close());
    log.info({ port: admin.port, host: config.admin.host }, 'admin server listening (/healthz /readyz /metrics /queues)');
  }
  if (config.alerts.enabled) {
    // Certificates in every process: the web process holds the server certificate, the worker the proxy client one.
    const certs = [
      { name: 'server', pem: deps.roles.web ? config.tls.cert : undefined },
      { name: 'proxy-client', pem: deps.roles.worker ? config.proxy.clientCert : undefined },
    ];
    const prefix = config.redis.prefix;
    const lanes = destinationsOf(config).map((d) => d.name);
    // Lanes, dead letters and Redis durability are watched by the worker, which holds them; the web process watches
    // its listener's errors. Either reads shared state from Redis, so one of each per deployment is enough.
    const sources: AlertSources = {
      ...(deps.roles.worker
        ? {
            lanes: () => laneObservations({ redis: deps.redis, prefix }, lanes),
            deadLetters: () => deadLetterObservations(deps.redis, prefix, config.alerts.deadLetterWindowHours),
            redis: redisObservation(deps.redis),
          }
        : {}),
      ...(deps.listenerErrors ? { listener: deps.listenerErrors } : {}),
      ...(deps.diary ? { diary: deps.diary } : {}),
      certificates: () => certificateExpiries(certs),
    };
    const url = config.alerts.webhookUrl;
    const webhook = url ? startAlertWebhook({ url, log }) : undefined;
    if (webhook) {
      stack.push('alert webhook', () => webhook.close());
    }
    // Every change goes to the webhook (when set) and to the history the console shows (any process's console).
    const onChanges = (changes: readonly AlertChange[], at: number): void => {
      webhook?.notify(changes, at);
      recordAlertChanges(deps.redis, config.redis.prefix, changes, at).catch((err: unknown) => reportFailure({ log, failures: metrics.backgroundFailures }, 'alert-history', err));
    };
    const alerts = startAlerts({ rules: config.alerts, sources, log, metrics, onChanges });
    stack.push('alerts', alerts);
  }
  return { adminPort, stop: () => stack.stopAll(log, 10_000) };
}
