/*
 * The PAS events flow in a worker process: the MLLP listener that stores what the PAS sends (A03/A04/A08/A11/…,
 * SIU^S26), and the worker that applies each stored event to its record, one at a time so events about one record
 * apply in the order the PAS sent them. What a status change means for the sender (a BaRS response) is the caller's
 * `onStatus`.
 */
import path from 'node:path';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/schema.js';
import { readPem } from '../../config/pem.js';
import type { Logger } from '../../logging.js';
import type { Metrics } from '../../metrics.js';
import { listenAs, type ListenerName } from '../../listen-errors.js';
import { StopStack, type Stoppable } from '../../lifecycle.js';
import { MessageStore, type RecordState } from '../../state/message-store.js';
import { PAS_EVENTS_QUEUE, startPasEventsListener, type PasEventJobData } from './listener.js';
import { processPasEvent, type StatusEvent } from './processor.js';
import { loadPasEventRules, type PasEventRule } from './rules.js';

export const PAS_EVENTS_LISTENER: ListenerName = { what: 'PAS events', portVariable: 'PAS_EVENTS_PORT', hostVariable: 'PAS_EVENTS_HOST' };

/** The PAS event rules of a mappings directory, and the file they came from (for `file:line` in problems). */
export function pasEventRulesOf(config: Readonly<Config>): { rules: PasEventRule[]; file: string } {
  const file = path.join(config.mappingsDir, 'pas-events', 'rules.yaml');
  return { rules: loadPasEventRules(file), file };
}

export interface PasEventsFlowDeps {
  readonly config: Readonly<Config>;
  readonly rules: readonly PasEventRule[];
  /** Non-blocking connection: the listener adds jobs on it. */
  readonly producer: Redis;
  /** The worker's (blocking) connection. */
  readonly redis: Redis;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly onStatus: (event: StatusEvent, record: RecordState) => Promise<void>;
  /** Sees every PAS message before its rule (the diary mirror). */
  readonly onMessage?: (text: string) => Promise<unknown>;
}

export interface PasEventsFlow extends Stoppable {
  /** The listener's port, when it is on. */
  readonly port: number | undefined;
}

export async function startPasEvents(deps: PasEventsFlowDeps): Promise<PasEventsFlow> {
  const { config, log, metrics, rules } = deps;
  const prefix = config.redis.prefix;
  const stack = new StopStack();
  try {
    const store = new MessageStore(deps.redis, prefix);
    const worker = new Worker<PasEventJobData>(
      PAS_EVENTS_QUEUE,
      (job: Job<PasEventJobData>) =>
        processPasEvent(job, {
          store,
          log,
          rules: () => rules,
          now: () => new Date(),
          retentionMs: config.pasEvents.retentionDays * 86_400_000,
          metrics,
          onStatus: deps.onStatus,
          ...(deps.onMessage ? { onMessage: deps.onMessage } : {}),
        }),
      { connection: deps.redis, prefix, concurrency: 1 },
    );
    worker.on('error', (err) => log.error({ err: { message: err.message } }, 'pas-events worker error'));
    stack.push('pas-events worker', () => worker.close());
    let port: number | undefined;
    const pe = config.pasEvents;
    if (pe.enabled) {
      const listener = await listenAs(PAS_EVENTS_LISTENER, pe.host, pe.port, () => startPasEventsListener({
        redis: deps.producer,
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
      stack.push('PAS events listener', () => listener.close());
      port = listener.port;
      log.info(
        { port, host: pe.host, tls: Boolean(pe.tls.cert), clientCertificate: Boolean(pe.tls.ca), senders: pe.allow.length, rules: rules.length },
        'PAS events listener (MLLP) started',
      );
    } else {
      log.info('PAS events listener off (PAS_EVENTS=off)');
    }
    return { port, stop: () => stack.stopAll(log, 10_000) };
  } catch (err) {
    await stack.stopAll(log, 5000);
    throw err;
  }
}
