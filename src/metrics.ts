/*
 * Prometheus metrics of one process. Labels carry endpoints, statuses, REC codes, workflows, mapping ids and
 * destinations — never ids of messages or anything about a patient, so cardinality stays bounded and nothing personal
 * is exported.
 *
 * Two kinds, so that a web process and a worker process scraped side by side tell one consistent story:
 * - counters (`…_total`) and the request histogram count in the process where the work happens (the listener's
 *   requests in the web process; deliveries, mappings, PAS events and responses in the worker);
 * - gauges of shared state (lane waiting and head age, dead letters, held records, link state) are read from Redis
 *   when scraped (shared-gauges.ts), so either process's /metrics shows them, the same.
 * Names follow the Prometheus conventions: one `bars_bridge_` prefix (the Node.js process metrics included),
 * base units (seconds), `_total` for counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Worker } from 'bullmq';

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'endpoint' | 'status' | 'code'>;
  /** Time from request to answer, by endpoint (BaRS: 90% within 2.1 s, all within 5 s). */
  readonly requestDuration: Histogram<'endpoint'>;
  readonly accepted: Counter<'workflow'>;
  readonly queueDepth: Gauge<'queue' | 'state'>;
  readonly oldestJobAge: Gauge<'queue'>;
  readonly inboundProcessed: Counter<'workflow' | 'outcome'>;
  /** Messages whose mapping failed, by mapping id (one message can fail several mappings). */
  readonly mappingFailures: Counter<'mapping'>;
  /** 1 while an alert is firing, 0 once resolved (src/ops/alerts.ts); `subject` is a destination or certificate name. */
  readonly alert: Gauge<'alert' | 'subject'>;
  /** What retention deleted (src/ops/retention.ts): records and message versions. */
  readonly retentionPruned: Counter<'kind'>;
  /** Answers of the PAS events listener: MSA-1 code and a fixed reason (stored, duplicate, sender-not-allowed …). */
  readonly pasEventAcks: Counter<'code' | 'reason'>;
  /** PAS events connections closed or refused by a bound: frame-too-large, idle, max-connections, tls, no-msh. */
  readonly pasEventConnectionsClosed: Counter<'reason'>;
  /** PAS events processed by the worker: applied, unchanged, no-rule, no-record (the last two kept for the retention). */
  readonly pasEventsProcessed: Counter<'result'>;
  /** BaRS responses sent to the proxy, by outcome of each attempt (delivered, duplicate-delivered, retry, dead-letter, error). */
  readonly responses: Counter<'outcome'>;
  /** Delivery attempts the destination answered, by MSA-1 code (`written` for a file drop). */
  readonly delivered: Counter<'destination' | 'ack_code'>;
  /** Delivery attempts that got no answer, by failure kind (connection, ack-timeout, ack-mismatch, file-write, internal). */
  readonly deliveryFailures: Counter<'destination' | 'kind'>;
  // Shared state, read from Redis on scrape (shared-gauges.ts):
  readonly laneWaiting: Gauge<'destination'>;
  readonly laneHeadAge: Gauge<'destination'>;
  readonly deadLetters: Gauge<'destination'>;
  /** Messages held behind a dead letter of their record, per destination. */
  readonly heldMessages: Gauge<'destination'>;
  /** Records with messages held behind a dead letter, per destination. */
  readonly heldRecords: Gauge<'destination'>;
  /** 1 for the state the destination's link is in, 0 for the others (link-state.ts). */
  readonly linkState: Gauge<'destination' | 'state'>;
  /** Failed passes of background loops (src/flows/background.ts): sweepers, flushers. */
  readonly backgroundFailures: Counter<'loop'>;
  /** Age of the PAS diary mirror per HealthcareService: since the PAS last told us about it (src/flows/diary/). */
  readonly diaryAge: Gauge<'healthcare_service'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // prom-client names its own `process_cpu_…`, `nodejs_…`: the prefix goes in front once (`bars_bridge_process_cpu_…`).
  collectDefaultMetrics({ register: registry, prefix: 'bars_bridge_' });
  return {
    registry,
    backgroundFailures: new Counter({
      name: 'bars_bridge_background_failures_total',
      help: 'Failed passes of background loops (pending-enqueue sweeper, sequencer flusher, response lane sweeper, alerts), by loop',
      labelNames: ['loop'],
      registers: [registry],
    }),
    requests: new Counter({
      name: 'bars_bridge_requests_total',
      help: 'Requests answered by the BaRS listener, by endpoint, HTTP status and BaRS error code',
      labelNames: ['endpoint', 'status', 'code'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'bars_bridge_request_duration_seconds',
      help: 'Time from request to answer by the BaRS listener, by endpoint (BaRS: 90% within 2.1 s, all within 5 s)',
      labelNames: ['endpoint'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.1, 5],
      registers: [registry],
    }),
    accepted: new Counter({
      name: 'bars_bridge_messages_accepted_total',
      help: 'Messages acknowledged with 200, by workflow',
      labelNames: ['workflow'],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'bars_bridge_queue_jobs',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'],
      registers: [registry],
    }),
    oldestJobAge: new Gauge({
      name: 'bars_bridge_queue_oldest_waiting_seconds',
      help: 'Age of the oldest waiting job per queue',
      labelNames: ['queue'],
      registers: [registry],
    }),
    inboundProcessed: new Counter({
      name: 'bars_bridge_inbound_processed_total',
      help: 'Inbound messages processed by the worker, by workflow and outcome',
      labelNames: ['workflow', 'outcome'],
      registers: [registry],
    }),
    mappingFailures: new Counter({
      name: 'bars_bridge_mapping_failures_total',
      help: 'Mappings that failed to render a message, by mapping id (the message is a dead letter with the reason)',
      labelNames: ['mapping'],
      registers: [registry],
    }),
    alert: new Gauge({
      name: 'bars_bridge_alert',
      help: 'Operational alerts: 1 firing, 0 resolved (lane_head_stuck, dead_letters, listener_errors, redis_not_durable, certificate_expiring)',
      labelNames: ['alert', 'subject'],
      registers: [registry],
    }),
    retentionPruned: new Counter({
      name: 'bars_bridge_retention_pruned_total',
      help: 'Records (no longer current, past the retention period) and message versions deleted by retention',
      labelNames: ['kind'],
      registers: [registry],
    }),
    pasEventAcks: new Counter({
      name: 'bars_bridge_pas_event_acks_total',
      help: 'Acknowledgements sent by the PAS events listener, by MSA-1 code and reason',
      labelNames: ['code', 'reason'],
      registers: [registry],
    }),
    pasEventConnectionsClosed: new Counter({
      name: 'bars_bridge_pas_event_connections_closed_total',
      help: 'PAS events connections closed or refused by a bound (frame-too-large, idle, max-connections, tls, no-msh)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    pasEventsProcessed: new Counter({
      name: 'bars_bridge_pas_events_total',
      help: 'PAS events processed, by result (applied, unchanged, no-rule, no-record; the last two are kept for the PAS events retention)',
      labelNames: ['result'],
      registers: [registry],
    }),
    responses: new Counter({
      name: 'bars_bridge_responses_total',
      help: 'BaRS response attempts to the proxy, by outcome (delivered, duplicate-delivered, retry, dead-letter, error)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    delivered: new Counter({
      name: 'bars_bridge_delivered_total',
      help: 'Delivery attempts answered by the destination, by MSA-1 code (AA/CA accepted, AE/AR/CE/CR refused; written: a file drop)',
      labelNames: ['destination', 'ack_code'],
      registers: [registry],
    }),
    deliveryFailures: new Counter({
      name: 'bars_bridge_delivery_failures_total',
      help: 'Delivery attempts with no answer, by kind (connection, ack-timeout, ack-mismatch, file-write, internal); resent with the same MSH-10',
      labelNames: ['destination', 'kind'],
      registers: [registry],
    }),
    laneWaiting: new Gauge({
      name: 'bars_bridge_lane_waiting',
      help: 'Messages waiting behind the head of each destination lane (from Redis: the same in every process)',
      labelNames: ['destination'],
      registers: [registry],
    }),
    laneHeadAge: new Gauge({
      name: 'bars_bridge_lane_head_age_seconds',
      help: 'How long the head message of each lane has been queued (0 when the lane is empty): how far behind the PAS is',
      labelNames: ['destination'],
      registers: [registry],
    }),
    deadLetters: new Gauge({
      name: 'bars_bridge_dead_letters',
      help: 'Delivery dead letters per destination (PAS refusals, max attempts, mapping failures) until replayed or dropped',
      labelNames: ['destination'],
      registers: [registry],
    }),
    heldMessages: new Gauge({
      name: 'bars_bridge_held_messages',
      help: 'Messages held behind a dead letter of their record (referral or booking) until ops replay, reprocess or drop it',
      labelNames: ['destination'],
      registers: [registry],
    }),
    heldRecords: new Gauge({
      name: 'bars_bridge_held_records',
      help: 'Records (referrals, bookings) whose later messages are held behind a dead letter',
      labelNames: ['destination'],
      registers: [registry],
    }),
    linkState: new Gauge({
      name: 'bars_bridge_link_state',
      help: 'Link state of each destination: 1 for the current state (connected, refusing, ack-timeouts, rejecting, idle, unknown), 0 for the others',
      labelNames: ['destination', 'state'],
      registers: [registry],
    }),
    diaryAge: new Gauge({
      name: 'bars_bridge_diary_age_seconds',
      help: 'Seconds since the PAS last told us about this HealthcareService diary (scheduling message or slot query)',
      labelNames: ['healthcare_service'],
      registers: [registry],
    }),
  };
}

