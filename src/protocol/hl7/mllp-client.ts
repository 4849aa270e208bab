/*
 * MLLP sender for one destination (one PAS link): one TCP or TLS connection, one message in flight at a time, each
 * answered by an HL7 v2 acknowledgement whose MSA-2 must equal the MSH-10 we sent.
 *
 * Own implementation rather than hl7v2-net (measured broken: it ACKs every ACK, anchors.md §5.8); modelled on
 * medplum's Hl7Connection (pending send keyed by MSH-10, resolved from MSA-2). Behaviour worth knowing:
 * - ACK timeout → AckTimeoutError and the connection is dropped, so a late ACK of this attempt can never be paired
 *   with a later message on the same stream (Mirth #2070 mismatched ACKs).
 * - Mismatched or unreadable ACK → AckMismatchError, connection dropped. A mismatch is never success.
 * - Anything arriving while nothing is pending is logged by size and ignored: we never acknowledge an ACK.
 * - With keepAlive the connection stays open between messages (Mirth "keep connection open") with TCP keep-alive
 *   probes, and a lost connection is re-established in the background with exponential backoff. `send` never waits
 *   for that backoff: if no connection is up it connects at once, because the caller (the lane) owns retry pacing.
 * - A CA/CE/CR (enhanced-mode commit ACK) is returned like any other answer; the ACK policy decides what it means.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { AckMismatchError, AckTimeoutError, ConnectionError } from './transport-errors.js';
import { readAck, type AckCode } from './header.js';
import { MllpDecoder, encodeFrame, type MllpEncoding } from './mllp-framing.js';

/** The acknowledgement a destination answered with. */
export interface AckResult {
  /** MSA-1 Acknowledgment Code. */
  readonly code: AckCode;
  /** MSA-2: always equal to the MSH-10 sent (otherwise `send` rejects). */
  readonly controlId: string;
  /** MSA-3 Text Message, if any. */
  readonly text?: string;
  /** The whole acknowledgement as received (ER7, no MLLP framing). Not logged: may echo patient data. */
  readonly raw: string;
}

/** Connection settings of an MLLP client. */
export interface MllpClientOptions {
  readonly host: string;
  readonly port: number;
  /** TLS options (true = TLS with Node defaults). Omitted or false = plain TCP. */
  readonly tls?: boolean | tls.ConnectionOptions;
  readonly connectTimeoutMs: number;
  readonly ackTimeoutMs: number;
  /** Keep the connection open between messages (with TCP keep-alive probes) and reconnect in the background. */
  readonly keepAlive: boolean;
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  readonly encoding?: MllpEncoding;
  /** Optional pino-style logger; receives ids, codes and sizes only. */
  readonly logger?: MllpLogger;
}

/** The subset of a pino logger the transport uses. */
export interface MllpLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Pending {
  readonly controlId: string;
  readonly socket: net.Socket;
  readonly resolve: (ack: AckResult) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  written: boolean;
}

/**
 * An MLLP connection to one destination. Events: `connected`, `disconnected`, `unsolicited` (byte length), and for
 * the background reconnects of a keep-alive link `reconnected` and `reconnect-failed` (a ConnectionError): what tells
 * the sender that an idle link went down or came back, with no message to find out.
 */
export class MllpClient extends EventEmitter {
  /** Number of successful connects so far (tests and metrics). */
  connects = 0;
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private pending: Pending | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectFailures = 0;
  private closed = false;
  private readonly encoding: MllpEncoding;

  constructor(private readonly options: MllpClientOptions) {
    super();
    this.encoding = options.encoding ?? 'utf8';
  }

  /** True while a connection is open. */
  get connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  /** Opens the connection now (rejects with ConnectionError). Sending connects on demand, so this is optional. */
  async connect(): Promise<void> {
    await this.ensureConnected();
  }

