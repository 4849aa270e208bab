#!/usr/bin/env node
/*
 * `bars-bridge <command>`: the one entry point for people and Procfile processes. Exit codes: 0 ok, 1 the command
 * ran and found a problem (a failed send, a failed golden case), 2 usage or configuration error.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { loadConfig, ConfigError } from '../config/load.js';
import { ensureDevCerts, readPem } from '../dev/certs.js';
import { sendBundle } from '../dev/send.js';
import { shutdownOnSignals, start } from '../runtime.js';
import { deadLettersCommand } from '../delivery/cli.js';
import { pasSimCommand } from '../dev/pas-sim.js';
import { mapCommand, mappingsTestCommand } from '../mapping/cli.js';
import { pasEventsCommand, queuesCommand, reprocessCommand, storedMessages, traceCommand } from '../ops/cli.js';

type Command = (argv: string[], out: NodeJS.WritableStream) => Promise<number>;

const USAGE = `Usage: bars-bridge <command>

  start [--web] [--worker]      run the receiver and/or the workers (both by default)
  send <bundle.json> [--url U]  post a Bundle to $process-message with dev headers and client certificate
  map <mapping> <bundle.json> [--explain]
                                print what a mapping makes of a Bundle (--explain: which rule filled each field,
                                and which rules produced nothing)
  map [<mapping>] --message <reference | message id> [--explain]
                                re-render a stored message (all of a referral's for a reference) with the current mappings
  mappings test [--update]      run every golden case under mappings/tests (diff on mismatch; --update: show the
                                diff, then write the new expected output)
  certs dev                     create development CA, server and client certificates under .dev/certs
  trace <id> [--json]           the whole story of a message: request id, Bundle id, our id, MSH-10, NHS number or reference
  queues [--json]               queue depths, oldest jobs, delivery lane heads, receipt-order backlog
  pas-events [--json]           PAS events kept without a status change (no rule, no record of ours)
  pas-sim [--port 2576] …       run the PAS simulator (MLLP; ACK AA or scripted AE/AR/delays/drops)
  dead-letters list|show|replay|drop|audit …
                                messages that failed delivery for good: inspect, replay (same or new MSH-10), drop;
                                replay --all [--since T] [--workflow W] [--dry-run] replays in bulk
  reprocess <reference | message id> | --failed [--since T] [--workflow W] [--dry-run]
                                render stored messages again with the current mappings and queue them in receipt order
  help                          this text
`;

async function startCommand(argv: string[]): Promise<number> {
  const onlyWeb = argv.includes('--web');
  const onlyWorker = argv.includes('--worker');
  const running = await start({ web: onlyWeb || !onlyWorker, worker: onlyWorker || !onlyWeb });
  // SIGTERM/SIGINT: stop in reverse order of start-up, bounded; the process exits from there.
  shutdownOnSignals(running);
  return new Promise<number>(() => undefined);
}

async function sendCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const file = argv.find((a) => !a.startsWith('--'));
  if (!file) {
    out.write('send needs a bundle file: bars-bridge send <bundle.json>\n');
    return 2;
  }
  const config = loadConfig();
  const urlIndex = argv.indexOf('--url');
  const url = urlIndex >= 0 ? argv[urlIndex + 1]! : `https://localhost:${config.http.port}`;
  const certs = ensureDevCerts(config.dataDir);
  const result = await sendBundle(path.resolve(file), {
    url,
    ca: readPem(config.tls.ca ?? certs.caCert),
    cert: readPem(certs.clientCert),
    key: readPem(certs.clientKey),
    serviceId: config.service.ids[0]!,
  });
  out.write(`HTTP ${result.status}\n`);
  try {
    const body = JSON.parse(result.body) as { resourceType?: string; entry?: Array<{ resource?: Record<string, unknown> }>; issue?: Array<{ diagnostics?: string; details?: { coding?: Array<{ code?: string }> } }> };
    if (body.resourceType === 'OperationOutcome') {
      const issue = body.issue?.[0];
      out.write(`${issue?.details?.coding?.[0]?.code ?? ''}: ${issue?.diagnostics ?? ''}\n`);
    } else {
      const planned = body.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'Encounter' && r.status === 'planned') as
        | { identifier?: Array<{ value?: string }> }
        | undefined;
      const root = body.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'ServiceRequest' || r?.resourceType === 'Appointment');
      out.write(`X-Request-Id: ${String(result.headers['x-request-id'])}\n`);
      if (root) {
        out.write(`${String(root.resourceType)}/${String(root.id)}\n`);
      }
      if (planned?.identifier?.[0]?.value) {
        out.write(`reference: ${planned.identifier[0].value}\n`);
      }
    }
  } catch {
    out.write(`${result.body.slice(0, 500)}\n`);
  }
  return result.status === 200 ? 0 : 1;
}

async function certsCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  if (argv[0] !== 'dev') {
    out.write('usage: bars-bridge certs dev\n');
    return 2;
  }
  const config = loadConfig();
  const p = ensureDevCerts(config.dataDir);
  out.write(`CA ${p.caCert}\nserver ${p.serverCert}\nclient ${p.clientCert}\n`);
  return 0;
}

const COMMANDS: Record<string, Command> = {
  start: startCommand,
  send: sendCommand,
  certs: certsCommand,
  'pas-sim': (argv, out) => pasSimCommand(argv, out),
  map: (argv, out) => mapCommand(argv, out, { messages: (key) => storedMessages(loadConfig(), key) }),
  trace: (argv, out) => traceCommand(argv, out, loadConfig()),
  queues: (argv, out) => queuesCommand(argv, out, loadConfig()),
  'pas-events': (argv, out) => pasEventsCommand(argv, out, loadConfig()),
  reprocess: (argv, out) => reprocessCommand(argv, out, loadConfig()),
  mappings: (argv, out) => {
    if (argv[0] !== 'test') {
      out.write('usage: bars-bridge mappings test [--update]\n');
      return Promise.resolve(2);
    }
    return mappingsTestCommand(argv.slice(1), out);
  },
  'dead-letters': (argv, out) => {
    const config = loadConfig();
    return deadLettersCommand(argv, out, { redisUrl: config.redis.url, prefix: config.redis.prefix });
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  if (name === '--version') {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`unknown command ${name}\n${USAGE}`);
    return 2;
  }
  return command(rest, process.stdout);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
