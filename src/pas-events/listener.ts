/*
 * PAS events listener: an MLLP server for messages the PAS originates (ADT^A04 arrival, A03 discharge, SIU^S15
 * cancellation, S26 no-show …). Nothing acknowledged is lost (ARCHITECTURE.md invariant 1, applied to the PAS
 * side): the AA goes back only after the raw message is stored in Redis AND its `pas-events` job is queued. If Redis
 * cannot take it, the answer is AE (MSA-3 says why), which the PAS resends — HL7 original-mode semantics, and what
 * medplum's agent does with its deferred commit ACK.
 *
 * A resend of a message we already stored (same MSH-3, MSH-4 and MSH-10) is acknowledged AA again without queuing
 * it twice. Job data is the stored message id only (no PHI). Messages on one connection are handled strictly in
 * order, so the queue order follows the PAS's send order.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { readMessageHeader, type AckCode, type MessageHeader } from '../delivery/hl7-header.js';
import { encodeFrame, serveMllpConnection } from '../delivery/mllp-framing.js';
import { buildAck } from '../dev/pas-sim-ack.js';

/** BullMQ queue of stored PAS events. */
export const PAS_EVENTS_QUEUE = 'pas-events';

/** Job data of a PAS event: the id of the stored raw message. */
export interface PasEventJobData {
  readonly eventId: string;
}

/** Where a PAS event's raw text is stored. */
export function pasEventKey(prefix: string, eventId: string): string {
  return `${prefix}:pasev:msg:${eventId}`;
}

/** Options of the listener. */
export interface PasEventsListenerOptions {
  /** Redis for the stored messages and the queue; producers should use `enableOfflineQueue: false`. */
  readonly redis: Redis;
  readonly prefix: string;
  readonly port?: number;
  readonly host?: string;
  readonly tls?: tls.TlsOptions;
  readonly logger?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** A running listener. */
export interface PasEventsListener {
  readonly port: number;
  readonly queue: Queue<PasEventJobData>;
  close(): Promise<void>;
}

/** Outcome of storing one PAS message. */
export type StoreOutcome = { stored: true; eventId: string; duplicate: boolean } | { stored: false; reason: string };

/**
 * Stores one PAS message and queues its job, idempotently per (MSH-3, MSH-4, MSH-10).
 * @returns stored (possibly as a duplicate of an earlier one) or why not.
 */
export async function storePasEvent(
  deps: { redis: Redis; prefix: string; queue: Queue<PasEventJobData> },
  header: MessageHeader,
  text: string,
): Promise<StoreOutcome> {
  const seenKey = `${deps.prefix}:pasev:seen:${header.sendingApplication}|${header.sendingFacility}|${header.controlId}`;
  try {
    const candidate = randomUUID();
    const won = await deps.redis.set(seenKey, candidate, 'NX');
    const eventId = won === 'OK' ? candidate : ((await deps.redis.get(seenKey)) ?? candidate);
    // Store and queue even for a "duplicate": if the first attempt died between SET NX and add, this completes it.
    // The jobId makes the add a no-op when the job already exists.
    await deps.redis.set(pasEventKey(deps.prefix, eventId), text);
    await deps.queue.add('pas-event', { eventId }, { jobId: `pasev-${eventId}`, removeOnComplete: { count: 10000 } });
    return { stored: true, eventId, duplicate: won !== 'OK' };
  } catch (err) {
    return { stored: false, reason: (err as Error).message };
  }
}

/**
 * Starts the PAS events MLLP listener (`PAS_EVENTS_PORT`, default 2575 in production; 0 = any port in tests).
 */
export async function startPasEventsListener(options: PasEventsListenerOptions): Promise<PasEventsListener> {
  // skipVersionCheck: see createInboundQueue (a failed one-time INFO would refuse every PAS event until restart).
  const queue = new Queue<PasEventJobData>(PAS_EVENTS_QUEUE, { connection: options.redis, prefix: options.prefix, skipVersionCheck: true });
  // A Redis error reaches the PAS as AE on the message it hit; the queue's own event would only print to stderr.
  queue.on('error', () => undefined);
  const sockets = new Set<net.Socket>();
  let ackCounter = 0;
  const deps = { redis: options.redis, prefix: options.prefix, queue };

  const answer = (socket: net.Socket, header: MessageHeader, code: AckCode, text?: string): void => {
    ackCounter += 1;
    const ack = buildAck(header, { code, ackControlId: `BBACK${Date.now().toString(36)}${ackCounter}`, ...(text ? { text } : {}) });
    if (!socket.destroyed) {
      socket.write(encodeFrame(ack));
    }
  };

  const handle = async (socket: net.Socket, text: string): Promise<void> => {
    let header: MessageHeader;
    try {
      header = readMessageHeader(text);
    } catch {
      options.logger?.warn({ bytes: text.length }, 'PAS event without MSH: connection closed');
      socket.destroy(); // nothing to put in MSA-2; the PAS will resend on a new connection
      return;
    }
    if (header.messageType.startsWith('ACK')) {
      return; // never acknowledge an acknowledgement
    }
    const outcome = await storePasEvent(deps, header, text);
    if (outcome.stored) {
      options.logger?.info({ controlId: header.controlId, eventId: outcome.eventId, duplicate: outcome.duplicate }, 'PAS event stored');
      answer(socket, header, 'AA');
    } else {
      options.logger?.warn({ controlId: header.controlId }, 'PAS event not stored: answered AE');
      answer(socket, header, 'AE', 'Temporarily unable to store message; please resend');
    }
  };

  const onConnection = (socket: net.Socket): void => serveMllpConnection(socket, (text) => handle(socket, text), sockets);

  const server = options.tls ? tls.createServer(options.tls, onConnection) : net.createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 2575, options.host ?? '0.0.0.0', () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    queue,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) {
          socket.destroy();
        }
      });
      await queue.close();
    },
  };
}
