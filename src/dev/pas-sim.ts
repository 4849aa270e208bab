/*
 * PAS simulator: a real MLLP server that behaves like a PAS HL7 v2 inbound interface, for development
 * (`bars-bridge pas-sim`) and for the delivery tests. By default it answers every message with AA; a scenario makes
 * it answer AE/AR, answer late, drop the connection, stay silent, or answer with the wrong MSA-2, either at random
 * rates or per message. It records every message it received, in arrival order, so tests can check ordering and
 * that resends reuse MSH-10.
 *
 * It never acknowledges an acknowledgement (messages whose MSH-9 is ACK are recorded and ignored).
 */
import net from 'node:net';
import tls from 'node:tls';
import { readMessageHeader, type AckCode } from '../protocol/hl7/header.js';
import { encodeFrame, serveMllpConnection } from '../protocol/hl7/mllp-framing.js';
import { buildAck } from '../protocol/hl7/ack.js';
import type { SimDiary } from './pas-sim-diary.js';

/** What the simulator does with one message. */
export type PasAction =
  | { readonly kind: 'ack'; readonly code: AckCode; readonly text?: string; readonly delayMs?: number }
  /** Answers with MSA-2 set to a different control id (a PAS bug the sender must not take as success). */
  | { readonly kind: 'wrong-control-id'; readonly delayMs?: number }
  /** Closes the connection without answering. */
  | { readonly kind: 'drop' }
  /** Never answers (the sender's ACK timeout fires). */
  | { readonly kind: 'silent' };

/** Facts about a received message a scenario may decide on. */
export interface IncomingInfo {
  readonly controlId: string;
  readonly messageType: string;
  /** 1-based arrival number across all connections. */
  readonly seq: number;
  /** How many times this MSH-10 has now been received (1 = first receipt). */
  readonly receipts: number;
}

/** Behaviour of the simulator. Rates are probabilities in [0, 1], checked in the order listed. */
export interface PasScenario {
  /** Code for a normal answer. Default AA. */
  readonly ackCode?: AckCode;
  readonly dropRate?: number;
  readonly silentRate?: number;
  readonly wrongControlIdRate?: number;
  readonly nakRate?: number;
  /** Code of a random NAK. Default AE. */
  readonly nakCode?: AckCode;
  /** Delay before every answer. */
  readonly delayMs?: number;
  /** Random source (seed it in tests for reproducible runs). Default Math.random. */
  readonly random?: () => number;
  /** Per-message override; return undefined to fall back to the rates. */
  readonly decide?: (info: IncomingInfo) => PasAction | undefined;
}

/** One message as the simulator received it. */
export interface ReceivedMessage {
  readonly seq: number;
  /** MSH-10 ('' when the frame had no readable MSH). */
  readonly controlId: string;
  /** MSH-9. */
  readonly messageType: string;
  readonly text: string;
  readonly receivedAt: number;
  /** Which connection (1-based, in accept order) it came on. */
  readonly connection: number;
  readonly action: PasAction;
}

/** Options of startPasSimulator. */
export interface PasSimulatorOptions {
  /** Port to listen on; 0 or omitted = any free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  readonly scenario?: PasScenario;
  /** Serve MLLP over TLS with these options (key, cert, …). */
  readonly tls?: tls.TlsOptions;
  /** Called after each message is recorded (logging in the CLI). */
  readonly onMessage?: (message: ReceivedMessage) => void;
  /** A diary (pas-sim-diary.ts): answers slot queries, takes or refuses our bookings, echoes them. */
  readonly diary?: SimDiary;
}

