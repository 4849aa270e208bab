/*
 * `bars-bridge diary …`: the ops view of the PAS diary. `conflicts` lists bookings that could not be honoured as the
 * sender was told (the PAS refused our booking, or booked time one of ours holds); `status` shows how old each
 * service's mirror is. Ids, codes and times only.
 */
import { Command, Option } from 'commander';
import type { Redis } from 'ioredis';
import { integer, jsonOption, printJson, redisOptions, type Cli, type RedisCliOptions } from '../../cli/context.js';

interface Common extends RedisCliOptions {
  readonly json?: boolean;
}

export function diaryCommand(cli: Cli): Command {
  const group = new Command('diary').description('the PAS diary mirror: booking conflicts and staleness');
  const sub = (name: string, description: string): Command => redisOptions(group.command(name).description(description).addOption(jsonOption()));

  sub('conflicts', 'bookings the PAS refused or double-booked, newest first: when, kind, service, slot, our Appointment ids, PAS ids, reason')
    .addOption(new Option('--limit <n>', 'at most this many').argParser(integer(1)).default(100))
    .action(
      cli.action((options: Common & { limit: number }) =>
        run(cli, options, async (redis, prefix) => {
          const { listDiaryConflicts } = await import('./diary.js');
          const list = await listDiaryConflicts(redis, prefix, { limit: options.limit });
          if (options.json) {
            printJson(cli.out, list);
            return 0;
          }
          for (const c of list) {
            cli.out.write(
              `${c.at}  ${c.kind}  ${c.healthcareService ?? '-'}  slot ${c.slotStart ?? '-'}  appointment ${c.appointments.join(',')}  ` +
                `${c.pasAppointment ? `PAS ${c.pasAppointment}  ` : ''}${c.messageId ? `message ${c.messageId}  ` : ''}${c.controlId ? `MSH-10 ${c.controlId}  ` : ''}${c.reason}\n`,
            );
          }
          cli.out.write(`${list.length} diary conflict(s)\n`);
          return 0;
        }),
      ),
    );

  sub('status', 'per HealthcareService: when the PAS last sent a scheduling message and last answered a slot query').action(
    cli.action((options: Common) =>
      run(cli, options, async (redis, prefix) => {
        const { diarySeen } = await import('./diary.js');
        const seen = await diarySeen(redis, prefix);
        const now = Date.now();
        const rows = [...seen].map(([healthcareService, s]) => ({
          healthcareService,
          lastFeed: s.feed ? new Date(s.feed).toISOString() : null,
          lastQuery: s.query ? new Date(s.query).toISOString() : null,
          ageSeconds: Math.round((now - Math.max(s.feed ?? 0, s.query ?? 0)) / 1000),
        }));
        if (options.json) {
          printJson(cli.out, rows);
          return 0;
        }
        for (const r of rows) {
          cli.out.write(`${r.healthcareService}  age ${r.ageSeconds}s  feed ${r.lastFeed ?? '-'}  query ${r.lastQuery ?? '-'}\n`);
        }
        cli.out.write(`${rows.length} service(s) with a diary\n`);
        return 0;
      }),
    ),
  );
  return group;
}

async function run(cli: Cli, options: RedisCliOptions, work: (redis: Redis, prefix: string) => Promise<number>): Promise<number> {
  const { withCliRedis } = await import('../../cli/redis.js');
  return withCliRedis(cli, options, 'diary', () => false, work);
}
