/*
 * Operational alerts (issue 6 §4). Trust interface teams moving off Mirth expect its dashboard alerts (anchors §4):
 * "the PAS link is stuck", "something went to the error queue", "the listener is failing", plus two that bite a
 * BaRS receiver specifically: a Redis that would lose acknowledged messages (BaRS Transactional-integrity: a 200 means
 * we hold the message) and an expiring certificate (the national proxy only talks mutual TLS; an expired server or
 * client certificate is a total outage that is entirely foreseeable).
 *
 * Shape: sources take observations (Redis reads, counters, certificate files); the pure `evaluateAlerts` turns
 * observations + rules + the previous states into new states and the CHANGES between them; only changes are logged
 * (firing at `error`, resolved at `info`), so a stuck lane produces one log line, not one every 15 s. The gauge
 * `bars_bridge_alert{alert,subject}` is 1/0 for every alert ever evaluated, for Prometheus alerting rules.
 *
 * Logs carry destinations, ids (message id, MSH-10), codes and counts only — never message content.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import type { Config } from '../config/schema.js';
import { reportFailure } from '../background.js';
import type { Logger } from '../logging.js';
import type { DiaryObservation } from '../flows/diary/start.js';
import type { Metrics } from '../metrics.js';
import { redisDurability } from './admin.js';
import { getLaneStatus } from '../flows/delivery/lanes.js';
import { keyspace } from '../state/keys.js';

export type AlertName = 'lane_head_stuck' | 'dead_letters' | 'listener_errors' | 'redis_not_durable' | 'certificate_expiring' | 'diary_feed_stale' | 'diary_conflicts';
export type AlertRules = Config['alerts'];
/** What an alert says beyond its name: counts, codes, and the ids involved (message ids, MSH-10s) — never content. */
type Details = Readonly<Record<string, string | number | boolean | readonly string[]>>;

/** Most ids an alert names (the newest first); the count says how many there are in all. */
export const ALERT_IDS_MAX = 10;

/** What the sources saw at one evaluation. A family left undefined was not observed: its alerts keep their state. */
export interface Observations {
  readonly at: number;
  readonly lanes?: ReadonlyArray<{
    readonly destination: string;
    readonly waiting: number;
    /** The head (being delivered or retried in place): when it was queued, ms. */
    readonly head?: { readonly messageId: string; readonly controlId: string; readonly since: number; readonly attempts: number; readonly lastOutcome?: string };
  }>;
  readonly deadLetters?: {
    readonly delivery: number;
    readonly responses: number;
    readonly mappingFailures: number;
    /** The newest of each (up to ALERT_IDS_MAX): `destination/messageId`, response ids, message ids. */
    readonly ids?: { readonly delivery: readonly string[]; readonly responses: readonly string[]; readonly mappingFailures: readonly string[] };
  };
  /** Listener answers within the error window. */
  readonly listener?: { readonly answered: number; readonly errors: number };
  readonly redis?: { readonly reachable: boolean; readonly durable: boolean; readonly aof?: boolean | undefined; readonly evictionPolicy?: string | undefined };
  readonly certificates?: ReadonlyArray<{ readonly name: string; readonly notAfter?: number; readonly error?: string }>;
  /** The PAS diary (src/flows/diary/): feed age per service (undefined = never fed), its limit, conflicts in the window. */
  readonly diary?: DiaryObservation;
}

export interface AlertState {
  readonly alert: AlertName;
  readonly subject: string;
  readonly firing: boolean;
  /** When it last changed state, ms. */
  readonly since: number;
  readonly details: Details;
}

/** Keyed `alert|subject`. */
export type AlertStates = ReadonlyMap<string, AlertState>;

export interface AlertChange {
  readonly alert: AlertName;
  readonly subject: string;
  readonly firing: boolean;
  readonly details: Details;
  /** How long the previous state lasted (ms), for a resolution. */
  readonly lastedMs?: number;
}