/** A running simulator. */
export interface PasSimulator {
  readonly port: number;
  readonly host: string;
  /** Everything received, in arrival order (resends included). */
  readonly received: ReceivedMessage[];
  /** Number of connections accepted so far. */
  readonly connections: () => number;
  setScenario(scenario: PasScenario): void;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

/** Chooses the action for one message from a scenario. */
export function chooseAction(scenario: PasScenario, info: IncomingInfo): PasAction {
  const chosen = scenario.decide?.(info);
  if (chosen) {
    return chosen;
  }
  const random = scenario.random ?? Math.random;
  const delayMs = scenario.delayMs;
  const roll = (rate: number | undefined): boolean => rate !== undefined && rate > 0 && random() < rate;
  if (roll(scenario.dropRate)) {
    return { kind: 'drop' };
  }
  if (roll(scenario.silentRate)) {
    return { kind: 'silent' };
  }
  if (roll(scenario.wrongControlIdRate)) {
    return { kind: 'wrong-control-id', delayMs };
  }
  if (roll(scenario.nakRate)) {
    return { kind: 'ack', code: scenario.nakCode ?? 'AE', text: 'Simulated application error', delayMs };
  }
  return { kind: 'ack', code: scenario.ackCode ?? 'AA', delayMs };
}

/**
 * Starts a PAS simulator listening for MLLP.
 * @returns the running simulator; close it in the test's `after` hook.
 */
export async function startPasSimulator(options: PasSimulatorOptions = {}): Promise<PasSimulator> {
  const host = options.host ?? '127.0.0.1';
  let scenario: PasScenario = options.scenario ?? {};
  const received: ReceivedMessage[] = [];
  const receipts = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  let connectionCount = 0;
  let ackCounter = 0;

  const onConnection = (socket: net.Socket): void => {
    connectionCount += 1;
    const connection = connectionCount;
    // Answers on one connection leave strictly in order, even when a scenario delays them.
    serveMllpConnection(socket, (text) => handle(socket, connection, text), sockets);
  };

  const handle = async (socket: net.Socket, connection: number, text: string): Promise<void> => {
    let header;
    try {
      header = readMessageHeader(text);
    } catch {
      header = undefined;
    }
    const controlId = header?.controlId ?? '';
    const messageType = header?.messageType ?? '';
    const count = (receipts.get(controlId) ?? 0) + 1;
    receipts.set(controlId, count);
    const seq = received.length + 1;
    const isAck = messageType.startsWith('ACK');
    const reply = header && !isAck ? options.diary?.handle(text, header) : undefined;
    if (reply?.kind === 'reply') {
      // A query answered with data (SQR^S25), not an ACK.
      received.push({ seq, controlId, messageType, text, receivedAt: Date.now(), connection, action: { kind: 'ack', code: 'AA' } });
      if (reply.delayMs) {
        await new Promise((r) => setTimeout(r, reply.delayMs));
      }
      if (!socket.destroyed) {
        socket.write(encodeFrame(reply.text));
      }
      return;
    }
    const action: PasAction =
      header === undefined || isAck
        ? { kind: 'silent' }
        : reply?.kind === 'silent'
          ? { kind: 'silent' }
          : reply?.kind === 'ack'
            ? { kind: 'ack', code: reply.code, ...(reply.text ? { text: reply.text } : {}) }
            : chooseAction(scenario, { controlId, messageType, seq, receipts: count });
    const message: ReceivedMessage = { seq, controlId, messageType, text, receivedAt: Date.now(), connection, action };
    received.push(message);
    options.onMessage?.(message);
    if (header === undefined) {
      return;
    }
    switch (action.kind) {
      case 'silent':
        return;
      case 'drop':
        socket.destroy();
        return;
      case 'ack':
      case 'wrong-control-id': {
        if (action.delayMs) {
          await new Promise((r) => setTimeout(r, action.delayMs));
        }
        ackCounter += 1;
        const ack = buildAck(header, {
          code: action.kind === 'ack' ? action.code : 'AA',
          ackControlId: `SIMACK${ackCounter}`,
          acknowledgedControlId: action.kind === 'wrong-control-id' ? `${controlId}X` : undefined,
          text: action.kind === 'ack' ? action.text : undefined,
        });
        if (!socket.destroyed) {
          socket.write(encodeFrame(ack));
        }
        return;
      }
    }
  };

  const server = options.tls ? tls.createServer(options.tls, onConnection) : net.createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    host,
    received,
    connections: () => connectionCount,
    setScenario(next: PasScenario): void {
      scenario = next;
    },
    close(): Promise<void> {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) {
          socket.destroy();
        }
      });
    },
  };
}