/** The lane observer (flows/delivery/lanes.ts AttemptObserver) that counts each delivery attempt where it happens. */
export function countDeliveryAttempts(
  metrics: Pick<Metrics, 'delivered' | 'deliveryFailures'>,
): (attempt: { readonly destination: string; readonly outcome: string; readonly acknowledged: boolean }) => void {
  return ({ destination, outcome, acknowledged }) => {
    if (acknowledged) {
      metrics.delivered.inc({ destination, ack_code: outcome });
    } else {
      metrics.deliveryFailures.inc({ destination, kind: outcome });
    }
  };
}

/** Counts the outcome of every attempt of the `responses` worker (src/responses/queue.ts), from its job events. */
export function countResponses(metrics: Pick<Metrics, 'responses'>, worker: Pick<Worker, 'on'>): void {
  worker.on('completed', (_job, result: { state?: string } | undefined) => {
    metrics.responses.inc({ outcome: result?.state ?? 'delivered' });
  });
  worker.on('failed', (_job, err: Error) => {
    // RetryLaterError: the proxy answered something worth retrying; anything else is our own error, also retried.
    metrics.responses.inc({ outcome: err.name === 'RetryLaterError' ? 'retry' : 'error' });
  });
}

/** Endpoint label for a request path: the route template, never the id or query. */
export function endpointLabel(method: string, path: string): string {
  const first = path.split('/')[1] ?? '';
  const known = ['metadata', 'MessageDefinition', '$process-message', 'ServiceRequest', 'Appointment', 'Slot'];
  const base = known.includes(first) ? `/${first}` : 'other';
  const hasId = base !== 'other' && path.split('/').filter(Boolean).length > 1;
  return `${method} ${base}${hasId ? '/{id}' : ''}`;
}
