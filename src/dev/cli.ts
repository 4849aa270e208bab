/*
 * Development commands: `send` (a Bundle to the receiver, the way the BaRS proxy would), `certs dev` (the development
 * PKI) and `pas-sim` (the PAS simulator as its own process, and the PAS events it can emit). Output never carries
 * message text: ids, codes and counts only.
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { ACK_CODES, type AckCode } from '../protocol/hl7/header.js';
import { CliFailure, integer, jsonOption, port, printJson, rate, type Cli, type CliIo } from '../cli/context.js';
import type { PasScenario, PasSimulator, ReceivedMessage } from './pas-sim.js';
import type { SendResult } from './send.js';

// What the commands run is loaded when they run (src/cli/context.ts says why).
const loadConfig = async (env: CliIo['env']) => (await import('../config/load.js')).loadConfig(env);

/** Options of `send`. */
export interface SendCliOptions {
  readonly url?: string;
  readonly json?: boolean;
}

/** `send <bundle>`. */
export function sendCommand(cli: Cli): Command {
  return new Command('send')
    .summary('post a Bundle to the receiver as the BaRS proxy would')
    .description('post a Bundle to $process-message with development headers (fresh X-Request-Id, NHSD-*) and the client certificate')
    .argument('<bundle>', 'Bundle JSON file (its Bundle.id is replaced by a fresh one)')
    .option('--url <url>', 'receiver base URL (default: https://localhost:<BARS_PORT>)')
    .addOption(jsonOption())
    .action(cli.action((file: string, options: SendCliOptions) => runSend(file, options, cli)));
}

interface Summary {
  status: number;
  requestId?: string;
  resource?: string;
  reference?: string;
  outcome?: { code: string; diagnostics: string };
  body?: string;
}

/** What a person needs from the receiver's answer: status, request id, the root resource, our reference. */
function summarise(result: SendResult): Summary {
  const summary: Summary = { status: result.status };
  try {
    const body = JSON.parse(result.body) as {
      resourceType?: string;
      entry?: Array<{ resource?: Record<string, unknown> }>;
      issue?: Array<{ diagnostics?: string; details?: { coding?: Array<{ code?: string }> } }>;
    };
    if (body.resourceType === 'OperationOutcome') {
      const issue = body.issue?.[0];
      summary.outcome = { code: issue?.details?.coding?.[0]?.code ?? '', diagnostics: issue?.diagnostics ?? '' };
      return summary;
    }
    const resources = body.entry?.map((e) => e.resource) ?? [];
    const planned = resources.find((r) => r?.resourceType === 'Encounter' && r.status === 'planned') as { identifier?: Array<{ value?: string }> } | undefined;
    const root = resources.find((r) => r?.resourceType === 'ServiceRequest' || r?.resourceType === 'Appointment');
    summary.requestId = String(result.headers['x-request-id']);
    if (root) {summary.resource = `${String(root.resourceType)}/${String(root.id)}`;}
    if (planned?.identifier?.[0]?.value) {summary.reference = planned.identifier[0].value;}
  } catch {
    summary.body = result.body.slice(0, 500);
  }
  return summary;
}

