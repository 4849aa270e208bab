/*
 * Runs one `bars-bridge` command line in this process (the same program as the installed CLI) and collects what it
 * printed on stdout and stderr.
 */
import { PassThrough } from 'node:stream';
import type { Env } from '../../src/cli/context.js';
import { runCli } from '../../src/cli/program.js';

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runCommand(argv: readonly string[], env: Env = process.env): Promise<CliRun> {
  const out = new PassThrough();
  const err = new PassThrough();
  let outText = '';
  let errText = '';
  out.on('data', (c: Buffer) => (outText += c.toString()));
  err.on('data', (c: Buffer) => (errText += c.toString()));
  const code = await runCli(argv, { out, err, env });
  return { code, out: outText, err: errText };
}
