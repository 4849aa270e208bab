/*
 * Ops commands: `trace` (the whole story of a message), `queues` (depths, oldest jobs, lane heads) and `pas-events`
 * (PAS events kept without a status change). They print for people by default and JSON with --json; they exit 0 when
 * they ran, 1 when nothing was found, 2 on usage errors.
 */
import os from 'node:os';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createProducerConnection } from '../store/redis.js';
import type { Config } from '../config/schema.js';
import { getLaneStatus } from '../delivery/lanes.js';
import { INBOUND_QUEUE } from '../queues/inbound.js';
import { sequencerStatus } from '../queues/sequencer.js';
import { PAS_EVENTS_QUEUE } from '../pas-events/listener.js';
import { MessageStore } from '../store/message-store.js';
import { destinationsOf } from '../runtime.js';
import type { StoredMessage } from '../bars/types.js';
import { formatTrace, messagesFor, trace } from './trace.js';
import { listKeptEvents } from '../pas-events/kept.js';

/** A connection for a one-off command: fails with a clear message rather than waiting for a Redis that is down. */
async function connect(config: Readonly<Config>): Promise<Redis> {
  const redis = createProducerConnection({ ...config.redis, commandTimeoutMs: 5000 });
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 3000);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  if (!ready) {
    redis.disconnect();
    throw new Error(`Redis at ${config.redis.url.replace(/\/\/[^@]*@/, '//***@')} does not answer`);
  }
  return redis;
}

/** The stored messages `key` names (trace.ts `messagesFor`), read from the configured Redis: for `map --message`. */
export async function storedMessages(config: Readonly<Config>, key: string): Promise<StoredMessage[]> {
  const redis = await connect(config);
  try {
    return await messagesFor(new MessageStore(redis, config.redis.prefix), key);
  } finally {
    redis.disconnect();
  }
}

export async function traceCommand(argv: readonly string[], out: NodeJS.WritableStream, config: Readonly<Config>): Promise<number> {
  const key = argv.find((a) => !a.startsWith('--'));
  if (!key) {
    out.write('usage: bars-bridge trace <request-id | bundle-id | receiver-id | MSH-10 | NHS number | reference> [--json]\n');
    return 2;
  }
  const redis = await connect(config);
  try {
    const actor = process.env.BARS_ACTOR ?? `${os.userInfo().username}@${os.hostname()} (cli)`;
    const result = await trace(new MessageStore(redis, config.redis.prefix), key, actor);
    out.write(argv.includes('--json') ? `${JSON.stringify(result, null, 2)}\n` : formatTrace(result));
    return result.records.length > 0 ? 0 : 1;
  } finally {
    redis.disconnect();
  }
}

export async function queuesCommand(argv: readonly string[], out: NodeJS.WritableStream, config: Readonly<Config>): Promise<number> {
  const redis = await connect(config);
  const prefix = config.redis.prefix;
  const queues = [INBOUND_QUEUE, PAS_EVENTS_QUEUE].map((name) => new Queue(name, { connection: redis, prefix }));
  try {
    const rows = await Promise.all(
      queues.map(async (q) => {
        const counts = (await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed')) as Record<'waiting' | 'active' | 'delayed' | 'failed' | 'completed', number>;
        const [oldest] = await q.getJobs(['waiting'], 0, 0, true);
        return { queue: q.name, ...counts, oldestWaitingSeconds: oldest ? Math.round((Date.now() - oldest.timestamp) / 1000) : 0 };
      }),
    );
    const laneRows = await Promise.all(destinationsOf(config).map((d) => getLaneStatus({ redis, prefix }, d.name)));
    const sequence = await sequencerStatus(redis, prefix);
    if (argv.includes('--json')) {
      out.write(`${JSON.stringify({ queues: rows, lanes: laneRows, sequence }, null, 2)}\n`);
      return 0;
    }
    for (const r of rows) {
      out.write(`${r.queue.padEnd(12)} waiting ${r.waiting}  active ${r.active}  delayed ${r.delayed}  failed ${r.failed}  completed ${r.completed}  oldest waiting ${r.oldestWaitingSeconds}s\n`);
    }
    for (const l of laneRows) {
      const head = l.head ? `head ${l.head.messageId} MSH-10 ${l.head.controlId} ${l.head.status}, attempt ${l.head.attempts}${l.head.lastOutcome ? `, last ${l.head.lastOutcome}` : ''}` : 'idle';
      out.write(`lane ${l.destination.padEnd(7)} waiting ${l.waiting}  ${head}\n`);
    }
    out.write(`receipt order: ${sequence.received} received, ${sequence.flushed} handed to lanes, ${sequence.ready} mapped and waiting for an earlier message\n`);
    return 0;
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    redis.disconnect();
  }
}

/** PAS events that changed nothing (no rule for their type, or no record of ours), within PAS_EVENTS_RETENTION_DAYS. */
export async function pasEventsCommand(argv: readonly string[], out: NodeJS.WritableStream, config: Readonly<Config>): Promise<number> {
  const redis = await connect(config);
  try {
    const events = await listKeptEvents(redis, config.redis.prefix, { now: Date.now(), retentionMs: config.pasEvents.retentionDays * 86_400_000 });
    if (argv.includes('--json')) {
      out.write(`${JSON.stringify({ retentionDays: config.pasEvents.retentionDays, events }, null, 2)}\n`);
      return 0;
    }
    out.write(`PAS events kept without a status change (last ${config.pasEvents.retentionDays} days): ${events.length}\n`);
    for (const e of events) {
      out.write(`${e.keptAt}  ${e.kind.padEnd(9)}  ${e.messageType.padEnd(7)}  from ${e.sender}  MSH-10 ${e.controlId}  event ${e.eventId}\n`);
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}