const DAY_MS = 86_400_000;

/**
 * The pure rule evaluation: previous states + observations → new states and the changes to report.
 * An alert first seen not firing is recorded (for the gauge) but is not a change.
 */
type Verdict = { readonly alert: AlertName; readonly subject: string; readonly firing: boolean; readonly details: Details };

/**
 * The rules, one family each: the alerts it decides and its verdicts, or undefined when its observation was not made
 * this time (its alerts then keep their state).
 */
const RULE_FAMILIES: ReadonlyArray<{ readonly alerts: readonly AlertName[]; readonly verdicts: (o: Observations, rules: AlertRules, now: number) => Verdict[] | undefined }> = [
  {
    alerts: ['lane_head_stuck'],
    verdicts: (o, rules, now) =>
      o.lanes?.map((lane) => {
        const ageSeconds = lane.head ? Math.max(0, Math.round((now - lane.head.since) / 1000)) : 0;
        return {
          alert: 'lane_head_stuck',
          subject: lane.destination,
          firing: lane.head !== undefined && ageSeconds > rules.laneHeadMaxAgeSeconds,
          details: lane.head
            ? {
                headAgeSeconds: ageSeconds,
                messageId: lane.head.messageId,
                controlId: lane.head.controlId,
                attempts: lane.head.attempts,
                waiting: lane.waiting,
                ...(lane.head.lastOutcome ? { lastOutcome: lane.head.lastOutcome } : {}),
              }
            : { waiting: lane.waiting },
        };
      }),
  },
  {
    alerts: ['dead_letters'],
    verdicts: (o, rules) => {
      const d = o.deadLetters;
      if (!d) {
        return undefined;
      }
      return ([
        ['delivery', d.delivery, d.ids?.delivery],
        ['responses', d.responses, d.ids?.responses],
        ['mapping', d.mappingFailures, d.ids?.mappingFailures],
      ] as const).map(([subject, count, ids]) => ({ alert: 'dead_letters', subject, firing: count > rules.deadLettersAbove, details: { count, ...(ids && ids.length > 0 ? { ids } : {}) } }));
    },
  },
  {
    alerts: ['listener_errors'],
    verdicts: (o, rules) => {
      if (!o.listener) {
        return undefined;
      }
      const { answered, errors } = o.listener;
      const rate = answered > 0 ? errors / answered : 0;
      return [{
        alert: 'listener_errors',
        subject: 'listener',
        firing: answered >= rules.errorMinRequests && rate > rules.errorRate,
        details: { answered, errors, rate: Math.round(rate * 1000) / 1000, windowSeconds: rules.errorWindowSeconds },
      }];
    },
  },
  {
    alerts: ['redis_not_durable'],
    verdicts: (o, rules) => {
      const r = o.redis;
      if (!r || !rules.redisDurability) {
        return undefined;
      }
      const details: Details = r.reachable ? { reachable: true, aof: String(r.aof), evictionPolicy: r.evictionPolicy ?? 'unknown' } : { reachable: false };
      return [{ alert: 'redis_not_durable', subject: 'redis', firing: !r.reachable || !r.durable, details }];
    },
  },
  {
    alerts: ['certificate_expiring'],
    verdicts: (o, rules, now) =>
      o.certificates?.map((cert): Verdict => {
        if (cert.notAfter === undefined) {
          // Unreadable certificate file: the listener will fail on its next reload; say so.
          return { alert: 'certificate_expiring', subject: cert.name, firing: true, details: { error: cert.error ?? 'unreadable' } };
        }
        return {
          alert: 'certificate_expiring',
          subject: cert.name,
          firing: cert.notAfter - now < rules.certExpiryDays * DAY_MS,
          details: { daysLeft: Math.floor((cert.notAfter - now) / DAY_MS), notAfter: new Date(cert.notAfter).toISOString() },
        };
      }),
  },
  {
    // A feed that stopped: no scheduling message for a mapped service within the limit (0 = off). Never fed counts as
    // stopped, so a PAS interface that was never switched on is said too.
    alerts: ['diary_feed_stale', 'diary_conflicts'],
    verdicts: (o) => {
      const d = o.diary;
      if (!d) {
        return undefined;
      }
      const feeds = d.feeds.map((f): Verdict => {
        const stale = d.staleAfterSeconds > 0 && (f.feedAgeSeconds === undefined || f.feedAgeSeconds > d.staleAfterSeconds);
        return { alert: 'diary_feed_stale', subject: f.healthcareService, firing: stale, details: { feedAgeSeconds: f.feedAgeSeconds ?? -1, staleAfterSeconds: d.staleAfterSeconds } };
      });
      return [...feeds, { alert: 'diary_conflicts', subject: 'diary', firing: d.conflicts > 0, details: { count: d.conflicts } }];
    },
  },
];

