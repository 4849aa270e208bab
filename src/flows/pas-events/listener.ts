/*
 * PAS events listener: an MLLP server for messages the PAS originates (ADT^A04 arrival, A03 discharge, SIU^S15
 * cancellation, S26 no-show …). Nothing acknowledged is lost (ARCHITECTURE.md invariant 1, applied to the PAS
 * side): the AA goes back only after the raw message is stored in Redis AND its `pas-events` job is queued. If Redis
 * cannot take it, the answer is AE (MSA-3 says why), which the PAS resends — HL7 original-mode semantics, and what
 * medplum's agent does with its deferred commit ACK.
 *
 * Only configured senders get in: MSH-3/MSH-4 must name an allowed `SendingApplication^SendingFacility`, and MSH-9,
 * MSH-10, MSH-11 and MSH-12 must be acceptable (header-check.ts); anything else is answered AR/AE and nothing is
 * stored. On a network, TLS (with a client certificate when a CA is configured) says who is really connected.
 *
 * A resend of a message we already stored (same sender and MSH-10) is acknowledged AA again without queuing it twice.
 * The de-duplication key is derived from the allowed sender identity and the validated MSH-10, so one sender can
 * never claim another's message. Job data is the stored message id only (no PHI). Messages on one connection are
 * handled strictly in order, so the queue order follows the PAS's send order.
 *
 * Bounded: frames above `maxFrameBytes` close the connection, idle connections close after `idleTimeoutMs`, at most
 * `maxConnections` at once; the raw message and its de-duplication marker expire after `retentionSeconds` unless the
 * processor applies the event to a record (whose own retention then covers it).
 */
import { createHash, randomUUID } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { Queue } from 'bullmq';
import type { Counter } from 'prom-client';
import type { Redis } from 'ioredis';
import { readMessageHeader, type AckCode, type MessageHeader } from '../../protocol/hl7/header.js';
import { encodeFrame, serveMllpConnection } from '../../protocol/hl7/mllp-framing.js';
import { buildAck } from '../../protocol/hl7/ack.js';
import { boundedHeader, cap, checkPasEventHeader, senderOf, type HeaderRejection } from './header-check.js';

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

/**
 * The de-duplication marker of one sender's message: a hash of the allowed sender identity and MSH-10, so the key is
 * unambiguous (no separator a field could contain), bounded in length, and one sender's key is never another's.
 */
export function pasEventSeenKey(prefix: string, sender: string, controlId: string): string {
  return `${prefix}:pasev:seen:${createHash('sha256').update(JSON.stringify([sender, controlId])).digest('hex')}`;
}

/** Defaults of the listener's bounds (PAS_EVENTS_MAX_FRAME_BYTES, _IDLE_TIMEOUT_MS, _MAX_CONNECTIONS, _RETENTION_DAYS). */
export const PAS_EVENTS_DEFAULTS = {
  maxFrameBytes: 1024 * 1024,
  idleTimeoutMs: 60_000,
  maxConnections: 32,
  retentionSeconds: 30 * 86_400,
} as const;

/** Counters the listener feeds (src/ops/metrics.ts). */
export interface PasEventsListenerMetrics {
  readonly pasEventAcks: Counter<'code' | 'reason'>;
  readonly pasEventConnectionsClosed: Counter<'reason'>;
}

