/*
 * `bars-bridge dead-letters …`: the ops view of messages a lane gave up on. Prints ids, codes and reasons (never HL7
 * text); replay and drop are audited with --actor. Exit codes: 0 ok, 1 not found / failed / Redis unreachable,
 * 2 usage.
 */
import { Command } from 'commander';
import { actorOption, integer, jsonOption, printJson, redisOptions, UsageError, type Cli, type CliIo, type RedisCliOptions } from '../../cli/context.js';
import {
  DeadLetterNotFoundError,
  dropDeadLetter,
  listDeadLetters,
  readDeadLetterAudit,
  replayDeadLetter,
  replayDeadLetters,
  showDeadLetter,
} from './dead-letters.js';
import type { DeliveryStore } from './history.js';

interface Common extends RedisCliOptions {
  readonly json?: boolean;
}

/** Options of `dead-letters list`. */
export interface ListOptions extends Common {
  readonly destination?: string;
}

/** Options of `dead-letters replay`. */
export interface ReplayOptions extends Common {
  readonly actor: string;
  /** true: a fresh MSH-10 is generated; a string: that MSH-10. */
  readonly newControlId?: string | true;
  readonly reason?: string;
}

/** Options of `dead-letters replay --all`. */
export interface BulkReplayOptions {
  readonly all?: boolean;
  readonly since?: string;
  readonly workflow?: string;
  readonly destination?: string;
  readonly dryRun?: boolean;
}

/** Options of `dead-letters drop`. */
export interface DropOptions extends Common {
  readonly actor: string;
  readonly reason?: string;
}

/** Options of `dead-letters audit`. */
export interface AuditOptions extends Common {
  readonly limit: number;
}

/** Runs `work` on the configured Redis; a dead letter that is not there is a failure (exit 1) with its message. */
async function withStore(io: CliIo, options: RedisCliOptions, work: (store: DeliveryStore) => Promise<number>): Promise<number> {
  const { withCliRedis } = await import('../../cli/redis.js');
  return withCliRedis(io, options, 'dead-letters', (err) => err instanceof DeadLetterNotFoundError, (redis, prefix) => work({ redis, prefix }));
}