/** Verdicts → new states, and the changes to report (a first verdict that is not firing is recorded, not reported). */
function nextStates(previous: AlertStates, verdicts: readonly Verdict[], observed: ReadonlySet<AlertName>, now: number): { readonly states: Map<string, AlertState>; readonly changes: AlertChange[] } {
  const states = new Map(previous);
  const changes: AlertChange[] = [];
  const seen = new Set<string>();
  for (const v of verdicts) {
    const key = `${v.alert}|${v.subject}`;
    seen.add(key);
    const before = previous.get(key);
    if (before?.firing === v.firing) {
      states.set(key, { ...before, details: v.details });
      continue;
    }
    states.set(key, { alert: v.alert, subject: v.subject, firing: v.firing, since: now, details: v.details });
    if (before || v.firing) {
      changes.push({ alert: v.alert, subject: v.subject, firing: v.firing, details: v.details, ...(before ? { lastedMs: now - before.since } : {}) });
    }
  }
  // A subject that is no longer there (a destination removed from config) resolves if it was firing.
  for (const [key, before] of previous) {
    if (observed.has(before.alert) && !seen.has(key)) {
      states.delete(key);
      if (before.firing) {
        changes.push({ alert: before.alert, subject: before.subject, firing: false, details: {}, lastedMs: now - before.since });
      }
    }
  }
  return { states, changes };
}

export function evaluateAlerts(
  previous: AlertStates,
  observations: Observations,
  rules: AlertRules,
): { readonly states: Map<string, AlertState>; readonly changes: AlertChange[] } {
  const verdicts: Verdict[] = [];
  const observed = new Set<AlertName>();
  for (const family of RULE_FAMILIES) {
    const v = family.verdicts(observations, rules, observations.at);
    if (v) {
      family.alerts.forEach((a) => observed.add(a));
      verdicts.push(...v);
    }
  }
  return nextStates(previous, verdicts, observed, observations.at);
}

// ---------------------------------------------------------------------------------------------------------------
// Sources

/** Reads the `notAfter` of PEM certificates (a file path, or the PEM itself); the first certificate is the leaf. */
export function certificateExpiries(certs: ReadonlyArray<{ name: string; pem: string | undefined }>): NonNullable<Observations['certificates']> {
  return certs
    .filter((c): c is { name: string; pem: string } => Boolean(c.pem))
    .map((c) => {
      try {
        const text = c.pem.includes('-----BEGIN') ? c.pem : readFileSync(c.pem, 'utf8');
        return { name: c.name, notAfter: Date.parse(new X509Certificate(text).validTo) };
      } catch (err) {
        return { name: c.name, error: (err as NodeJS.ErrnoException).code ?? 'unreadable' };
      }
    });
}

