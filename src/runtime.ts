/*
 * Start-up and shutdown of the processes: `web` (the mTLS listener), `worker` (queue processors), or both in one
 * process for a single-machine trust (`npm start`). Everything started is pushed on a stack and stopped in reverse
 * order, bounded by a timeout (style anchors §15).
 */
import path from 'node:path';
import { Worker, type Job, type Queue } from 'bullmq';
import type { Config } from './config/schema.js';
import { loadConfig } from './config/load.js';
import { unknownVariables } from './config/variables.js';
import { createLogger, type Logger } from './logging.js';
import { ensureDevCerts } from './dev/certs.js';
import { adoptRedisChild, isListening, startRedisChild } from './dev/redis-child.js';
import { forgetDevRedisUrl, readDevRedisUrl, recordDevRedisUrl } from './dev/redis-url-file.js';
import { createApp } from './http/app.js';
import { listenReceiver, type ReceiverServer } from './http/server.js';
import { createInboundQueue, enqueueInbound, inboundJobId, INBOUND_ATTEMPTS, INBOUND_QUEUE, type InboundJobData } from './flows/inbound/inbound.js';
import { createProducerConnection, createWorkerConnection } from './state/redis.js';
import { MessageStore } from './state/message-store.js';
import { flushReady, readyAndFlush, sequencerKeys, type SequencerDeps } from './flows/inbound/sequencer.js';
import { loadInboundPolicy } from './flows/inbound/inbound-policy.js';
import { createAdminApp, listenAdmin } from './ops/admin.js';
import { parseCredentials } from './ops/admin-auth.js';
import { createMetrics } from './ops/metrics.js';
import { parseDestinations, type Destination } from './flows/delivery/destinations.js';
import { handOffToLanes, startLaneWorkers } from './flows/delivery/lanes.js';
import { loadDeliveryPolicy } from './flows/delivery/policy.js';
import { startPasSimulator, type PasSimulator } from './dev/pas-sim.js';
import { PAS_EVENTS_QUEUE, startPasEventsListener, type PasEventJobData } from './flows/pas-events/listener.js';
import { processPasEvent, type StatusEvent } from './flows/pas-events/processor.js';
import { loadPasEventRules } from './flows/pas-events/rules.js';
import { enqueueResponsesFor, startResponses, type ResponseEvent, type Responses } from './flows/responses/index.js';
import { checkResponseRules, pasEventSources } from './flows/responses/reachability.js';
import { DEFAULT_RULES_FILE, loadRules, ruleLines } from './flows/responses/rules.js';
import { ensureMockProxyKey, startMockProxy } from './dev/mock-proxy.js';
import type { RecordState } from './state/message-store.js';
import type { ReloadResult } from './mapping/registry.js';
import { readPem } from './dev/certs.js';
import { certificateExpiries, deadLetterObservations, laneObservations, listenerErrorWindow, redisObservation, startAlerts, type AlertSources } from './ops/alerts.js';
import { startRetention } from './ops/retention.js';
import { FHIR_ID } from './protocol/bars/fhir-types.js';
import { listenAs, type ListenerName } from './ops/listen-errors.js';

type Stopper = { name: string; stop: () => Promise<unknown> };

/** Our listeners as the operator configures them: a port in use at start-up names the variable to change. */
const LISTENERS = {
  receiver: { what: 'BaRS listener', portVariable: 'BARS_PORT', hostVariable: 'BARS_HOST' },
  admin: {
    what: 'admin',
    portVariable: 'ADMIN_PORT',
    hostVariable: 'ADMIN_HOST',
    inUseHint: 'each process on a host needs its own (deploy/web.env 9090, deploy/worker.env 9091)',
  },
  pasEvents: { what: 'PAS events', portVariable: 'PAS_EVENTS_PORT', hostVariable: 'PAS_EVENTS_HOST' },
} as const satisfies Record<string, ListenerName>;