/** Options of the listener. */
export interface PasEventsListenerOptions {
  /** Redis for the stored messages and the queue; producers should use `enableOfflineQueue: false`. */
  readonly redis: Redis;
  readonly prefix: string;
  readonly port?: number;
  /** Default 127.0.0.1: the PAS events port is reachable from elsewhere only when configured so. */
  readonly host?: string;
  /** MLLP over TLS; with `ca`, a client certificate that chains to it is required. PEM contents. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly ca?: string | Buffer };
  /** Accepted `SendingApplication^SendingFacility` pairs (first components of MSH-3 and MSH-4). */
  readonly allow: readonly string[];
  readonly maxFrameBytes?: number;
  readonly idleTimeoutMs?: number;
  readonly maxConnections?: number;
  /** How long a stored event (and its de-duplication marker) is kept unless applied to a record. */
  readonly retentionSeconds?: number;
  readonly logger?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  readonly metrics?: PasEventsListenerMetrics;
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
 * Stores one PAS message and queues its job, idempotently per (allowed sender, MSH-10).
 * @returns stored (possibly as a duplicate of an earlier one) or why not.
 */
export async function storePasEvent(
  deps: { redis: Redis; prefix: string; queue: Queue<PasEventJobData>; retentionSeconds: number },
  sender: string,
  header: MessageHeader,
  text: string,
): Promise<StoreOutcome> {
  const seenKey = pasEventSeenKey(deps.prefix, sender, header.controlId);
  try {
    const candidate = randomUUID();
    const won = await deps.redis.set(seenKey, candidate, 'EX', deps.retentionSeconds, 'NX');
    const eventId = won === 'OK' ? candidate : ((await deps.redis.get(seenKey)) ?? candidate);
    // Store and queue even for a "duplicate": if the first attempt died between SET NX and add, this completes it.
    // NX keeps the first text (and a processed event's retention); the jobId makes the add a no-op when it exists.
    await deps.redis.set(pasEventKey(deps.prefix, eventId), text, 'EX', deps.retentionSeconds, 'NX');
    await deps.queue.add('pas-event', { eventId }, { jobId: `pasev-${eventId}`, removeOnComplete: { count: 10000 } });
    return { stored: true, eventId, duplicate: won !== 'OK' };
  } catch (err) {
    return { stored: false, reason: (err as Error).message };
  }
}

/** Length of the first segment (MSH). */
function mshLength(text: string): number {
  const end = text.search(/\r|\n/);
  return end === -1 ? text.length : end;
}

/** Calls `fn` at most once per `ms` with how many times it was asked meanwhile (a flood must not flood the log). */
function throttled(ms: number, fn: (count: number) => void): () => void {
  let last = 0;
  let count = 0;
  return () => {
    count += 1;
    const now = Date.now();
    if (now - last >= ms) {
      fn(count);
      last = now;
      count = 0;
    }
  };
}

/**
 * Starts the PAS events MLLP listener (`PAS_EVENTS_PORT`, default 2575; 0 = any port in tests).
 */
export async function startPasEventsListener(options: PasEventsListenerOptions): Promise<PasEventsListener> {
  // skipVersionCheck: see createInboundQueue (a failed one-time INFO would refuse every PAS event until restart).
  const queue = new Queue<PasEventJobData>(PAS_EVENTS_QUEUE, { connection: options.redis, prefix: options.prefix, skipVersionCheck: true });
  // A Redis error reaches the PAS as AE on the message it hit; the queue's own event would only print to stderr.
  queue.on('error', () => undefined);
  const maxFrameBytes = options.maxFrameBytes ?? PAS_EVENTS_DEFAULTS.maxFrameBytes;
  const idleTimeoutMs = options.idleTimeoutMs ?? PAS_EVENTS_DEFAULTS.idleTimeoutMs;
  const allowed = new Set(options.allow);
  const sockets = new Set<net.Socket>();
  let ackCounter = 0;
  const deps = { redis: options.redis, prefix: options.prefix, queue, retentionSeconds: options.retentionSeconds ?? PAS_EVENTS_DEFAULTS.retentionSeconds };
  const log = options.logger;
  const closed = (reason: string): void => options.metrics?.pasEventConnectionsClosed.inc({ reason });

  const ack = (header: MessageHeader, code: AckCode, reason: string, rejection?: HeaderRejection, text?: string): Buffer => {
    ackCounter += 1;
    options.metrics?.pasEventAcks.inc({ code, reason });
    const msaText = rejection?.text ?? text;
    return encodeFrame(
      buildAck(boundedHeader(header), {
        code,
        ackControlId: `BBACK${Date.now().toString(36)}${ackCounter}`,
        ...(msaText ? { text: msaText } : {}),
        ...(rejection ? { error: { field: rejection.field, code: rejection.hl7Error } } : {}),
      }),
    );
  };
  const answer = (socket: net.Socket, frame: Buffer): void => {
    if (!socket.destroyed) {
      socket.write(frame);
    }
  };
  /** Logged fields of a message we may not have accepted: capped, never the text. */
  const logged = (header: MessageHeader): object => ({ sender: cap(senderOf(header)), controlId: cap(header.controlId) });

  const handle = async (socket: net.Socket, text: string): Promise<void> => {
    let header: MessageHeader;
    try {
      header = readMessageHeader(text);
    } catch {
      log?.warn({ bytes: text.length }, 'PAS event without MSH: connection closed');
      closed('no-msh');
      socket.destroy(); // nothing to put in MSA-2; the PAS will resend on a new connection
      return;
    }
    if (header.messageType.startsWith('ACK')) {
      return; // never acknowledge an acknowledgement
    }
    const check = checkPasEventHeader(header, allowed, mshLength(text));
    if (!check.ok) {
      log?.warn({ ...logged(header), reason: check.reason, code: check.code }, 'PAS event refused: nothing stored');
      answer(socket, ack(header, check.code, check.reason, check));
      return;
    }
    const outcome = await storePasEvent(deps, check.sender, header, text);
    if (outcome.stored) {
      log?.info({ sender: check.sender, controlId: header.controlId, eventId: outcome.eventId, duplicate: outcome.duplicate }, 'PAS event stored');
      answer(socket, ack(header, 'AA', outcome.duplicate ? 'duplicate' : 'stored'));
    } else {
      log?.warn({ sender: check.sender, controlId: header.controlId }, 'PAS event not stored: answered AE');
      answer(socket, ack(header, 'AE', 'store-unavailable', undefined, 'Temporarily unable to store message; please resend'));
    }
  };

  /** A frame over the limit: refused with AR when its MSH can still be read from its start, then the connection closes. */
  const onFrameTooLarge = (head: Buffer): Buffer | undefined => {
    closed('frame-too-large');
    // The head holds MAX_MSH_LENGTH bytes or more, so a complete MSH we would accept is in it.
    const text = head.toString('utf8');
    const end = text.search(/\r|\n/);
    let header: MessageHeader | undefined;
    try {
      header = end > 0 ? readMessageHeader(text.slice(0, end)) : undefined;
    } catch {
      header = undefined;
    }
    log?.warn({ limit: maxFrameBytes, ...(header ? logged(header) : {}) }, 'PAS event frame too large: connection closed');
    if (!header) {
      return undefined;
    }
    const check = checkPasEventHeader(header, allowed, end);
    return check.ok
      ? ack(header, 'AR', 'frame-too-large', undefined, `Message exceeds ${maxFrameBytes} bytes`)
      : ack(header, check.code, check.reason, check);
  };
  const onIdle = (): void => closed('idle');

  const onConnection = (socket: net.Socket): void => {
    serveMllpConnection(socket, (text) => handle(socket, text), sockets, { maxFrameBytes, idleTimeoutMs, onFrameTooLarge, onIdle });
  };

  const server = options.tls
    ? tls.createServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          minVersion: 'TLSv1.2',
          // With a CA, the PAS must present a certificate that chains to it (mutual TLS), as on the BaRS port.
          ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
          // A TCP connection that never completes the handshake is closed as an idle one would be.
          handshakeTimeout: idleTimeoutMs,
        },
        onConnection,
      )
    : net.createServer(onConnection);
  server.maxConnections = options.maxConnections ?? PAS_EVENTS_DEFAULTS.maxConnections;
  // Raw TCP sockets, including TLS ones still handshaking, so close() can end them all.
  const raw = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    raw.add(socket);
    socket.once('close', () => raw.delete(socket));
  });
  const dropLog = throttled(10_000, (count) => log?.warn({ count, max: server.maxConnections }, 'PAS events connections refused: connection limit reached'));
  server.on('drop', () => {
    closed('max-connections');
    dropLog();
  });
  if (options.tls) {
    server.on('tlsClientError', (err: Error) => {
      closed('tls');
      log?.warn({ err: { message: cap(err.message, 200) } }, 'PAS events TLS connection refused');
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 2575, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    queue,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of [...sockets, ...raw]) {
          socket.destroy();
        }
      });
      await queue.close();
    },
  };
}