/** Lane heads of every destination; the head's age is taken from when it was queued (what the PAS is behind by). */
export async function laneObservations(
  deps: { redis: Redis; prefix: string },
  destinations: readonly string[],
): Promise<NonNullable<Observations['lanes']>> {
  return Promise.all(
    destinations.map(async (destination) => {
      const status = await getLaneStatus(deps, destination);
      if (!status.head) {
        return { destination, waiting: status.waiting };
      }
      const enqueuedAt = await deps.redis.hget(keyspace(deps.prefix).deliveryHistory(destination, status.head.messageId), 'enqueuedAt');
      const since = Date.parse(enqueuedAt ?? status.head.lastAttemptAt ?? '') || Date.now();
      return {
        destination,
        waiting: status.waiting,
        head: {
          messageId: status.head.messageId,
          controlId: status.head.controlId,
          since,
          attempts: status.head.attempts,
          ...(status.head.lastOutcome ? { lastOutcome: status.head.lastOutcome } : {}),
        },
      };
    }),
  );
}

/**
 * Dead letters. Delivery dead letters leave the set when ops replay or drop them, so all count. Response dead
 * letters (`resp:dead`) and mapping failures (`mapping-failures`) have no replay/drop tool yet and are never
 * removed: only those newer than the window count, else one failure would keep the alert firing for ever.
 */
export async function deadLetterObservations(redis: Redis, prefix: string, windowHours: number, now = Date.now()): Promise<NonNullable<Observations['deadLetters']>> {
  const from = String(now - windowHours * 3_600_000);
  const k = keyspace(prefix);
  const newest = String(ALERT_IDS_MAX);
  const [delivery, responses, mappingFailures, deliveryIds, responseIds, mappingIds] = await Promise.all([
    redis.zcard(k.deadLetters()),
    redis.zcount(k.responseDeadLetters(), from, '+inf'),
    redis.zcount(k.mappingFailures(), from, '+inf'),
    redis.zrevrange(k.deadLetters(), '0', String(ALERT_IDS_MAX - 1)),
    redis.zrevrangebyscore(k.responseDeadLetters(), '+inf', from, 'LIMIT', '0', newest),
    redis.zrevrangebyscore(k.mappingFailures(), '+inf', from, 'LIMIT', '0', newest),
  ]);
  return { delivery, responses, mappingFailures, ids: { delivery: deliveryIds, responses: responseIds, mappingFailures: mappingIds } };
}

/**
 * Listener answers over a sliding window, from the process's own `bars_bridge_requests_total` counter: the share of
 * 5xx answers, 501 excluded (REC_NOT_IMPLEMENTED answers a sender asking for an optional write; it is not a fault).
 */