export interface Running {
  readonly config: Readonly<Config>;
  readonly log: Logger;
  readonly receiver?: ReceiverServer;
  readonly adminPort?: number;
  /** The PAS simulator of a development worker (tests read what it received). */
  readonly pasSimulator?: PasSimulator;
  readonly pasEventsPort?: number;
  /** The development mock BaRS proxy (tests read what it received). */
  readonly mockProxy?: Awaited<ReturnType<typeof startMockProxy>>;
  /** Subscribes to status changes applied from PAS events (tests, responses). */
  onStatus(listener: (event: StatusEvent) => void): void;
  stop(): Promise<void>;
}

/**
 * The request a status change answers, and the response event it is, in BaRS terms: an Encounter status change
 * answers the record's first (new) message; a no-show on a booking is DNA feedback on the referral the booking was
 * based on (APP1 safeguarding; REFRESP01 answers the referral's Bundle).
 */
export async function originalRequestFor(
  store: MessageStore,
  event: StatusEvent,
  record: RecordState,
): Promise<{ messageId: string; event: ResponseEvent } | undefined> {
  if (event.event === 'encounter-status-changed' && event.from && event.to) {
    const [first] = await store.getRecordVersions(record.type, record.id);
    const reason = event.reasonCode ? { reasonCode: event.reasonCode } : {};
    return first ? { messageId: first, event: { type: 'encounter-status-changed', from: event.from, to: event.to, ...reason } as ResponseEvent } : undefined;
  }
  if (event.event === 'appointment-no-show') {
    const basedOn = (record.resource.basedOn as Array<{ reference?: string }> | undefined)?.[0]?.reference;
    // A reference is the sender's text, not a FHIR id (TKW sends `Slot/urn:uuid:…`): only an id goes into a key.
    const srId = basedOn?.startsWith('ServiceRequest/') ? basedOn.slice('ServiceRequest/'.length) : undefined;
    if (srId !== undefined && !FHIR_ID.test(srId)) {
      return undefined;
    }
    const [first] = srId ? await store.getRecordVersions('ServiceRequest', srId) : [];
    return first ? { messageId: first, event: { type: 'appointment-no-show', appointmentId: record.id } } : undefined;
  }
  return undefined;
}

/** Dev defaults for things a fresh checkout has not configured: Redis, certificates, slots. */
async function devDefaults(config: Readonly<Config>, log: Logger, stack: Stopper[]): Promise<Readonly<Config>> {
  let redisUrl = config.redis.url;
  const url = new URL(config.redis.url);
  const childDir = path.join(config.dataDir, 'redis');
  if (config.redis.embedded && !(await isListening(url.hostname, Number(url.port || 6379)))) {
    const recorded = readDevRedisUrl(config.dataDir);
    const adopted = recorded ? await adoptRedisChild(recorded, childDir) : undefined;
    const child = adopted ?? (await startRedisChild(childDir));
    stack.push({ name: 'redis-server child', stop: () => child.stop() });
    // The CLI run beside `npm start` finds this Redis through the record (src/dev/redis-url-file.ts); gone on a clean
    // stop, before the child itself stops.
    recordDevRedisUrl(config.dataDir, child.url);
    stack.push({ name: 'redis-server child record', stop: async () => forgetDevRedisUrl(config.dataDir, child.url) });
    redisUrl = child.url;
    if (adopted) {
      log.warn({ port: child.port, dir: child.dir }, 'using the private redis-server an earlier run left running (it was not stopped cleanly)');
    } else {
      log.info({ port: child.port, dir: child.dir }, 'started a private redis-server (AOF on) because nothing answered at REDIS_URL');
    }
  }
  let tls = config.tls;
  if (!tls.cert || !tls.key || !tls.ca) {
    const certs = ensureDevCerts(config.dataDir);
    tls = { ...tls, cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert };
    log.info({ dir: certs.dir }, 'using development certificates');
  }
  const slots = config.slots.length > 0 ? config.slots : DEV_SLOTS;
  return loadConfig({}, { ...structuredClone(config), redis: { ...config.redis, url: redisUrl }, tls, slots } as never);
}

