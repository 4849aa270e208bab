/*
 * Ops commands: `trace` (the whole story of a message), `queues` (depths, oldest jobs, lane heads, held records),
 * `pas-events` (PAS events kept without a status change) and `reprocess` (render stored messages again after a
 * mapping fix). They print for people by default and JSON with --json; they exit 0 when
 * they ran, 1 when nothing was found or Redis is unreachable, 2 on usage errors.
 */
import os from 'node:os';
import { Command } from 'commander';
import { actorOption, jsonOption, printJson, redisOptions, UsageError, type Cli, type CliIo, type RedisCliOptions } from '../cli/context.js';
import type { StoredMessage } from '../protocol/bars/types.js';

/** Options of `trace`. */
export interface TraceOptions extends RedisCliOptions {
  readonly actor: string;
  readonly json?: boolean;
}

/** Options of `queues`. */
export interface QueuesOptions extends RedisCliOptions {
  readonly json?: boolean;
}

/** Options of `pas-events`. */
export interface PasEventsOptions extends RedisCliOptions {
  readonly json?: boolean;
}

/** `trace <key>`. */
export function traceCommand(cli: Cli): Command {
  return redisOptions(
    new Command('trace')
      .summary('the whole story of a message')
      .description('the whole story of a message: records, versions, outputs, delivery attempts, PAS events, responses (the look-up is audited)')
      .argument('<key>', 'request id, Bundle id, our message id, MSH-10, NHS number or our reference (BB-…)')
      .addOption(actorOption(cli.env, `${os.userInfo().username}@${os.hostname()} (cli)`))
      .addOption(jsonOption()),
  ).action(cli.action((key: string, options: TraceOptions) => runTrace(key, options, cli)));
}

/** `queues`. */
export function queuesCommand(cli: Cli): Command {
  return redisOptions(
    new Command('queues')
      .description('queue depths and oldest waiting jobs, delivery lane heads, receipt-order backlog')
      .addOption(jsonOption()),
  ).action(cli.action((options: QueuesOptions) => runQueues(options, cli)));
}

/** `pas-events`. */
export function pasEventsCommand(cli: Cli): Command {
  return redisOptions(
    new Command('pas-events')
      .description('PAS events kept without a status change (no rule for their type, or no record of ours), within PAS_EVENTS_RETENTION_DAYS')
      .addOption(jsonOption()),
  ).action(cli.action((options: PasEventsOptions) => runPasEvents(options, cli)));
}

/** Looks a message up (the look-up is audited with the actor); 1 when nothing matches. */
export async function runTrace(key: string, options: TraceOptions, io: CliIo): Promise<number> {
  const [{ openCliRedis }, { MessageStore }, { formatTrace, trace }] = await Promise.all([
    import('../cli/redis.js'),
    import('../state/message-store.js'),
    import('./trace.js'),
  ]);
  const { redis, prefix, close } = await openCliRedis(io.env, options);
  try {
    const result = await trace(new MessageStore(redis, prefix), key, options.actor);
    if (options.json) {printJson(io.out, result);}
    else {io.out.write(formatTrace(result));}
    return result.records.length > 0 ? 0 : 1;
  } finally {
    close();
  }
}

/** Prints queue, lane and sequencer state. */
export async function runQueues(options: QueuesOptions, io: CliIo): Promise<number> {
  const [{ openCliRedis }, { Queue }, { getLaneStatus }, { INBOUND_QUEUE }, { sequencerStatus }, { PAS_EVENTS_QUEUE }, { destinationsOf }] = await Promise.all([
    import('../cli/redis.js'),
    import('bullmq'),
    import('../flows/delivery/lanes.js'),
    import('../flows/inbound/inbound.js'),
    import('../flows/inbound/sequencer.js'),
    import('../flows/pas-events/listener.js'),
    import('../config/destinations.js'),
  ]);
  const { redis, prefix, config, close } = await openCliRedis(io.env, options);
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
    if (options.json) {
      printJson(io.out, { queues: rows, lanes: laneRows, sequence });
      return 0;
    }
    for (const r of rows) {
      io.out.write(`${r.queue.padEnd(12)} waiting ${r.waiting}  active ${r.active}  delayed ${r.delayed}  failed ${r.failed}  completed ${r.completed}  oldest waiting ${r.oldestWaitingSeconds}s\n`);
    }
    for (const l of laneRows) {
      const head = l.head ? `head ${l.head.messageId} MSH-10 ${l.head.controlId} ${l.head.status}, attempt ${l.head.attempts}${l.head.lastOutcome ? `, last ${l.head.lastOutcome}` : ''}` : 'idle';
      io.out.write(`lane ${l.destination.padEnd(7)} waiting ${l.waiting}  ${head}${l.held > 0 ? `  held ${l.held}` : ''}\n`);
      for (const r of l.heldRecords) {
        io.out.write(`  held behind dead letter ${l.destination}/${r.behind}: ${r.held} later message(s) of ${r.record}\n`);
      }
    }
    io.out.write(`receipt order: ${sequence.received} received, ${sequence.flushed} handed to lanes, ${sequence.ready} mapped and waiting for an earlier message\n`);
    return 0;
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    close();
  }
}