/** Posts the Bundle; 0 on HTTP 200, 1 otherwise. */
export async function runSend(file: string, options: SendCliOptions, io: CliIo): Promise<number> {
  const config = await loadConfig(io.env);
  const [{ ensureDevCerts, readPem }, { sendBundle }] = await Promise.all([import('./certs.js'), import('./send.js')]);
  const url = options.url ?? `https://localhost:${config.http.port}`;
  const certs = ensureDevCerts(config.dataDir);
  let result: SendResult;
  try {
    result = await sendBundle(path.resolve(file), {
      url,
      ca: readPem(config.tls.ca ?? certs.caCert),
      cert: readPem(certs.clientCert),
      key: readPem(certs.clientKey),
      serviceId: config.service.ids[0]!,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliFailure(e.code === 'ENOENT' || e instanceof SyntaxError ? `cannot read ${file}: ${e.message}` : `cannot reach the receiver at ${url}: ${e.message} (is \`npm start\` running?)`);
  }
  const s = summarise(result);
  if (options.json) {
    printJson(io.out, s);
  } else {
    io.out.write(`HTTP ${s.status}\n`);
    if (s.outcome) {io.out.write(`${s.outcome.code}: ${s.outcome.diagnostics}\n`);}
    if (s.requestId) {io.out.write(`X-Request-Id: ${s.requestId}\n`);}
    if (s.resource) {io.out.write(`${s.resource}\n`);}
    if (s.reference) {io.out.write(`reference: ${s.reference}\n`);}
    if (s.body !== undefined) {io.out.write(`${s.body}\n`);}
  }
  return result.status === 200 ? 0 : 1;
}

/** `certs dev`. */
export function certsCommand(cli: Cli): Command {
  const certs = new Command('certs').description('development certificates');
  certs
    .command('dev')
    .description('create the development CA, server (localhost) and client (bars-client) certificates under <dataDir>/certs, if missing')
    .addOption(jsonOption())
    .action(
      cli.action(async (options: { json?: boolean }) => {
        const { ensureDevCerts } = await import('./certs.js');
        const p = ensureDevCerts((await loadConfig(cli.env)).dataDir);
        if (options.json) {printJson(cli.out, p);}
        else {cli.out.write(`CA ${p.caCert}\nserver ${p.serverCert}\nclient ${p.clientCert}\n`);}
        return 0;
      }),
    );
  return certs;
}

/** Options of `pas-sim`. */
export interface PasSimCliOptions {
  readonly port: number;
  readonly host: string;
  readonly ack: AckCode;
  readonly nakRate?: number;
  readonly nakCode: AckCode;
  readonly delayMs?: number;
  readonly dropRate?: number;
  readonly silentRate?: number;
  readonly wrongMsa2Rate?: number;
  readonly json?: boolean;
}

/** Options of `pas-sim arrival`. */
export interface ArrivalCliOptions {
  readonly patientId: string;
  readonly controlId?: string;
  readonly eventsHost: string;
  readonly eventsPort?: number;
  readonly json?: boolean;
}

/** The simulator's behaviour from its options. */
export function scenarioOf(options: PasSimCliOptions): PasScenario {
  return {
    ackCode: options.ack,
    nakCode: options.nakCode,
    ...(options.nakRate !== undefined ? { nakRate: options.nakRate } : {}),
    ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {}),
    ...(options.dropRate !== undefined ? { dropRate: options.dropRate } : {}),
    ...(options.silentRate !== undefined ? { silentRate: options.silentRate } : {}),
    ...(options.wrongMsa2Rate !== undefined ? { wrongControlIdRate: options.wrongMsa2Rate } : {}),
  };
}

const ackCode = (flags: string, description: string, fallback: AckCode): Option =>
  new Option(flags, description).choices(ACK_CODES).default(fallback);

/** `pas-sim` (serve) and `pas-sim arrival` (emit a PAS event). */
export function pasSimCommand(cli: Cli): Command {
  const sim = new Command('pas-sim')
    .summary('run the PAS simulator (MLLP; scripted ACK codes, NAKs, delays, drops, silence)')
    .description(
      'run the PAS simulator: an MLLP server that ACKs every message (AA by default) or, at the given rates, NAKs, answers late, drops the connection, stays silent or answers with the wrong MSA-2; one line per message until SIGINT/SIGTERM',
    )
    .option('--port <port>', 'MLLP port to listen on (0: any free port)', port, 2576)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(ackCode('--ack <code>', 'MSA-1 of a normal answer', 'AA'))
    .option('--nak-rate <rate>', 'share of messages answered with --nak-code (0-1)', rate)
    .addOption(ackCode('--nak-code <code>', 'MSA-1 of a NAK (MSA-3 "Simulated application error")', 'AE'))
    .option('--delay-ms <ms>', 'wait this long before every answer', integer(0))
    .option('--drop-rate <rate>', 'share of messages whose connection is closed without an answer (0-1)', rate)
    .option('--silent-rate <rate>', "share of messages never answered: the sender's ACK timeout fires (0-1)", rate)
    .option('--wrong-msa2-rate <rate>', 'share of messages answered AA with MSA-2 not matching their MSH-10 (0-1)', rate)
    .addOption(new Option('--json', 'print events as JSON lines'))
    .addHelpText(
      'after',
      '\nRates are checked per message in the order drop, silent, wrong MSA-2, NAK; a message none of them hits is answered --ack.\n' +
        'Events printed: "PAS simulator listening on HOST:PORT (MLLP)", one "#SEQ MSH-9 MSH-10 -> ACTION" per message received\n' +
        '(ACTION: the MSA-1 code sent, drop, silent or wrong-control-id), "PAS simulator stopped after N messages".\n' +
        'Received acknowledgements (MSH-9 ACK) are recorded and never answered.',
    )
    .action(cli.action((options: PasSimCliOptions) => runPasSim(options, cli)));

  sim
    .command('arrival')
    .description("send a PAS event as the PAS would: ADT^A04 (patient arrived) for a booking or referral, to bars-bridge's PAS events listener; prints the ACK code")
    .argument('<visit-number>', 'PV1-19, the visit number bars-bridge sent the PAS: our reference (BB-…)')
    .option('--patient-id <id>', 'PID-3 (synthetic NHS number)', '9000000009')
    .option('--control-id <id>', 'MSH-10 (default: generated)')
    .option('--events-host <host>', 'PAS events listener host', '127.0.0.1')
    .option('--events-port <port>', 'PAS events listener port (default: PAS_EVENTS_PORT, 2575)', port)
    .addOption(jsonOption())
    .action(cli.action((visitNumber: string, options: ArrivalCliOptions) => runArrival(visitNumber, options, cli)));
  return sim;
}

/** Runs the simulator until SIGINT/SIGTERM; one line per message (sequence, MSH-9, MSH-10, action; never the text). */
export async function runPasSim(options: PasSimCliOptions, io: CliIo): Promise<number> {
  const print = (event: Record<string, unknown>, line: string): void => {
    io.out.write(options.json ? `${JSON.stringify(event)}\n` : `${line}\n`);
  };
  const describe = (m: ReceivedMessage): string => (m.action.kind === 'ack' ? m.action.code : m.action.kind);
  const { startPasSimulator } = await import('./pas-sim.js');
  let sim: PasSimulator;
  try {
    sim = await startPasSimulator({
      port: options.port,
      host: options.host,
      scenario: scenarioOf(options),
      onMessage: (m) =>
        print(
          { event: 'message', seq: m.seq, messageType: m.messageType, controlId: m.controlId, connection: m.connection, action: describe(m) },
          `#${m.seq} ${m.messageType} ${m.controlId} -> ${describe(m)}`,
        ),
    });
  } catch (err) {
    throw new CliFailure(`pas-sim: cannot listen on ${options.host}:${options.port}: ${(err as Error).message}`);
  }
  print({ event: 'listening', host: sim.host, port: sim.port }, `PAS simulator listening on ${sim.host}:${sim.port} (MLLP)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await sim.close();
  print({ event: 'stopped', messages: sim.received.length }, `PAS simulator stopped after ${sim.received.length} messages`);
  return 0;
}

/** Sends one ADT^A04 arrival and prints the ACK code; 0 on AA/CA, 1 otherwise. */
export async function runArrival(visitNumber: string, options: ArrivalCliOptions, io: CliIo): Promise<number> {
  const { buildArrivalA04, sendPasEvent } = await import('./pas-sim-events.js');
  const target = { host: options.eventsHost, port: options.eventsPort ?? (await loadConfig(io.env)).pasEvents.port };
  const controlId = options.controlId ?? `PASSIM${Date.now()}`;
  const text = buildArrivalA04({ controlId, patientId: options.patientId, visitNumber });
  let code: AckCode;
  let ackText: string | undefined;
  try {
    ({ code, text: ackText } = await sendPasEvent(target, text, controlId));
  } catch (err) {
    throw new CliFailure(`pas-sim arrival: no ACK from the PAS events listener at ${target.host}:${target.port}: ${(err as Error).message}`);
  }
  if (options.json) {printJson(io.out, { messageType: 'ADT^A04', controlId, ack: code, ...(ackText ? { text: ackText } : {}) });}
  else {io.out.write(`ADT^A04 ${controlId} -> ${code}${ackText ? ` ${ackText}` : ''}\n`);}
  return code === 'AA' || code === 'CA' ? 0 : 1;
}