  /**
   * Sends one HL7 v2 message and waits for its acknowledgement. Calls are serialised: one message in flight.
   * @param text - the message in ER7, segments separated by CR.
   * @param controlId - its MSH-10; the ACK's MSA-2 must equal it.
   * @returns the ACK whatever its code (AA, AE, AR, CA, CE, CR); the caller's ACK policy decides.
   * @throws ConnectionError, AckTimeoutError, AckMismatchError.
   */
  send(text: string, controlId: string): Promise<AckResult> {
    const run = this.tail.then(() => this.sendOne(text, controlId));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Closes the connection and stops reconnecting. A send in flight rejects with ConnectionError. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    const socket = this.socket;
    this.socket = undefined;
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      });
    }
    this.failPending(new ConnectionError('client closed', 'CLOSED', { sent: this.pending?.written }));
  }

  private async sendOne(text: string, controlId: string): Promise<AckResult> {
    if (this.closed) {
      throw new ConnectionError('client closed', 'CLOSED');
    }
    const socket = await this.ensureConnected();
    try {
      return await new Promise<AckResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending = undefined;
          this.options.logger?.warn({ controlId, timeoutMs: this.options.ackTimeoutMs }, 'MLLP ACK timeout');
          this.dropSocket(socket);
          reject(new AckTimeoutError(controlId, this.options.ackTimeoutMs));
        }, this.options.ackTimeoutMs);
        const pending: Pending = { controlId, socket, resolve, reject, timer, written: false };
        this.pending = pending;
        socket.write(encodeFrame(text, this.encoding), (err) => {
          if (err) {
            this.failPending(new ConnectionError(`write failed: ${err.message}`, errnoCode(err), { cause: err }));
          } else {
            pending.written = true;
          }
        });
      });
    } finally {
      if (!this.options.keepAlive) {
        this.dropSocket(socket, true);
      }
    }
  }

  private ensureConnected(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) {
      return Promise.resolve(this.socket);
    }
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer); // the caller wants a connection now; its own retry pacing applies
      this.reconnectTimer = undefined;
    }
    this.connecting ??= this.openSocket().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private openSocket(): Promise<net.Socket> {
    const { host, port, connectTimeoutMs, keepAlive } = this.options;
    return new Promise<net.Socket>((resolve, reject) => {
      const useTls = this.options.tls !== undefined && this.options.tls !== false;
      const tlsOptions = typeof this.options.tls === 'object' ? this.options.tls : {};
      const socket = useTls ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...tlsOptions }) : net.connect({ host, port });
      const readyEvent = useTls ? 'secureConnect' : 'connect';
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        socket.destroy();
        reject(new ConnectionError(`connect to ${host}:${port} timed out after ${connectTimeoutMs} ms`, 'ETIMEDOUT'));
      }, connectTimeoutMs);
      socket.once('error', (err) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new ConnectionError(`connect to ${host}:${port} failed: ${err.message}`, errnoCode(err), { cause: err }));
        }
      });
      socket.once(readyEvent, () => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        if (this.closed) {
          socket.destroy();
          reject(new ConnectionError('client closed', 'CLOSED'));
          return;
        }
        socket.setNoDelay(true);
        if (keepAlive) {
          socket.setKeepAlive(true, 30_000);
        }
        this.attach(socket);
        this.connects += 1;
        this.reconnectFailures = 0;
        this.emit('connected');
        resolve(socket);
      });
    });
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    const decoder = new MllpDecoder();
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.failPending(new ConnectionError('peer sent an oversized MLLP frame', 'EFRAME', { sent: true, cause: err }));
        this.dropSocket(socket);
        return;
      }
      for (const frame of frames) {
        this.onFrame(socket, frame.toString(this.encoding));
      }
    });
    socket.on('error', (err) => {
      this.options.logger?.debug({ code: errnoCode(err) }, 'MLLP socket error');
    });
    socket.once('close', () => {
      if (this.socket === socket) {
        this.socket = undefined;
      }
      this.emit('disconnected');
      if (this.pending?.socket === socket) {
        this.failPending(
          new ConnectionError('connection closed before the ACK arrived', 'ECONNRESET', { sent: this.pending.written }),
        );
      }
      if (!this.closed && this.options.keepAlive && this.socket === undefined) {
        this.scheduleReconnect();
      }
    });
  }

  private onFrame(socket: net.Socket, text: string): void {
    const pending = this.pending;
    if (!pending || pending.socket !== socket) {
      // Never answer it: acknowledging an ACK is exactly the hl7v2-net defect we avoid.
      this.options.logger?.warn({ bytes: text.length }, 'MLLP unsolicited message ignored');
      this.emit('unsolicited', text.length);
      return;
    }
    let ack;
    try {
      ack = readAck(text);
    } catch (err) {
      this.failPending(new AckMismatchError(pending.controlId, undefined, (err as Error).message));
      this.dropSocket(socket);
      return;
    }
    if (ack.controlId !== pending.controlId) {
      this.failPending(
        new AckMismatchError(pending.controlId, ack.controlId, `MSA-2 is ${JSON.stringify(ack.controlId)}`),
      );
      this.dropSocket(socket);
      return;
    }
    clearTimeout(pending.timer);
    this.pending = undefined;
    pending.resolve({ code: ack.code, controlId: ack.controlId, ...(ack.text ? { text: ack.text } : {}), raw: text });
  }

  private failPending(err: Error): void {
    const pending = this.pending;
    if (pending) {
      this.pending = undefined;
      clearTimeout(pending.timer);
      pending.reject(err);
    }
  }

  /** Drops a connection; `quiet` means an orderly close after a completed exchange (keepAlive off). */
  private dropSocket(socket: net.Socket, quiet = false): void {
    if (this.socket === socket) {
      this.socket = undefined;
    }
    if (quiet) {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    } else {
      socket.destroy();
    }
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.closed) {
      return;
    }
    const { initialMs, maxMs } = this.options.reconnect;
    const delay = Math.min(maxMs, initialMs * 2 ** Math.min(this.reconnectFailures, 30));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.ensureConnected().then(
        () => this.emit('reconnected'),
        (err: unknown) => {
          this.reconnectFailures += 1;
          this.emit('reconnect-failed', err);
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }
}

function errnoCode(err: Error): string | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : undefined;
}