export function listenerErrorWindow(counter: Counter<'endpoint' | 'status' | 'code'>, windowSeconds: number, now: () => number = Date.now) {
  const samples: Array<{ at: number; answered: number; errors: number }> = [{ at: now(), answered: 0, errors: 0 }];
  return async (): Promise<NonNullable<Observations['listener']>> => {
    const metric = await counter.get();
    let answered = 0;
    let errors = 0;
    for (const v of metric.values) {
      answered += v.value;
      const status = Number(v.labels.status);
      if (status >= 500 && status !== 501) {
        errors += v.value;
      }
    }
    const at = now();
    samples.push({ at, answered, errors });
    // Keep the newest sample at or before the window start as the baseline.
    while (samples.length > 2 && samples[1]!.at <= at - windowSeconds * 1000) {
      samples.shift();
    }
    const base = samples[0]!;
    return { answered: answered - base.answered, errors: errors - base.errors };
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The periodic runner

export interface AlertSources {
  readonly lanes?: () => Promise<Observations['lanes']>;
  readonly deadLetters?: () => Promise<Observations['deadLetters']>;
  readonly listener?: () => Promise<Observations['listener']>;
  readonly redis?: () => Promise<Observations['redis']>;
  readonly certificates?: () => Observations['certificates'];
  readonly diary?: () => Promise<Observations['diary']>;
}

export interface AlertRunner {
  /** Runs one evaluation now (tests; also what the timer calls). */
  evaluate(): Promise<AlertChange[]>;
  states(): AlertStates;
  stop(): Promise<void>;
}

/** Redis observation that never throws: an unreachable Redis is itself an alert. */
export function redisObservation(redis: Redis): () => Promise<Observations['redis']> {
  return async () => {
    try {
      const d = await redisDurability(redis);
      return { reachable: true, durable: d.durable, aof: d.aof, evictionPolicy: d.evictionPolicy };
    } catch {
      return { reachable: false, durable: false };
    }
  };
}

export function startAlerts(options: {
  readonly rules: AlertRules;
  readonly sources: AlertSources;
  readonly log: Logger;
  readonly metrics?: Metrics;
  readonly now?: () => number;
  /** Start the timer (default true); tests call evaluate() themselves. */
  readonly timer?: boolean;
  /** Told of every evaluation's changes (the webhook, alert-webhook.ts); must not throw. */
  readonly onChanges?: (changes: readonly AlertChange[], at: number) => void;
}): AlertRunner {
  const { rules, sources, log } = options;
  const now = options.now ?? Date.now;
  let states: AlertStates = new Map();
  let running: Promise<AlertChange[]> | undefined;

  const observe = async <T>(name: string, source: (() => Promise<T> | T) | undefined): Promise<T | undefined> => {
    if (!source) {
      return undefined;
    }
    try {
      return await source();
    } catch (err) {
      // Not observed this time (typically Redis down, which the redis rule reports): the family keeps its state.
      log.debug({ source: name, err: { message: (err as Error).message } }, 'alert source failed');
      return undefined;
    }
  };

  const evaluate = async (): Promise<AlertChange[]> => {
    const [lanes, deadLetters, listener, redis, certificates, diary] = await Promise.all([
      observe('lanes', sources.lanes),
      observe('deadLetters', sources.deadLetters),
      observe('listener', sources.listener),
      observe('redis', sources.redis),
      observe('certificates', sources.certificates),
      observe('diary', sources.diary),
    ]);
    const observations: Observations = {
      at: now(),
      ...(lanes ? { lanes } : {}),
      ...(deadLetters ? { deadLetters } : {}),
      ...(listener ? { listener } : {}),
      ...(redis ? { redis } : {}),
      ...(certificates ? { certificates } : {}),
      ...(diary ? { diary } : {}),
    };
    const result = evaluateAlerts(states, observations, rules);
    states = result.states;
    for (const change of result.changes) {
      if (change.firing) {
        log.error({ alert: change.alert, subject: change.subject, ...change.details }, 'alert firing');
      } else {
        log.info({ alert: change.alert, subject: change.subject, firingSeconds: Math.round((change.lastedMs ?? 0) / 1000) }, 'alert resolved');
      }
    }
    for (const s of states.values()) {
      options.metrics?.alert.set({ alert: s.alert, subject: s.subject }, s.firing ? 1 : 0);
    }
    if (result.changes.length > 0) {
      options.onChanges?.(result.changes, observations.at);
    }
    return result.changes;
  };

  // One evaluation at a time: a slow Redis must not pile evaluations up.
  const tick = (): Promise<AlertChange[]> => (running ??= evaluate().finally(() => (running = undefined)));
  // Each source's failure is already an observation (observe above); what is left is a bug, logged and counted.
  const failed = (err: unknown): void => reportFailure({ log, ...(options.metrics ? { failures: options.metrics.backgroundFailures } : {}) }, 'alerts', err);
  const timer = options.timer === false ? undefined : setInterval(() => void tick().catch(failed), rules.intervalSeconds * 1000);
  timer?.unref();
  // First evaluation soon after start-up, so an expiring certificate is said at boot.
  const first = timer ? setTimeout(() => void tick().catch(failed), 1000) : undefined;
  first?.unref();
  return {
    evaluate: tick,
    states: () => states,
    stop: async () => {
      clearInterval(timer);
      clearTimeout(first);
      await running?.catch(() => undefined);
    },
  };
}
