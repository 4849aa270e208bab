/*
 * Alert delivery to a generic webhook (ALERT_WEBHOOK_URL), so an alert reaches a person and not only a log: Mirth
 * users are used to its alert e-mails; trusts today route alerts through Teams, Slack or an Alertmanager.
 *
 * One JSON POST per alert evaluation that changed something, in the shape of Alertmanager's webhook (version 4:
 * `status`, `alerts[]` with `labels`, `annotations`, `startsAt`, `endsAt`) — which Alertmanager-to-Teams/Slack
 * gateways (prometheus-msteams, alertmanager-discord …) and any Alertmanager-aware tool read — plus a top-level
 * `text`, the one field Slack and Teams incoming webhooks need to show a message. Alerts carry names, counts and ids
 * (delivery ids, MSH-10s), never message content.
 *
 * Delivery: one POST at a time, in order (a resolution never overtakes its firing); each tried up to `attempts` times
 * with exponential backoff (Retry-After honoured, within maxDelayMs) on network errors, timeouts, 408, 429 and 5xx; a
 * different 4xx is a configuration error and is not retried. Bounded: at most `maxPending` payloads wait; beyond that
 * the oldest is dropped and said in the log (an alert storm must not grow memory). Nothing persists: alerts are
 * re-derived from state at every evaluation, and `bars_bridge_alert` still says what fires. The URL is never logged
 * (for Slack and Teams it is the credential).
 */
import os from 'node:os';
import type { AlertChange } from './alerts.js';

/** The subset of a logger used. */
export interface WebhookLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AlertWebhookOptions {
  readonly url: string;
  readonly log: WebhookLogger;
  /** Tries per payload (default 5). */
  readonly attempts?: number;
  /** First retry delay (default 1 s), doubled per try up to maxDelayMs (default 30 s). */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** One POST's time limit (default 5 s). */
  readonly timeoutMs?: number;
  /** Payloads waiting at most (default 100). */
  readonly maxPending?: number;
  /** Names this process in the alert labels (default the host name). */
  readonly instance?: string;
  readonly fetch?: typeof fetch;
}

export interface AlertWebhook {
  /** Queues one evaluation's changes (never throws, never waits). */
  notify(changes: readonly AlertChange[], at: number): void;
  /** Resolves when nothing is waiting or being sent (tests). */
  idle(): Promise<void>;
  /** Stops: the POST in flight finishes (within its timeout), what waits is dropped and counted in the log. */
  close(): Promise<void>;
  /** Delivered, given up on, dropped for the bound. */
  stats(): { delivered: number; failed: number; dropped: number };
}

/** One alert in the Alertmanager webhook shape. */
interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  /** The alert's details as values (ids as arrays), for receivers that read JSON rather than text. */
  details: AlertChange['details'];
}

export interface WebhookPayload {
  version: '4';
  receiver: string;
  status: 'firing' | 'resolved';
  groupKey: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  truncatedAlerts: number;
  alerts: WebhookAlert[];
  /** Slack / Teams incoming webhooks show this. */
  text: string;
}

/** Alertmanager's "no end yet". */
const NO_END = '0001-01-01T00:00:00Z';

function detailText(details: AlertChange['details']): string {
  return Object.entries(details)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(' ');
}

/** The webhook body for one evaluation's changes. */
export function webhookPayload(changes: readonly AlertChange[], at: number, instance: string): WebhookPayload {
  const alerts = changes.map((c): WebhookAlert => {
    const status = c.firing ? 'firing' : 'resolved';
    const summary = `${c.alert} ${c.subject} ${status}`;
    const description = detailText(c.details);
    const ids = Object.values(c.details).find((v): v is readonly string[] => Array.isArray(v));
    return {
      status,
      labels: { alertname: c.alert, subject: c.subject, service: 'bars-bridge', instance, severity: c.alert === 'certificate_expiring' ? 'warning' : 'critical' },
      annotations: { summary, ...(description ? { description } : {}), ...(ids ? { ids: ids.join(',') } : {}) },
      startsAt: new Date(c.firing ? at : at - (c.lastedMs ?? 0)).toISOString(),
      endsAt: c.firing ? NO_END : new Date(at).toISOString(),
      details: c.details,
    };
  });
  const text = alerts
    .map((a) => `[${a.status.toUpperCase()}] bars-bridge ${a.labels.alertname} ${a.labels.subject}${a.annotations.description ? `: ${a.annotations.description}` : ''} (${instance})`)
    .join('\n');
  return {
    version: '4',
    receiver: 'bars-bridge',
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    groupKey: 'bars-bridge',
    groupLabels: { service: 'bars-bridge' },
    commonLabels: { service: 'bars-bridge', instance },
    commonAnnotations: {},
    externalURL: '',
    truncatedAlerts: 0,
    alerts,
    text,
  };
}