/** One schedule so GET /Slot and bookings work out of the box in development. */
export const DEV_SLOTS: Config['slots'] = [
  {
    healthcareService: '7e0a3e1c-93a5-4a0b-9a43-3f7e1f5d2c11',
    healthcareServiceName: 'Emergency Department (development)',
    dosServiceId: '2000072489',
    locationName: 'Main site',
    timeZone: 'Europe/London',
    hours: { '0': '00:00-23:59', '1': '00:00-23:59', '2': '00:00-23:59', '3': '00:00-23:59', '4': '00:00-23:59', '5': '00:00-23:59', '6': '00:00-23:59' },
    slotMinutes: 30,
    capacity: 1,
    useCases: ['a1t1', 'a1t2', 'a2t1', 'a2t2'],
  },
];

/** Marks a message's receipt-order number as done with no output, unless it was already marked (idempotent). */
async function releaseSequence(store: MessageStore, sequencer: SequencerDeps, messageId: string): Promise<void> {
  const seq = await store.redis.get(store.key('msg', messageId, 'seq'));
  const k = sequencerKeys(store.prefix);
  if (seq !== null && (await store.redis.hexists(k.ready, seq)) === 0 && Number((await store.redis.get(k.cursor)) ?? 0) < Number(seq)) {
    await readyAndFlush(sequencer, Number(seq), []);
  }
}

/** Configured destinations, or the one PAS link of PAS_MLLP_HOST/PAS_MLLP_PORT. */
export function destinationsOf(config: Readonly<Config>): Destination[] {
  return config.destinations.length > 0
    ? [...config.destinations]
    : parseDestinations([{ name: 'pas', kind: 'mllp', host: config.pas.host, port: config.pas.port }]);
}

export interface StartOptions {
  readonly web: boolean;
  readonly worker: boolean;
  /** Admin server (health, readiness, metrics, dashboard); on by default. */
  readonly admin?: boolean;
  readonly config?: Readonly<Config>;
  readonly log?: Logger;
}


/**
 * SIGTERM/SIGINT handling of a long-running process (`bars-bridge start`, the shutdown test's child): stop in reverse
 * start-up order, bounded by `timeoutMs` overall; exit 0 when everything stopped, 1 when the bound was hit (the
 * platform would SIGKILL us next anyway, and a crash is safe: stalled lane jobs go back to the head of their lane).
 */
