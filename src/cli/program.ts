/*
 * `bars-bridge <command>`: the one command line, for people and for the Procfile's processes. Every command and
 * sub-command takes --help; exit codes are 0 ok, 1 the command ran and failed, 2 usage or configuration error
 * (commander's own errors — unknown option, missing argument, bad value — all end in 2 through exitOverride).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { deadLettersCommand } from '../flows/delivery/cli.js';
import { certsCommand, pasSimCommand, sendCommand } from '../dev/cli.js';
import { mapCommand, mappingsCommand } from '../mapping/cli.js';
import { pasEventsCommand, queuesCommand, reprocessCommand, traceCommand } from '../ops/cli.js';
import { responseDeadLettersCommand } from '../flows/responses/cli.js';
import { diaryCommand } from '../flows/diary/cli.js';
import { CliFailure, type Cli, type CliIo } from './context.js';

/** `start [--web] [--worker]`: runs until SIGTERM/SIGINT (shutdownOnSignals exits the process). */
function startCommand(cli: Cli): Command {
  return new Command('start')
    .summary('run the receiver and/or the workers')
    .description('run the receiver and the workers (both by default: one process for a single machine)')
    .option('--web', 'only the mutual-TLS listener (the Procfile web process)')
    .option('--worker', 'only the queue workers: mapping, delivery lanes, PAS events, responses (the Procfile worker process)')
    .action(
      cli.action(async (options: { web?: boolean; worker?: boolean }) => {
        const { shutdownOnSignals, start } = await import('../runtime.js');
        // start() loads the configuration from process.env itself, and then warns about unknown variables.
        const running = await start({ web: !!options.web || !options.worker, worker: !!options.worker || !options.web });
        // SIGTERM/SIGINT: stop in reverse order of start-up, bounded; the process exits from there.
        shutdownOnSignals(running);
        return new Promise<number>(() => undefined);
      }),
    );
}

/** The version in package.json (two levels up from src/cli, three from dist/src/cli). */
function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'bars-bridge' && pkg.version) {
        return pkg.version;
      }
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

/**
 * Applies the run's output streams and exit handling to a command and every sub-command under it. Positional
 * options: an option belongs to the command it follows (`pas-sim arrival BB-1 --json` is arrival's --json, not
 * pas-sim's).
 */
function configure(command: Command, io: CliIo): void {
  command
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) })
    .showHelpAfterError('(add --help for usage)');
  for (const sub of command.commands) {
    configure(sub, io);
  }
}

/** Builds the whole command line for one run. */
export function buildProgram(cli: Cli): Command {
  const program = new Command('bars-bridge')
    .description('BaRS receiver that delivers bookings and referrals to HL7 v2 / flat-file systems')
    .version(version())
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 the command ran and failed (nothing found, a failed send or golden case, Redis unreachable),\n' +
        '2 usage or configuration error. `bars-bridge <command> --help` shows a command\'s options.',
    );
  for (const command of [
    startCommand(cli),
    sendCommand(cli),
    traceCommand(cli),
    queuesCommand(cli),
    pasEventsCommand(cli),
    deadLettersCommand(cli),
    reprocessCommand(cli),
    responseDeadLettersCommand(cli),
    diaryCommand(cli),
    mapCommand(cli),
    mappingsCommand(cli),
    pasSimCommand(cli),
    certsCommand(cli),
  ]) {
    program.addCommand(command);
  }
  configure(program, cli);
  return program;
}

/**
 * Runs one command line.
 * @param argv - the arguments after the program name.
 * @returns the exit code (the promise never settles for the long-running `start` and `pas-sim`, which exit on signals).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const cli: Cli = {
    ...io,
    action:
      (handler) =>
      async (...args) => {
        exitCode = await handler(...args);
      },
  };
  try {
    await buildProgram(cli).parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed the message (or the help / version asked for).
      return err.exitCode === 0 ? 0 : 2;
    }
    // By name: the configuration module is loaded only by the commands that need it.
    if (err instanceof Error && (err.name === 'ConfigError' || err.name === 'UsageError')) {
      io.err.write(`${err.message}\n`);
      return 2;
    }
    // A failure we described (CliFailure, or a listener port in use: ops/listen-errors.ts — by name like ConfigError,
    // as it may come from a module loaded separately) or one we did not foresee: one plain line either way.
    const described = err instanceof Error && (err.name === CliFailure.name || err.name === 'ListenerUnavailableError');
    io.err.write(`${described ? '' : 'error: '}${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
