/*
 * Runs one `bars-bridge` command line in this process (the same program as the installed CLI) and collects what it
 * printed on stdout and stderr.
 */
import { Writable } from 'node:stream';
import type { Env } from '../../src/cli/context.js';
import { runCli } from '../../src/cli/program.js';

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runCommand(argv: readonly string[], env: Env = process.env): Promise<CliRun> {
  // Writables that collect synchronously: everything printed is in the text when runCli resolves.
  let outText = '';
  let errText = '';
  const out = new Writable({ write: (chunk, _encoding, done) => ((outText += String(chunk)), done()) });
  const err = new Writable({ write: (chunk, _encoding, done) => ((errText += String(chunk)), done()) });
  const code = await runCli(argv, { out, err, env });
  return { code, out: outText, err: errText };
}
