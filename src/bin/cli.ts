#!/usr/bin/env node
/*
 * `bars-bridge <command>`: the process entry of the command line (src/cli/program.ts has the commands). Exit codes:
 * 0 ok, 1 the command ran and failed, 2 usage or configuration error.
 */
import { runCli } from '../cli/program.js';

void runCli(process.argv.slice(2), { out: process.stdout, err: process.stderr, env: process.env }).then((code) => {
  process.exitCode = code;
});