/** Seconds or an HTTP date (RFC 9110 §10.2.3), as milliseconds from now. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) {
    return undefined;
  }
  const seconds = Number(header);
  if (Number.isFinite(seconds)) {
    return Math.max(0, seconds * 1000);
  }
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

export function startAlertWebhook(options: AlertWebhookOptions): AlertWebhook {
  const attempts = options.attempts ?? 5;
  const initialDelayMs = options.initialDelayMs ?? 1000;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxPending = options.maxPending ?? 100;
  const instance = options.instance ?? os.hostname();
  const post = options.fetch ?? fetch;
  const { log } = options;
  const pending: WebhookPayload[] = [];
  const stopping = new AbortController();
  const counts = { delivered: 0, failed: 0, dropped: 0 };
  let running: Promise<void> | undefined;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      stopping.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });

  /** One payload, with its retries. */
  const deliver = async (payload: WebhookPayload): Promise<void> => {
    const body = JSON.stringify(payload);
    const names = payload.alerts.map((a) => `${a.labels.alertname}/${a.labels.subject}/${a.status}`);
    let outcome = '';
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      let wait: number | undefined;
      try {
        const res = await post(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'bars-bridge-alerts' },
          body,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
        await res.arrayBuffer().catch(() => undefined); // read to the end, so the connection can be reused
        if (res.ok) {
          counts.delivered += 1;
          if (attempt > 1) {
            log.info({ alerts: names, attempt }, 'alert webhook delivered after retries');
          }
          return;
        }
        outcome = `http-${res.status}`;
        if (!(res.status === 408 || res.status === 429 || res.status >= 500)) {
          break; // 4xx: the URL or the receiver's configuration is wrong; retrying will not help
        }
        wait = retryAfterMs(res.headers.get('retry-after'));
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        outcome = e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.name);
      }
      if (attempt < attempts && !stopping.signal.aborted) {
        log.warn({ alerts: names, attempt, outcome }, 'alert webhook failed; retrying');
        await sleep(Math.min(maxDelayMs, Math.max(wait ?? 0, initialDelayMs * 2 ** (attempt - 1))));
      }
      if (stopping.signal.aborted) {
        break;
      }
    }
    counts.failed += 1;
    log.error({ alerts: names, outcome, attempts }, 'alert webhook gave up (the alert is still in the log and bars_bridge_alert)');
  };

  const drain = async (): Promise<void> => {
    while (pending.length > 0 && !stopping.signal.aborted) {
      await deliver(pending.shift()!);
    }
  };
  const kick = (): void => {
    running ??= drain().finally(() => {
      running = undefined;
      if (pending.length > 0 && !stopping.signal.aborted) {
        kick();
      }
    });
  };

  return {
    notify(changes, at) {
      if (changes.length === 0 || stopping.signal.aborted) {
        return;
      }
      if (pending.length >= maxPending) {
        const dropped = pending.shift()!;
        counts.dropped += 1;
        log.warn({ alerts: dropped.alerts.map((a) => `${a.labels.alertname}/${a.labels.subject}/${a.status}`), maxPending }, 'alert webhook backlog full; oldest dropped');
      }
      pending.push(webhookPayload(changes, at, instance));
      kick();
    },
    async idle() {
      while (running) {
        await running;
      }
    },
    async close() {
      stopping.abort();
      await running;
      if (pending.length > 0) {
        counts.dropped += pending.length;
        log.warn({ undelivered: pending.length }, 'alert webhook stopped with alerts undelivered');
        pending.length = 0;
      }
    },
    stats: () => ({ ...counts }),
  };
}