export function shutdownOnSignals(running: Running, options: { timeoutMs?: number; exit?: (code: number) => void } = {}): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    const startedAt = Date.now();
    running.log.info({ signal }, 'shutdown started');
    const bound = setTimeout(() => {
      running.log.error({ signal, ms: Date.now() - startedAt }, 'shutdown timed out; exiting');
      exit(1);
    }, options.timeoutMs ?? 25_000);
    bound.unref();
    void running.stop().then(() => {
      clearTimeout(bound);
      running.log.info({ ms: Date.now() - startedAt }, 'shutdown complete');
      exit(0);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function stopAll(stack: Stopper[], log: Logger, timeoutMs: number): Promise<void> {
  while (stack.length > 0) {
    const item = stack.pop()!;
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    const result = await Promise.race([item.stop().then(() => 'ok' as const, () => 'error' as const), timer]);
    if (result !== 'ok') {
      log.warn({ component: item.name, result }, 'component did not stop cleanly');
    }
  }
}

export async function start(options: StartOptions): Promise<Running> {
  let config = options.config ?? loadConfig();
  const log = options.log ?? createLogger(config.logLevel);
  // Production refused these in loadConfig; elsewhere a misspelt variable is worth a warning, not a stop.
  const unknown = options.config ? [] : unknownVariables(process.env);
  if (unknown.length > 0) {
    log.warn({ variables: unknown }, 'unknown environment variables ignored (misspelt? README "Configuration" lists them); production refuses to start with them');
  }
  const stack: Stopper[] = [];
  try {
    if (config.env !== 'production') {
      config = await devDefaults(config, log, stack);
    }
    const prefix = config.redis.prefix;
    const producer = createProducerConnection(config.redis);
    stack.push({ name: 'redis (producer)', stop: () => producer.quit() });
    // The request path has no offline queue (it fails fast with 503 when Redis is down), so give the connection a
    // moment to come up before the listener opens; past that, requests answer 503 until it does.
    if (producer.status !== 'ready') {
      const ready = await Promise.race([
        new Promise<boolean>((resolve) => producer.once('ready', () => resolve(true))),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000).unref()),
      ]);
      if (!ready) {
        log.warn({ url: config.redis.url.replace(/\/\/[^@]*@/, '//***@') }, 'Redis is not answering; the listener will answer 503 REC_UNAVAILABLE until it does');
      }
    }
    const store = new MessageStore(producer, prefix);
    const inbound = createInboundQueue(producer, prefix);
    // Redis errors reach the request that hit them (503 REC_UNAVAILABLE); the queue's own event would be noise.
    inbound.on('error', () => undefined);
    stack.push({ name: 'inbound queue', stop: () => inbound.close() });

    const metrics = createMetrics();
    const readiness: Array<{ name: string; ok: () => boolean }> = [];
    let receiver: ReceiverServer | undefined;
    let pasSimulator: PasSimulator | undefined;
    let pasEventsPort: number | undefined;
    let mockProxy: Awaited<ReturnType<typeof startMockProxy>> | undefined;
    const responseQueues: Queue[] = [];
    const statusListeners: Array<(e: StatusEvent) => void> = [];
    const alertSources: { -readonly [K in keyof AlertSources]: AlertSources[K] } = {};
    let closeReceiver: (() => Promise<void>) | undefined;
    if (options.web) {
      const app = createApp({ config, store, inbound, log, now: () => new Date(), metrics });
      receiver = await listenAs(LISTENERS.receiver, config.http.host, config.http.port, () => listenReceiver(
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
      // Closed once, from whichever stopper comes first: the drain step at the top of the stack on a normal stop, or
      // here when start-up fails half way.
      let closing: Promise<void> | undefined;
      closeReceiver = () => (closing ??= receiver!.close(config.http.requestTimeoutMs + 1000));
      stack.push({ name: 'receiver', stop: closeReceiver });
      alertSources.listener = listenerErrorWindow(metrics.requests, config.alerts.errorWindowSeconds);
      const onHup = (): void => receiver!.reload();
      process.on('SIGHUP', onHup);
      stack.push({ name: 'SIGHUP handler', stop: async () => process.off('SIGHUP', onHup) });
      log.info({ port: receiver.port, host: config.http.host, services: config.service.ids }, 'BaRS receiver listening (mutual TLS)');
    }

    if (options.worker) {
      if (config.pas.simulator) {
        // Development: the PAS is our simulator, so `npm start` delivers end to end on one machine.
        if (await isListening(config.pas.host, config.pas.port)) {
          log.warn({ port: config.pas.port }, 'PAS port already in use; not starting the PAS simulator');
        } else {
          const sim = await startPasSimulator({ host: config.pas.host, port: config.pas.port });
          pasSimulator = sim;
          stack.push({ name: 'PAS simulator', stop: () => sim.close() });
          log.info({ port: sim.port }, 'PAS simulator listening (MLLP, ACKs AA)');
        }
      }
      const workerConnection = createWorkerConnection(config.redis);
      stack.push({ name: 'redis (worker)', stop: () => workerConnection.quit() });
      const workerStore = new MessageStore(workerConnection, prefix);

      const destinations = destinationsOf(config);
      const lanes = await startLaneWorkers(
        { redis: workerConnection, prefix, logger: log },
        destinations,
        loadDeliveryPolicy(path.join(config.queuesDir, 'delivery.yaml')),
      );
      stack.push({ name: 'delivery lanes', stop: () => lanes.close() });
      log.info({ destinations: lanes.destinations }, 'delivery lanes started');
      alertSources.lanes = () => laneObservations({ redis: workerConnection, prefix }, lanes.destinations);
      alertSources.deadLetters = () => deadLetterObservations(workerConnection, prefix, config.alerts.deadLetterWindowHours);
      alertSources.redis = redisObservation(workerConnection);

      // Asynchronous BaRS responses. In development with no proxy configured, a local mock proxy (with its OAuth token
      // endpoint) stands in for the national one, so the whole loop runs on one machine.
      let transport: { ca?: string; cert?: string; key?: string } = {};
      if (config.env !== 'production' && !config.proxy.url) {
        const { keyFile, pubFile } = ensureMockProxyKey(path.join(config.dataDir, 'mock-proxy'));
        const mock = await startMockProxy({ publicKey: readPem(pubFile), clientId: 'bars-bridge-dev', kid: 'dev-1', certs: ensureDevCerts(config.dataDir) });
        stack.push({ name: 'mock BaRS proxy', stop: () => mock.close() });
        mockProxy = mock;
        config = loadConfig({}, { ...structuredClone(config), proxy: { url: mock.url, tokenUrl: mock.tokenUrl, clientId: 'bars-bridge-dev', kid: 'dev-1', privateKey: keyFile } } as never);
        transport = { ca: mock.ca };
        log.info({ url: mock.url }, 'mock BaRS proxy listening (development: responses go here)');
      } else if (config.proxy.ca || config.proxy.clientCert) {
        transport = {
          ...(config.proxy.ca ? { ca: readPem(config.proxy.ca) } : {}),
          ...(config.proxy.clientCert && config.proxy.clientKey ? { cert: readPem(config.proxy.clientCert), key: readPem(config.proxy.clientKey) } : {}),
        };
      }
      const responses: Responses = startResponses({
        config,
        store,
        worker: true,
        workerConnection,
        log,
        transport,
        ...(config.proxy.acceptVersion ? { acceptVersion: config.proxy.acceptVersion } : {}),
      });
      stack.push({ name: 'responses', stop: () => responses.close() });
      responseQueues.push(responses.deps.queue);
      const respondTo = async (event: StatusEvent, record: RecordState): Promise<void> => {
        const request = await originalRequestFor(workerStore, event, record);
        if (!request) {
          return;
        }
        const eventId = `${record.type}-${record.id}-v${record.version}`;
        await enqueueResponsesFor(responses.deps, { messageId: request.messageId, event: { ...request.event, eventId, at: event.at } as ResponseEvent });
      };

      const pasRulesFile = path.join(config.mappingsDir, 'pas-events', 'rules.yaml');
      const pasRules = loadPasEventRules(pasRulesFile);
      // Response rules no emitter can satisfy are responses a sender would never get: refuse to start with them.
      const reach = checkResponseRules(loadRules(), ruleLines(DEFAULT_RULES_FILE), pasEventSources(pasRules, pasRulesFile));
      if (reach.errors.length > 0) {
        throw new Error(`Response rules that can never match:\n  ${reach.errors.join('\n  ')}`);
      }
      if (reach.unreached.length > 0) {
        log.warn({ rules: reach.unreached }, 'response rules for events nothing in this build emits');
      }
      const pasWorker = new Worker<PasEventJobData>(
        PAS_EVENTS_QUEUE,
        (job: Job<PasEventJobData>) =>
          processPasEvent(job, {
            store: workerStore,
            log,
            rules: () => pasRules,
            now: () => new Date(),
            retentionMs: config.pasEvents.retentionDays * 86_400_000,
            metrics,
            onStatus: async (event: StatusEvent, record: RecordState) => {
              statusListeners.forEach((l) => l(event));
              await respondTo(event, record);
            },
          }),
        // One at a time: PAS events about one record must apply in the order the PAS sent them.
        { connection: workerConnection, prefix, concurrency: 1 },
      );
      pasWorker.on('error', (err) => log.error({ err: { message: err.message } }, 'pas-events worker error'));
      stack.push({ name: 'pas-events worker', stop: () => pasWorker.close() });
      if (config.pasEvents.enabled) {
        const pe = config.pasEvents;
        const pasEvents = await listenAs(LISTENERS.pasEvents, pe.host, pe.port, () => startPasEventsListener({
          redis: producer,
          prefix,
          port: pe.port,
          host: pe.host,
          ...(pe.tls.cert && pe.tls.key
            ? { tls: { cert: readPem(pe.tls.cert), key: readPem(pe.tls.key), ...(pe.tls.ca ? { ca: readPem(pe.tls.ca) } : {}) } }
            : {}),
          allow: pe.allow,
          maxFrameBytes: pe.maxFrameBytes,
          idleTimeoutMs: pe.idleTimeoutMs,
          maxConnections: pe.maxConnections,
          retentionSeconds: Math.max(1, Math.round(pe.retentionDays * 86_400)),
          logger: log,
          metrics,
        }));
        stack.push({ name: 'PAS events listener', stop: () => pasEvents.close() });
        pasEventsPort = pasEvents.port;
        log.info(
          { port: pasEvents.port, host: pe.host, tls: Boolean(pe.tls.cert), clientCertificate: Boolean(pe.tls.ca), senders: pe.allow.length, rules: pasRules.length },
          'PAS events listener (MLLP) started',
        );
      } else {
        log.info('PAS events listener off (PAS_EVENTS=off)');
      }
      // Mappings are compiled once here; a broken file stops start-up with every problem listed. Later edits are
      // picked up on file change or SIGHUP, and a broken edit keeps the previous good set running.
      // Loaded here, not at module load: the web process never maps, and the HL7 dictionaries are large.
      const { loadLiveMappings } = await import('./mapping/index.js');
      const { processInbound } = await import('./flows/inbound/inbound-processor.js');
      const registry = loadLiveMappings(config.mappingsDir);
      const short = (hash: string): string => hash.slice(0, 12);
      // pas-events/ and responses/ rules are part of the directory (and of its hash) but are read at start-up only.
      const restartOnly = (changed: readonly string[]): string[] => changed.filter((f) => /^(?:pas-events|responses)\//.test(f));
      const onReload = (r: ReloadResult): void => {
        if (r.outcome === 'unchanged') {
          log.info({ hash: short(r.hash) }, 'mappings unchanged');
        } else if (r.ok) {
          log.info({ mappings: r.mappings, hash: short(r.hash), changed: r.changed, restartToApply: restartOnly(r.changed) }, 'mappings reloaded');
        } else {
          log.error({ problems: r.problems, changed: r.changed, rejected: short(r.candidate), hash: short(r.hash) }, 'mapping edit rejected; previous mappings still running');
        }
      };
      const unwatch = registry.watch(onReload, { pollMs: config.mappingsPollSeconds * 1000 });
      stack.push({ name: 'mappings watcher', stop: async () => unwatch() });
      const onHupMappings = (): void => onReload(registry.reload());
      process.on('SIGHUP', onHupMappings);
      stack.push({ name: 'SIGHUP mappings handler', stop: async () => process.off('SIGHUP', onHupMappings) });
      const active = new Set(destinations.map((d) => d.name));
      const inactive = registry.mappings.filter((m) => !active.has(m.destination)).map((m) => m.id);
      log.info({ mappings: registry.mappings.length, inactive, hash: short(registry.hash) }, 'mappings loaded (inactive: destination not configured)');

      const sequencer: SequencerDeps = { redis: workerConnection, prefix, handOff: handOffToLanes({ redis: workerConnection, prefix }) };
      const inboundPolicy = loadInboundPolicy(path.join(config.queuesDir, 'inbound.yaml'));
      const worker = new Worker<InboundJobData>(
        INBOUND_QUEUE,
        (job: Job<InboundJobData>) =>
          processInbound(job, {
            store: workerStore,
            log,
            mappings: () => registry,
            destinations: active,
            sequencer,
            now: () => new Date(),
            metrics,
            attempts: INBOUND_ATTEMPTS,
          }),
        // A worker crash (even a crash loop) must never fail a message: BullMQ's default maxStalledCount of 1 would
        // fail a job stalled twice, and its receipt-order number would never be released, blocking every lane.
        {
          connection: workerConnection,
          prefix,
          concurrency: inboundPolicy.concurrency,
          lockDuration: inboundPolicy.lockDurationMs,
          stalledInterval: inboundPolicy.stalledIntervalMs,
          maxStalledCount: 1_000_000,
        },
      );
      // A job that failed for good without its processor releasing its number (belt and braces): release it here, so
      // the messages behind it are not held.
      worker.on('failed', (job) => {
        if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
          void releaseSequence(workerStore, sequencer, job.data.messageId).catch(() => undefined);
        }
      });
      // Safety net: anything marked ready but not flushed (a flusher that lost its lock) goes out within a second.
      const flusher = setInterval(() => void flushReady(sequencer).catch(() => undefined), 1000);
      stack.push({ name: 'sequencer flusher', stop: async () => clearInterval(flusher) });
      worker.on('error', (err) => log.error({ err: { message: err.message } }, 'inbound worker error'));
      stack.push({ name: 'inbound worker', stop: () => worker.close() });
      readiness.push({ name: 'inbound worker', ok: () => worker.isRunning() });

      // A message stored but whose job was never confirmed (crash or Redis loss between the two) is enqueued here;
      // the job id is derived from the message id, so this never duplicates a job.
      // The request path does not confirm its job (one round trip less per message); this sweeper does, off that path.
      const sweep = async (): Promise<void> => {
        for (const id of await workerStore.pendingEnqueue(10_000)) {
          if (!(await inbound.getJob(inboundJobId(id)))) {
            const stored = await workerStore.getMessage(id);
            if (stored) {
              await enqueueInbound(inbound, { messageId: id, workflow: stored.workflow, requestId: stored.requestId, correlationId: stored.correlationId });
              log.warn({ messageId: id }, 'enqueued a stored message whose job had not been added');
            }
          }
          await workerStore.markEnqueued(id);
        }
      };
      const sweeper = setInterval(() => void sweep().catch(() => undefined), 5000);
      stack.push({ name: 'pending-enqueue sweeper', stop: async () => clearInterval(sweeper) });
      if (config.retention.enabled) {
        const retention = startRetention({ redis: workerConnection, prefix, rules: config.retention, log, metrics });
        stack.push({ name: 'retention', stop: () => retention.stop() });
      }
      log.info('worker started');
    }

    let adminPort: number | undefined;
    if (options.admin !== false) {
      const admin = await listenAs(LISTENERS.admin, config.admin.host, config.admin.port, () => listenAdmin(
        createAdminApp({
          redis: producer,
          queues: [inbound, ...responseQueues],
          metrics,
          log,
          credentials: parseCredentials(config.admin.token, config.admin.tokens),
          allowedHosts: config.admin.allowedHosts,
          production: config.env === 'production',
          checks: readiness,
          store,
          destinations: destinationsOf(config).map((d) => d.name),
          console: { mappingsDir: config.mappingsDir, pasEventsRetentionDays: config.pasEvents.retentionDays, alerts: config.alerts },
        }),
        config.admin.host,
        config.admin.port,
      ));
      adminPort = admin.port;
      stack.push({ name: 'admin server', stop: () => admin.close() });
      log.info({ port: admin.port, host: config.admin.host }, 'admin server listening (/healthz /readyz /metrics /queues)');
    }

    if (config.alerts.enabled) {
      // Certificates in every process: the web process holds the server certificate, the worker the proxy client one.
      const certs = [
        { name: 'server', pem: options.web ? config.tls.cert : undefined },
        { name: 'proxy-client', pem: options.worker ? config.proxy.clientCert : undefined },
      ];
      alertSources.certificates = () => certificateExpiries(certs);
      const alerts = startAlerts({ rules: config.alerts, sources: alertSources, log, metrics });
      stack.push({ name: 'alerts', stop: () => alerts.stop() });
    }

    if (closeReceiver) {
      // Graceful stop starts here (last pushed, first popped): stop accepting connections and let the requests in
      // flight finish (each is stored and its job queued before its 200) BEFORE the workers and queues behind them
      // close, so nothing acknowledged is left half-done and no request is answered 500 by a closing Redis client.
      const drain = closeReceiver;
      stack.push({ name: 'receiver (stop accepting, finish requests in flight)', stop: drain });
    }

    return {
      config,
      log,
      receiver,
      adminPort,
      pasSimulator,
      pasEventsPort,
      mockProxy,
      onStatus: (listener) => void statusListeners.push(listener),
      stop: () => stopAll(stack, log, 10_000),
    };
  } catch (err) {
    await stopAll(stack, log, 5000);
    throw err;
  }
}
