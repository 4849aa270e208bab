/*
 * Ops commands: `trace` (the whole story of a message), `queues` (depths, oldest jobs, lane heads, held records),
 * `pas-events` (PAS events kept without a status change) and `reprocess` (render stored messages again after a
 * mapping fix). They print for people by default and JSON with --json; they exit 0 when they ran, 1 when nothing was
 * found (or something failed), 2 on usage errors.
 */
import os from 'node:os';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createProducerConnection } from '../store/redis.js';
import type { Config } from '../config/schema.js';
import path from 'node:path';
import { getLaneStatus, handOffToLanes } from '../delivery/lanes.js';
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
    const result = await trace(new MessageStore(redis, config.redis.prefix), key, cliActor());
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
      out.write(`lane ${l.destination.padEnd(7)} waiting ${l.waiting}  ${head}${l.held > 0 ? `  held ${l.held}` : ''}\n`);
      for (const r of l.heldRecords) {
        out.write(`  held behind dead letter ${l.destination}/${r.behind}: ${r.held} later message(s) of ${r.record}\n`);
      }
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

/** Who is running a command, for audit trails: BARS_ACTOR, else user@host. */
function cliActor(): string {
  return process.env.BARS_ACTOR ?? `${os.userInfo().username}@${os.hostname()} (cli)`;
}

const REPROCESS_USAGE = 'usage: bars-bridge reprocess <reference | message id | record id> | --failed [--since T] [--workflow W]  [--dry-run] [--actor WHO] [--json]\n';

/**
 * `bars-bridge reprocess`: renders stored messages again with the mappings on disk now and hands the outputs to the
 * lanes in receipt order (src/queues/reprocess.ts), audited with the actor (--actor, else BARS_ACTOR, else user@host).
 */
export async function reprocessCommand(argv: readonly string[], out: NodeJS.WritableStream, config: Readonly<Config>): Promise<number> {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--') ? argv[i + 1] : undefined;
  };
  const flagValues = new Set(['--since', '--workflow', '--actor'].map((f) => value(f)).filter((v): v is string => v !== undefined));
  const key = argv.find((a) => !a.startsWith('--') && !flagValues.has(a));
  const failed = argv.includes('--failed');
  const since = value('--since');
  if ((key === undefined) === !failed || (since !== undefined && Number.isNaN(Date.parse(since)))) {
    out.write(REPROCESS_USAGE);
    return 2;
  }
  const { loadMappings } = await import('../mapping/index.js');
  const { reprocess } = await import('../queues/reprocess.js');
  const registry = loadMappings(path.resolve(config.mappingsDir));
  const redis = await connect(config);
  try {
    const prefix = config.redis.prefix;
    const workflow = value('--workflow');
    const results = await reprocess(
      {
        store: new MessageStore(redis, prefix),
        mappings: registry,
        destinations: new Set(destinationsOf(config).map((d) => d.name)),
        sequencer: { redis, prefix, handOff: handOffToLanes({ redis, prefix }) },
      },
      key !== undefined ? { kind: 'key', key } : { kind: 'failed', ...(since ? { since: new Date(since) } : {}), ...(workflow ? { workflow } : {}) },
      { actor: value('--actor') ?? cliActor(), dryRun: argv.includes('--dry-run') },
    );
    if (argv.includes('--json')) {
      out.write(`${JSON.stringify(results, null, 2)}\n`);
    } else {
      for (const m of results) {
        out.write(`${m.messageId}  ${m.workflow}\n`);
        for (const o of m.outputs) {
          out.write(`  ${o.deliveryId.slice(m.messageId.length + 1)} → ${o.destination}  ${o.result}${o.detail ? `  ${o.detail}` : ''}\n`);
        }
      }
      out.write(`${results.length} message(s)${argv.includes('--dry-run') ? ' (dry run: nothing changed)' : ''}\n`);
    }
    return results.length === 0 || results.some((m) => m.outputs.some((o) => o.result === 'failed')) ? 1 : 0;
  } finally {
    redis.disconnect();
  }
}