/** `dead-letters list|show|replay|drop|audit`. */
export function deadLettersCommand(cli: Cli): Command {
  const group = new Command('dead-letters').description('messages that failed delivery for good: inspect, replay (same or new MSH-10), drop');
  const sub = (name: string, description: string): Command => group.command(name).description(description);

  sub('list', 'every dead letter: when, destination, message id, MSH-10, reason, attempts')
    .option('--destination <name>', 'only this destination')
    .action(
      cli.action((options: ListOptions) =>
        withStore(cli, options, async (store) => {
          const list = await listDeadLetters(store, options.destination ? { destination: options.destination } : {});
          if (options.json) {
            printJson(cli.out, list);
            return 0;
          }
          for (const d of list) {
            cli.out.write(`${d.deadLetteredAt}  ${d.destination}  ${d.messageId}  MSH-10 ${d.controlId}  ${d.reason}  attempts ${d.attempts}  ${d.detail}\n`);
          }
          cli.out.write(`${list.length} dead letter(s)\n`);
          return 0;
        }),
      ),
    );

  sub('show', 'one dead letter with its delivery history (every attempt and ACK code), as JSON')
    .argument('<destination>')
    .argument('<messageId>')
    .action(
      cli.action((destination: string, messageId: string, options: Common) =>
        withStore(cli, options, async (store) => {
          printJson(cli.out, await showDeadLetter(store, destination, messageId));
          return 0;
        }),
      ),
    );

  sub('replay', 'put a dead letter back at its receipt position (held messages of its record follow), same MSH-10 or a new one; or --all in bulk')
    .argument('[destination]')
    .argument('[messageId]')
    .addOption(actorOption(cli.env))
    .option('--new-control-id [id]', 'send with a new MSH-10 (generated, or the one given) instead of the original')
    .option('--reason <text>', 'why, for the audit log')
    .option('--all', 'every dead letter (oldest receipt first), narrowed by --since / --workflow / --destination')
    .option('--since <time>', 'with --all: only dead letters since this ISO time')
    .option('--workflow <workflow>', 'with --all: only messages of this workflow')
    .option('--destination <name>', 'with --all: only this destination')
    .option('--dry-run', 'with --all: list what would be replayed; change nothing')
    .action(
      cli.action(async (destination: string | undefined, messageId: string | undefined, options: ReplayOptions & BulkReplayOptions) => {
              if (options.all === true) {
          if (destination !== undefined) {
            throw new UsageError('replay --all takes no destination or message id (use --destination to narrow it)');
          }
          if (options.since !== undefined && Number.isNaN(Date.parse(options.since))) {
            throw new UsageError(`--since ${options.since}: not a date-time`);
          }
          return withStore(cli, options, async (store) => {
            const { MessageStore } = await import('../../state/message-store.js');
            const messages = new MessageStore(store.redis, store.prefix);
            const items = await replayDeadLetters(
              store,
              {
                ...(options.since ? { since: new Date(options.since) } : {}),
                ...(options.workflow ? { workflow: options.workflow } : {}),
                ...(options.destination ? { destination: options.destination } : {}),
                workflowOf: async (id) => (await messages.getMessage(id))?.workflow,
              },
              { actor: options.actor, dryRun: options.dryRun === true, ...(options.reason ? { reason: options.reason } : {}) },
            );
            if (options.json) {
              printJson(cli.out, items);
            } else {
              for (const i of items) {
                cli.out.write(`${i.result.padEnd(15)} ${i.destination}/${i.messageId}  ${i.reason}  dead-lettered ${i.deadLetteredAt}${i.detail ? `  ${i.detail}` : ''}\n`);
              }
              const done = items.filter((i) => i.result === 'replayed' || i.result === 'would replay').length;
              cli.out.write(`${done} dead letter(s) ${options.dryRun ? 'would be replayed' : 'replayed'}${items.length > done ? `, ${items.length - done} not (mapping failures: bars-bridge reprocess --failed)` : ''}\n`);
            }
            return items.some((i) => i.result === 'failed') ? 1 : 0;
          });
        }
        if (destination === undefined || messageId === undefined) {
          throw new UsageError('replay needs <destination> <messageId>, or --all');
        }
        return withStore(cli, options, async (store) => {
          const fresh = options.newControlId;
          const controlId = await replayDeadLetter(store, destination, messageId, {
            actor: options.actor,
            controlId: fresh === undefined ? { mode: 'same' } : { mode: 'new', ...(typeof fresh === 'string' ? { controlId: fresh } : {}) },
            ...(options.reason ? { reason: options.reason } : {}),
          });
          if (options.json) {printJson(cli.out, { replayed: { destination, messageId, controlId } });}
          else {cli.out.write(`replayed ${destination}/${messageId} with MSH-10 ${controlId} (to its receipt position; held messages of its record follow it)\n`);}
          return 0;
        });
      }),
    );

  sub('drop', 'give up on a dead letter for good (kept in the audit log)')
    .argument('<destination>')
    .argument('<messageId>')
    .addOption(actorOption(cli.env))
    .option('--reason <text>', 'why, for the audit log')
    .action(
      cli.action((destination: string, messageId: string, options: DropOptions) =>
        withStore(cli, options, async (store) => {
          await dropDeadLetter(store, destination, messageId, { actor: options.actor, ...(options.reason ? { reason: options.reason } : {}) });
          if (options.json) {printJson(cli.out, { dropped: { destination, messageId } });}
          else {cli.out.write(`dropped ${destination}/${messageId}\n`);}
          return 0;
        }),
      ),
    );

  sub('audit', 'the latest replay and drop actions: when, who, what')
    .option('--limit <n>', 'how many entries', integer(1), 100)
    .action(
      cli.action((options: AuditOptions) =>
        withStore(cli, options, async (store) => {
          const entries = await readDeadLetterAudit(store, options.limit);
          if (options.json) {
            printJson(cli.out, entries);
            return 0;
          }
          for (const e of entries) {
            cli.out.write(`${e.at}  ${e.actor}  ${e.action}  ${e.destination}/${e.messageId}  ${e.detail}\n`);
          }
          return 0;
        }),
      ),
    );
  // The options every sub-command shares, listed after its own.
  for (const command of group.commands) {
    redisOptions(command.addOption(jsonOption()));
  }
  return group;
}
