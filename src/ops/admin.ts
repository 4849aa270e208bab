/*
 * The admin server, separate from the mTLS listener: /healthz (process alive), /readyz (Redis reachable and durable,
 * workers running; for a credential holder also each destination's link state), /metrics (Prometheus), the message
 * trace and the read-only queue dashboard. Every route but
 * /healthz and /readyz needs a named credential when any is configured (always in production); see admin-auth.ts.
 * The operations console (src/console/) is mounted at `/` with its own login.
 */
import http from 'node:http';
import express from 'express';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { reportFailure } from '../background.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { MessageStore } from '../state/message-store.js';
import { trace } from './trace.js';
import { authenticate, browserGuard, callerOf, credentialFor, requireOperatorForChanges, type AdminCredential } from './admin-auth.js';
import { consoleRouter } from '../console/routes.js';
import type { Config } from '../config/schema.js';
import { setSharedGauges, sharedState, type SharedSnapshot } from './shared-gauges.js';

export interface Durability {
  readonly aof: boolean | undefined;
  readonly fsync: string | undefined;
  readonly evictionPolicy: string | undefined;
  readonly durable: boolean;
  /** redis_version from INFO server. */
  readonly version: string | undefined;
  /** At least 6.2, what BullMQ needs for the commands its scripts use (our queues skip BullMQ's own start-up check). */
  readonly versionOk: boolean;
}

/** True when a dotted version is at least `min` (numeric per part). */
export function versionAtLeast(version: string | undefined, min: string): boolean {
  if (!version) {
    return false;
  }
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? 0;
    if (x !== b[i]) {
      return x > b[i]!;
    }
  }
  return true;
}

/** Reads AOF and eviction settings from INFO (works where CONFIG is disabled, as on managed Redis). */
export async function redisDurability(redis: Redis): Promise<Durability> {
  const server = await redis.info('server');
  const persistence = await redis.info('persistence');
  const memory = await redis.info('memory');
  const field = (text: string, name: string): string | undefined => new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1]?.trim();
  const aofEnabled = field(persistence, 'aof_enabled');
  const policy = field(memory, 'maxmemory_policy');
  let fsync: string | undefined;
  try {
    const reply = (await redis.call('CONFIG', 'GET', 'appendfsync')) as string[];
    fsync = reply[1];
  } catch {
    fsync = undefined;
  }
  const aof = aofEnabled === undefined ? undefined : aofEnabled === '1';
  const version = field(server, 'redis_version');
  return { aof, fsync, evictionPolicy: policy, durable: aof === true && policy === 'noeviction', version, versionOk: versionAtLeast(version, '6.2') };
}

export interface AdminDeps {
  readonly redis: Redis;
  readonly queues: readonly Queue[];
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Named credentials (admin-auth.ts); none in development and test means no credential is asked for. */
  readonly credentials: readonly AdminCredential[];
  /** Host names besides loopback and IP literals that requests may name (DNS-rebinding guard). */
  readonly allowedHosts: readonly string[];
  readonly production: boolean;
  /** Components that must be running for the process to be ready (workers, destinations). */
  readonly checks: ReadonlyArray<{ name: string; ok: () => boolean | Promise<boolean> }>;
  readonly store: MessageStore;
  /** Delivery destinations, for the shared-state gauges and the link states /readyz reports. */
  readonly destinations?: readonly string[];
  /** What the operations console needs besides the above (src/console/). */
  readonly console?: { readonly mappingsDir: string; readonly pasEventsRetentionDays: number; readonly alerts: Config['alerts'] };
}

/** What /readyz says of a destination: its link, never the PAS's MSA-3 text. */
function readyLinks(snapshot: SharedSnapshot): Array<Record<string, unknown>> {
  return snapshot.links.map((l) => ({
    destination: l.destination,
    state: l.state,
    ...(l.since ? { since: l.since } : {}),
    ...(l.lastAck ? { lastAck: { code: l.lastAck.code, at: l.lastAck.at } } : {}),
    ...(l.lastError ? { lastError: l.lastError } : {}),
    delivered5m: l.delivered5m,
    delivered1h: l.delivered1h,
    waiting: snapshot.lanes.find((lane) => lane.destination === l.destination)?.waiting ?? 0,
  }));
}

async function refreshQueueGauges(deps: AdminDeps): Promise<void> {
  for (const queue of deps.queues) {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    for (const [state, n] of Object.entries(counts)) {
      deps.metrics.queueDepth.set({ queue: queue.name, state }, n);
    }
    const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
    deps.metrics.oldestJobAge.set({ queue: queue.name }, oldest ? (Date.now() - oldest.timestamp) / 1000 : 0);
  }
}

