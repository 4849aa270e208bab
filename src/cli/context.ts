/*
 * What every command of the `bars-bridge` CLI is given: where to print, the environment it reads its configuration
 * from, and the two ways a command ends other than success. Exit codes: 0 ok, 1 the command ran and failed (nothing
 * found, a failed send or golden case, Redis unreachable), 2 the command line or the configuration is wrong.
 *
 * The command definitions (src/<area>/cli.ts) load what a command needs only when it runs (`await import` in the
 * handler): `--help`, usage errors and `pas-sim` then start without loading the mapping engine, BullMQ and the
 * runtime (measured on a loaded machine: `bars-bridge --help` 13.5 s → 0.9 s).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';

export type Env = Record<string, string | undefined>;

export interface CliIo {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
  /** Environment the configuration is loaded from (process.env for the real CLI). */
  readonly env: Env;
}

export interface Cli extends CliIo {
  /**
   * Wraps a command's handler for commander: the number it resolves to is the exit code. Every handler goes through
   * here, so a command has exactly one way to report how it ended.
   */
  action<A extends unknown[]>(handler: (...args: A) => Promise<number>): (...args: A) => Promise<void>;
}

/** The command ran and failed; printed as one plain line on stderr, exit 1 (never a stack trace). */
export class CliFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** The command line is wrong in a way commander cannot see (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `--json`: the same option, with the same words, on every command whose output is data. */
export const jsonOption = (): Option => new Option('--json', 'print the result as JSON');

/** Writes a value as indented JSON and a newline. */
export function printJson(out: NodeJS.WritableStream, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Option parser for a whole number ≥ `min` (a bad value is a usage error, exit 2). */
export const integer = (min = 0) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new InvalidArgumentError(`must be a whole number ≥ ${min}`);
  }
  return n;
};

/** Option parser for a probability in [0, 1]. */
export const rate = (value: string): number => {
  const n = Number(value);
  if (!(value.trim() !== '' && n >= 0 && n <= 1)) {
    throw new InvalidArgumentError('must be between 0 and 1');
  }
  return n;
};

/** Option parser for a TCP port (0 = any free port). */
export const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError('must be a port number (0-65535)');
  }
  return n;
};

/**
 * `--actor`: who is acting, for the audit log (trace look-ups, dead-letter replays and drops); the same option
 * wherever an action is audited. Defaults to BARS_ACTOR, else `fallback`; required when neither is there.
 */
export function actorOption(env: Env, fallback?: string): Option {
  const value = env.BARS_ACTOR ?? fallback;
  const option = new Option('--actor <who>', `who you are, for the audit log (default: BARS_ACTOR${fallback ? `, else ${fallback}` : ''})`).makeOptionMandatory();
  return value ? option.default(value) : option;
}

/** Options every command that reads Redis takes (src/cli/redis.ts resolves them). */
export interface RedisCliOptions {
  readonly redisUrl?: string;
  readonly redisPrefix?: string;
}

/** Adds `--redis-url` and `--redis-prefix` (same names on every command that reads Redis). */
export function redisOptions(command: Command): Command {
  return command
    .option('--redis-url <url>', 'Redis to use (default: REDIS_URL, else the development Redis `npm start` recorded in .dev/redis/url, else redis://127.0.0.1:6379)')
    .option('--redis-prefix <prefix>', 'key prefix (default: REDIS_PREFIX, else {bars})');
}
