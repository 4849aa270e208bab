/*
 * Prometheus metrics of one process. Labels carry endpoints, statuses, REC codes, workflows and destinations — never
 * ids or anything about a patient, so cardinality stays bounded and nothing personal is exported.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'endpoint' | 'status' | 'code'>;
  readonly ackLatency: Histogram<'endpoint'>;
  readonly accepted: Counter<'workflow'>;
  readonly queueDepth: Gauge<'queue' | 'state'>;
  readonly oldestJobAge: Gauge<'queue'>;
  readonly inboundProcessed: Counter<'workflow' | 'outcome'>;
  readonly mappingFailures: Counter<'workflow'>;
  /** 1 while an alert is firing, 0 once resolved (src/ops/alerts.ts); `subject` is a destination or certificate name. */
  readonly alert: Gauge<'alert' | 'subject'>;
  /** What retention deleted (src/ops/retention.ts): records and message versions. */
  readonly retentionPruned: Counter<'kind'>;
  /** Answers of the PAS events listener: MSA-1 code and a fixed reason (stored, duplicate, sender-not-allowed …). */
  readonly pasEventAcks: Counter<'code' | 'reason'>;
  /** PAS events connections closed or refused by a bound: frame-too-large, idle, max-connections, tls, no-msh. */
  readonly pasEventConnectionsClosed: Counter<'reason'>;
  /** PAS events processed by the worker: applied, unchanged, no-rule, no-record (the last two kept for the retention). */
  readonly pasEventsProcessed: Counter<'outcome'>;
  /** Messages held behind a dead letter of their record, per destination (refreshed on scrape). */
  readonly heldMessages: Gauge<'destination'>;
  /** Records with messages held behind a dead letter, per destination (refreshed on scrape). */
  readonly heldRecords: Gauge<'destination'>;
  /** Failed passes of background loops (src/flows/background.ts): sweepers, flushers. */
  readonly backgroundFailures: Counter<'loop'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bars_bridge_process_' });
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
    ackLatency: new Histogram({
      name: 'bars_bridge_ack_latency_seconds',
      help: 'Time from request to answer (BaRS: 90% within 2.1 s, all within 5 s)',
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
      help: 'Messages whose mapping failed (dead-lettered with the reason)',
      labelNames: ['workflow'],
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
      name: 'bars_bridge_pas_events_processed_total',
      help: 'PAS events processed, by outcome (applied, unchanged, no-rule, no-record; the last two are kept for the PAS events retention)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    heldMessages: new Gauge({
      name: 'bars_bridge_delivery_held_messages',
      help: 'Messages held behind a dead letter of their record (referral or booking) until ops replay, reprocess or drop it',
      labelNames: ['destination'],
      registers: [registry],
    }),
    heldRecords: new Gauge({
      name: 'bars_bridge_delivery_held_records',
      help: 'Records (referrals, bookings) whose later messages are held behind a dead letter',
      labelNames: ['destination'],
      registers: [registry],
    }),
  };
}

/** Endpoint label for a request path: the route template, never the id or query. */
export function endpointLabel(method: string, path: string): string {
  const first = path.split('/')[1] ?? '';
  const known = ['metadata', 'MessageDefinition', '$process-message', 'ServiceRequest', 'Appointment', 'Slot'];
  const base = known.includes(first) ? `/${first}` : 'other';
  const hasId = base !== 'other' && path.split('/').filter(Boolean).length > 1;
  return `${method} ${base}${hasId ? '/{id}' : ''}`;
}