export function createAdminApp(deps: AdminDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const shared = sharedState({ redis: deps.redis, prefix: deps.store.prefix, destinations: deps.destinations ?? [] });

  app.use(browserGuard(deps.allowedHosts));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Load balancers and orchestrators probe /readyz without credentials: they get the verdict; the checks behind it
  // (Redis version, durability settings, which workers run) only go to a credential holder.
  app.get('/readyz', async (req, res) => {
    const detailed = deps.credentials.length === 0 || credentialFor(deps.credentials, req.headers.authorization) !== undefined;
    const checks: Record<string, unknown> = {};
    let ready = true;
    try {
      const durability = await redisDurability(deps.redis);
      checks.redis = { reachable: true, ...durability };
      if (!durability.versionOk) {
        deps.log.warn({ version: durability.version }, 'Redis is older than 6.2, which BullMQ needs');
        ready = false;
      }
      if (!durability.durable) {
        // In development a non-durable Redis is allowed but said loudly; in production it is not ready.
        deps.log.warn({ aof: durability.aof, evictionPolicy: durability.evictionPolicy }, 'Redis is not durable: set appendonly yes and maxmemory-policy noeviction');
        if (deps.production) {
          ready = false;
        }
      }
    } catch {
      checks.redis = { reachable: false };
      ready = false;
    }
    for (const check of deps.checks) {
      const ok = await Promise.resolve(check.ok()).catch(() => false);
      checks[check.name] = ok;
      ready &&= ok;
    }
    // Readiness is about taking traffic: a PAS that is down must not take the receiver out of the load balancer (it
    // keeps accepting, the lanes hold what it accepts), so the link states are reported, not judged.
    const destinations = detailed ? await shared.read().then(readyLinks, () => undefined) : undefined;
    res
      .status(ready ? 200 : 503)
      .json(detailed ? { status: ready ? 'ready' : 'not ready', checks, ...(destinations ? { destinations } : {}) } : { status: ready ? 'ready' : 'not ready' });
  });

  // The operations console: its own login (session cookie), CSRF and roles; `/` redirects to it.
  app.use(consoleRouter({ redis: deps.redis, store: deps.store, prefix: deps.store.prefix, destinations: deps.destinations ?? [], credentials: deps.credentials, log: deps.log, redisDurability: () => redisDurability(deps.redis), ...(deps.console ? { mappingsDir: deps.console.mappingsDir, pasEventsRetentionDays: deps.console.pasEventsRetentionDays, alerts: deps.console.alerts } : {}) }));

  app.use(authenticate(deps.credentials), requireOperatorForChanges());

  app.get('/metrics', async (_req, res) => {
    // A scrape while Redis is away still serves the process's own counters; the gauges keep their last values.
    await refreshQueueGauges(deps).catch((err: unknown) => reportFailure({ log: deps.log, failures: deps.metrics.backgroundFailures }, 'metrics-gauges', err));
    await shared.read().then(
      (snapshot) => setSharedGauges(deps.metrics, snapshot),
      (err: unknown) => reportFailure({ log: deps.log, failures: deps.metrics.backgroundFailures }, 'metrics-shared-gauges', err),
    );
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.end(await deps.metrics.registry.metrics());
  });

  // Message trace for the admin UI and scripts; audited with the credential's name (never a header the caller sets).
  app.get('/api/trace/:key', async (req, res) => {
    res.json(await trace(deps.store, req.params.key, callerOf(res).actor));
  });

  const board = new ExpressAdapter();
  board.setBasePath('/queues');
  createBullBoard({
    queues: deps.queues.map((q) => {
      // Read-only: a Retry here re-rendered a message outside the receipt-order sequencer (issue 12); replay and
      // reprocess go through the CLI, which keeps the order and audits the actor.
      const adapter = new BullMQAdapter(q, { readOnlyMode: true, allowRetries: false });
      // Job data holds ids only by design; the formatter keeps it that way even if a payload ever slipped in.
      adapter.setFormatter('data', (data: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(data ?? {}).filter(([k]) => /id$|Id$|workflow|destination/.test(k))),
      );
      return adapter;
    }),
    serverAdapter: board,
  });
  app.use('/queues', board.getRouter());
  return app;
}

export function listenAdmin(app: express.Express, host: string, port: number): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer(app);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
