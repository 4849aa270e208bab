/*
 * `bars-bridge response-dead-letters …`: asynchronous BaRS responses that failed for good (the proxy refused them,
 * their retries ran out, or they could not be built). The sender of the original request heard nothing, so ops see
 * them here and replay (same request, or rebuilt as a new one) or drop them; both audited with --actor. Prints ids,
 * codes and reasons, never the response body.
 */
import { Command, Option } from 'commander';
import { actorOption, integer, jsonOption, printJson, redisOptions, type Cli, type CliIo, type RedisCliOptions } from '../../cli/context.js';
import type { MessageStore } from '../../state/message-store.js';
import type { ResponseReplayMode } from './dead-letters.js';

interface Common extends RedisCliOptions {
  readonly json?: boolean;
}

/** Runs `work` on the configured Redis; a response that is not a dead letter is a failure (exit 1). */
async function withStore(io: CliIo, options: RedisCliOptions, work: (store: MessageStore) => Promise<number>): Promise<number> {
  const [{ withCliRedis }, { MessageStore }, { ResponseDeadLetterNotFoundError }] = await Promise.all([
    import('../../cli/redis.js'),
    import('../../state/message-store.js'),
    import('./dead-letters.js'),
  ]);
  return withCliRedis(io, options, 'response-dead-letters', (err) => err instanceof ResponseDeadLetterNotFoundError, (redis, prefix) => work(new MessageStore(redis, prefix)));
}

/** `response-dead-letters list|show|replay|drop|audit`. */
export function responseDeadLettersCommand(cli: Cli): Command {
  const group = new Command('response-dead-letters').description('asynchronous BaRS responses that failed for good: inspect, replay (same request or rebuilt), drop');
  const sub = (name: string, description: string): Command => redisOptions(group.command(name).description(description).addOption(jsonOption()));

  sub('list', 'every dead-lettered response: when, kind, response id, record, X-Request-Id, last HTTP status, reason').action(
    cli.action((options: Common) =>
      withStore(cli, options, async (store) => {
        const { listResponseDeadLetters } = await import('./dead-letters.js');
        const list = await listResponseDeadLetters(store);
        if (options.json) {
          printJson(cli.out, list);
          return 0;
        }
        for (const d of list) {
          cli.out.write(`${d.at ?? '-'}  ${d.kind}  ${d.responseId}  record ${d.recordId}  request ${d.requestId}  HTTP ${d.lastStatus ?? '-'}  ${d.deadReason ?? ''}\n`);
        }
        cli.out.write(`${list.length} response dead letter(s)\n`);
        return 0;
      }),
    ),
  );

  sub('show', "one dead-lettered response with the proxy's OperationOutcome (no body)")
    .argument('<responseId>')
    .action(
      cli.action((responseId: string, options: Common) =>
        withStore(cli, options, async (store) => {
          const { showResponseDeadLetter } = await import('./dead-letters.js');
          printJson(cli.out, await showResponseDeadLetter(store, responseId));
          return 0;
        }),
      ),
    );

  sub('replay', 'send it again through its conversation\'s lane: the same request (same body and X-Request-Id) or --rebuild (new body, new X-Request-Id)')
    .argument('<responseId>')
    .addOption(actorOption(cli.env))
    .option('--rebuild', 'build the body again from the stored original with the current code, as a new request')
    .option('--reason <text>', 'why, for the audit log')
    .action(
      cli.action((responseId: string, options: Common & { actor: string; rebuild?: boolean; reason?: string }) =>
        withStore(cli, options, async (store) => {
          const [{ replayResponseDeadLetter }, { createResponseQueue }] = await Promise.all([import('./dead-letters.js'), import('./queue.js')]);
          const queue = createResponseQueue(store.redis, store.prefix);
          try {
            const mode: ResponseReplayMode = options.rebuild ? 'rebuild' : 'same';
            const requestId = await replayResponseDeadLetter({ store, queue }, responseId, { actor: options.actor, mode, ...(options.reason ? { reason: options.reason } : {}) });
            if (options.json) {printJson(cli.out, { replayed: { responseId, mode, requestId } });}
            else {cli.out.write(`replayed response ${responseId} (${mode}) with X-Request-Id ${requestId}\n`);}
            return 0;
          } finally {
            await queue.close();
          }
        }),
      ),
    );

  sub('drop', 'give up on a dead-lettered response for good (kept as dropped, audited)')
    .argument('<responseId>')
    .addOption(actorOption(cli.env))
    .option('--reason <text>', 'why, for the audit log (e.g. "sender told by phone")')
    .action(
      cli.action((responseId: string, options: Common & { actor: string; reason?: string }) =>
        withStore(cli, options, async (store) => {
          const { dropResponseDeadLetter } = await import('./dead-letters.js');
          await dropResponseDeadLetter(store, responseId, { actor: options.actor, ...(options.reason ? { reason: options.reason } : {}) });
          if (options.json) {printJson(cli.out, { dropped: { responseId } });}
          else {cli.out.write(`dropped response ${responseId}\n`);}
          return 0;
        }),
      ),
    );

  sub('audit', 'the latest replay and drop actions on responses: when, who, what')
    .addOption(new Option('--limit <n>', 'how many entries').argParser(integer(1)).default(100))
    .action(
      cli.action((options: Common & { limit: number }) =>
        withStore(cli, options, async (store) => {
          const { readResponseDeadLetterAudit } = await import('./dead-letters.js');
          const entries = await readResponseDeadLetterAudit(store, options.limit);
          if (options.json) {printJson(cli.out, entries);}
          else {entries.forEach((e) => cli.out.write(`${JSON.stringify(e)}\n`));}
          return 0;
        }),
      ),
    );
  return group;
}