/** Lists the PAS events that changed nothing (ids and codes only). */
export async function runPasEvents(options: PasEventsOptions, io: CliIo): Promise<number> {
  const [{ openCliRedis }, { listKeptEvents }] = await Promise.all([import('../cli/redis.js'), import('../flows/pas-events/kept.js')]);
  const { redis, prefix, config, close } = await openCliRedis(io.env, options);
  try {
    const retentionDays = config.pasEvents.retentionDays;
    const events = await listKeptEvents(redis, prefix, { now: Date.now(), retentionMs: retentionDays * 86_400_000 });
    if (options.json) {
      printJson(io.out, { retentionDays, events });
      return 0;
    }
    io.out.write(`PAS events kept without a status change (last ${retentionDays} days): ${events.length}\n`);
    for (const e of events) {
      io.out.write(`${e.keptAt}  ${e.kind.padEnd(9)}  ${e.messageType.padEnd(7)}  from ${e.sender}  MSH-10 ${e.controlId}  event ${e.eventId}\n`);
    }
    return 0;
  } finally {
    close();
  }
}

/** Options of `reprocess`. */
export interface ReprocessOptions extends RedisCliOptions {
  readonly failed?: boolean;
  readonly since?: string;
  readonly workflow?: string;
  readonly dryRun?: boolean;
  readonly actor: string;
  readonly json?: boolean;
}

/** `reprocess <key> | --failed`. */
export function reprocessCommand(cli: Cli): Command {
  return redisOptions(
    new Command('reprocess')
      .summary('render stored messages again with the current mappings')
      .description(
        'render stored messages again with the mappings on disk now and hand the outputs to the delivery lanes in receipt order ' +
          '(a dead letter is replayed at its receipt position; delivered and waiting outputs are left alone); audited',
      )
      .argument('[key]', 'our reference (BB-…), a message id or a record id')
      .option('--failed', 'every message with a dead-lettered or failed output (instead of a key)')
      .option('--since <time>', 'with --failed: only messages received since this ISO time')
      .option('--workflow <workflow>', 'with --failed: only this workflow (e.g. referral-new)')
      .option('--dry-run', 'list what would be reprocessed; change nothing')
      .addOption(actorOption(cli.env, `${os.userInfo().username}@${os.hostname()} (cli)`))
      .addOption(jsonOption()),
  ).action(cli.action((key: string | undefined, options: ReprocessOptions) => runReprocess(key, options, cli)));
}

/** Renders again and hands off (src/flows/inbound/reprocess.ts); 1 when nothing matched or an output failed again. */
export async function runReprocess(key: string | undefined, options: ReprocessOptions, io: CliIo): Promise<number> {
  if ((key === undefined) === !options.failed) {
    throw new UsageError('reprocess needs either a key or --failed (not both)');
  }
  if (options.since !== undefined && Number.isNaN(Date.parse(options.since))) {
    throw new UsageError(`--since ${options.since}: not a date-time`);
  }
  const [{ openCliRedis }, { MessageStore }, { loadMappings }, { reprocess }, { handOffToLanes }, { destinationsOf }, path] = await Promise.all([
    import('../cli/redis.js'),
    import('../state/message-store.js'),
    import('../mapping/index.js'),
    import('../flows/inbound/reprocess.js'),
    import('../flows/delivery/lanes.js'),
    import('../config/destinations.js'),
    import('node:path'),
  ]);
  const { redis, prefix, config, close } = await openCliRedis(io.env, options);
  try {
    const registry = loadMappings(path.resolve(config.mappingsDir));
    const results = await reprocess(
      {
        store: new MessageStore(redis, prefix),
        mappings: registry,
        destinations: new Set(destinationsOf(config).map((d) => d.name)),
        sequencer: { redis, prefix, handOff: handOffToLanes({ redis, prefix }) },
      },
      key !== undefined
        ? { kind: 'key', key }
        : { kind: 'failed', ...(options.since ? { since: new Date(options.since) } : {}), ...(options.workflow ? { workflow: options.workflow } : {}) },
      { actor: options.actor, dryRun: options.dryRun === true },
    );
    if (options.json) {
      printJson(io.out, results);
    } else {
      for (const m of results) {
        io.out.write(`${m.messageId}  ${m.workflow}\n`);
        for (const o of m.outputs) {
          io.out.write(`  ${o.deliveryId.slice(m.messageId.length + 1)} → ${o.destination}  ${o.result}${o.detail ? `  ${o.detail}` : ''}\n`);
        }
      }
      io.out.write(`${results.length} message(s)${options.dryRun ? ' (dry run: nothing changed)' : ''}\n`);
    }
    return results.length === 0 || results.some((m) => m.outputs.some((o) => o.result === 'failed')) ? 1 : 0;
  } finally {
    close();
  }
}

/** The stored messages `key` names (trace.ts messagesFor), for `map --message`. */
export async function storedMessages(io: CliIo, options: RedisCliOptions, key: string): Promise<StoredMessage[]> {
  const [{ openCliRedis }, { MessageStore }, { messagesFor }] = await Promise.all([import('../cli/redis.js'), import('../state/message-store.js'), import('./trace.js')]);
  const { redis, prefix, close } = await openCliRedis(io.env, options);
  try {
    return await messagesFor(new MessageStore(redis, prefix), key);
  } finally {
    close();
  }
}
