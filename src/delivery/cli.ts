/*
 * `bars-bridge dead-letters …`: the ops view of messages a lane gave up on. The CLI dispatcher (src/bin) owns
 * process set-up; this module only parses its own arguments and prints ids, codes and reasons (never HL7 text).
 *
 *   dead-letters list [--destination D]
 *   dead-letters show <destination> <messageId>
 *   dead-letters replay <destination> <messageId> --actor WHO [--new-control-id [ID]] [--reason TEXT]
 *   dead-letters replay --all [--since T] [--workflow W] [--destination D] [--dry-run] --actor WHO
 *   dead-letters drop <destination> <messageId> --actor WHO [--reason TEXT]
 *   dead-letters audit [--limit N]
 */
import { Redis } from 'ioredis';
import {
  DeadLetterNotFoundError,
  dropDeadLetter,
  listDeadLetters,
  readDeadLetterAudit,
  replayDeadLetter,
  replayDeadLetters,
  showDeadLetter,
} from './dead-letters.js';
import { MessageStore } from '../store/message-store.js';
import type { DeliveryStore } from './history.js';

/** How the command reaches Redis; defaults come from REDIS_URL and BARS_PREFIX. */
export interface DeadLettersCliOptions {
  readonly redisUrl?: string;
  readonly prefix?: string;
}

const USAGE = `usage: bars-bridge dead-letters list [--destination D]
       bars-bridge dead-letters show <destination> <messageId>
       bars-bridge dead-letters replay <destination> <messageId> --actor WHO [--new-control-id [ID]] [--reason TEXT]
       bars-bridge dead-letters replay --all [--since T] [--workflow W] [--destination D] [--dry-run] --actor WHO
       bars-bridge dead-letters drop <destination> <messageId> --actor WHO [--reason TEXT]
       bars-bridge dead-letters audit [--limit N]
`;

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

function parse(argv: readonly string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg.startsWith('--')) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        flags.set(arg.slice(2), next);
        i += 1;
      } else {
        flags.set(arg.slice(2), true);
      }
    } else {
      positional.push(arg);
    }
  }
  return { positional, flags };
}

const str = (v: string | true | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Runs `dead-letters <sub-command>`.
 * @param argv - arguments after `dead-letters`.
 * @param out - where to print.
 * @returns process exit code (0 ok, 1 not found / failed, 2 usage).
 */
export async function deadLettersCommand(
  argv: readonly string[],
  out: NodeJS.WritableStream,
  options: DeadLettersCliOptions = {},
): Promise<number> {
  const { positional, flags } = parse(argv);
  const [sub, destination, messageId] = positional;
  const bulk = sub === 'replay' && (flags.has('all') || flags.has('failed'));
  const needsTarget = sub === 'show' || (sub === 'replay' && !bulk) || sub === 'drop';
  const needsActor = (sub === 'replay' && !flags.has('dry-run')) || sub === 'drop';
  const since = str(flags.get('since'));
  if (since !== undefined && Number.isNaN(Date.parse(since))) {
    out.write(`--since: not a date/time: ${since}\n`);
    return 2;
  }
  const actor = str(flags.get('actor'));
  if (!sub || !['list', 'show', 'replay', 'drop', 'audit'].includes(sub) || (needsTarget && (!destination || !messageId)) || (needsActor && !actor)) {
    out.write(USAGE);
    return 2;
  }
  const redis = new Redis(options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    enableOfflineQueue: false,
    lazyConnect: true,
  });
  const store: DeliveryStore = { redis, prefix: options.prefix ?? process.env.REDIS_PREFIX ?? '{bars}' };
  try {
    await redis.connect();
    switch (sub) {
      case 'list': {
        const list = await listDeadLetters(store, { ...(str(flags.get('destination')) ? { destination: str(flags.get('destination'))! } : {}) });
        for (const d of list) {
          out.write(`${d.deadLetteredAt}  ${d.destination}  ${d.messageId}  MSH-10 ${d.controlId}  ${d.reason}  attempts ${d.attempts}  ${d.detail}\n`);
        }
        out.write(`${list.length} dead letter(s)\n`);
        return 0;
      }
      case 'show': {
        const { deadLetter, history } = await showDeadLetter(store, destination!, messageId!);
        out.write(`${JSON.stringify({ deadLetter, history }, null, 2)}\n`);
        return 0;
      }
      case 'replay': {
        if (bulk) {
          const messages = new MessageStore(redis, store.prefix);
          const items = await replayDeadLetters(
            store,
            {
              ...(since ? { since: new Date(since) } : {}),
              ...(str(flags.get('workflow')) ? { workflow: str(flags.get('workflow'))! } : {}),
              ...(str(flags.get('destination')) ? { destination: str(flags.get('destination'))! } : {}),
              workflowOf: async (id) => (await messages.getMessage(id))?.workflow,
            },
            { actor: actor ?? 'dry-run', dryRun: flags.has('dry-run'), ...(str(flags.get('reason')) ? { reason: str(flags.get('reason'))! } : {}) },
          );
          for (const i of items) {
            out.write(`${i.result.padEnd(15)} ${i.destination}/${i.messageId}  ${i.reason}  dead-lettered ${i.deadLetteredAt}${i.detail ? `  ${i.detail}` : ''}\n`);
          }
          const done = items.filter((i) => i.result === 'replayed' || i.result === 'would replay').length;
          out.write(`${done} dead letter(s) ${flags.has('dry-run') ? 'would be replayed' : 'replayed'}${items.length > done ? `, ${items.length - done} not (mapping failures: bars-bridge reprocess --failed)` : ''}\n`);
          return items.some((i) => i.result === 'failed') ? 1 : 0;
        }
        const fresh = flags.get('new-control-id');
        const controlId = await replayDeadLetter(store, destination!, messageId!, {
          actor: actor!,
          controlId: fresh === undefined ? { mode: 'same' } : { mode: 'new', ...(typeof fresh === 'string' ? { controlId: fresh } : {}) },
          ...(str(flags.get('reason')) ? { reason: str(flags.get('reason'))! } : {}),
        });
        out.write(`replayed ${destination}/${messageId} with MSH-10 ${controlId} (to its receipt position; held messages of its record follow it)\n`);
        return 0;
      }
      case 'drop': {
        await dropDeadLetter(store, destination!, messageId!, { actor: actor!, ...(str(flags.get('reason')) ? { reason: str(flags.get('reason'))! } : {}) });
        out.write(`dropped ${destination}/${messageId}\n`);
        return 0;
      }
      default: {
        const entries = await readDeadLetterAudit(store, Number(str(flags.get('limit')) ?? 100));
        for (const e of entries) {
          out.write(`${e.at}  ${e.actor}  ${e.action}  ${e.destination}/${e.messageId}  ${e.detail}\n`);
        }
        return 0;
      }
    }
  } catch (err) {
    out.write(`dead-letters: ${err instanceof DeadLetterNotFoundError ? err.message : (err as Error).message}\n`);
    return 1;
  } finally {
    redis.disconnect();
  }
}
