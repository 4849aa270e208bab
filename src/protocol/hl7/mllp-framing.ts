/*
 * MLLP (Minimal Lower Layer Protocol, HL7 v2 Implementation Guide appendix C) framing: every HL7 v2 message on a
 * TCP stream travels as  <VT> message bytes <FS><CR>.
 *
 * Why our own module rather than hl7v2-net: measured in a loopback test against hl7v2-net 1.9.0, its server re-reads
 * its buffer and its client sends an ACK back for every ACK it receives, so a PAS would see unsolicited ACK^A04
 * messages. Framing is ~100 lines, and TCP gives no message boundaries, so the decoder below is written to be fed
 * arbitrary chunks (split inside a frame, several frames coalesced in one chunk, FS and CR in different chunks) and
 * is tested against real sockets and with fast-check.
 */

import type { Socket } from 'node:net';

/** MLLP start block (VT, 0x0B). Every frame begins with this byte. */
export const START_BLOCK = 0x0b;
/** MLLP end block (FS, 0x1C). Followed by CARRIAGE_RETURN to close a frame. */
export const END_BLOCK = 0x1c;
/** Carriage return (0x0D). Closes an MLLP frame; also the HL7 v2 segment separator. */
export const CARRIAGE_RETURN = 0x0d;

/** Largest frame we accept before giving up on a peer (guards memory against a stream that never sends FS). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The byte encoding of HL7 text on the wire; MSH-18 says which one the sender used (UTF-8 by default here). */
export type MllpEncoding = 'utf8' | 'latin1' | 'ascii';

/** Wraps one HL7 v2 message in an MLLP frame. */
export function encodeFrame(message: string, encoding: MllpEncoding = 'utf8'): Buffer {
  const body = Buffer.from(message, encoding);
  const framed = Buffer.allocUnsafe(body.length + 3);
  framed[0] = START_BLOCK;
  body.copy(framed, 1);
  framed[body.length + 1] = END_BLOCK;
  framed[body.length + 2] = CARRIAGE_RETURN;
  return framed;
}

/** How much of an oversized frame's start is kept, so a server can still read its MSH and answer it. */
const OVERSIZE_HEAD_BYTES = 4096;

/** A frame longer than the decoder's limit: the peer is not speaking MLLP, or is sending something absurd. */
export class MllpFrameTooLargeError extends Error {
  /**
   * @param limit - the decoder's limit in bytes.
   * @param head - the frame's first bytes (at most 4 KiB, copied), e.g. to read its MSH; the rest is released.
   */
  constructor(
    readonly limit: number,
    readonly head: Buffer = Buffer.alloc(0),
  ) {
    super(`MLLP frame exceeds ${limit} bytes`);
    this.name = 'MllpFrameTooLargeError';
  }
}

/**
 * Incremental MLLP decoder for one TCP connection. Feed it each `data` chunk; it returns the complete frames it
 * finished (zero, one or many), keeping partial bytes for the next chunk.
 *
 * Bytes outside a frame (before VT) are discarded and counted in `discardedBytes`, as receivers commonly do with
 * stray newlines between frames. An FS not followed by CR still ends the frame (lenient with senders that omit the
 * CR); the byte after it is processed as outside-frame data.
 */
export class MllpDecoder {
  /** Bytes seen outside any frame (noise); exposed for logs and tests. */
  discardedBytes = 0;
  private parts: Buffer[] = [];
  private partBytes = 0;
  private inFrame = false;
  /** True when the previous chunk ended with FS, so the next byte may be the closing CR. */
  private pendingEnd = false;

  constructor(private readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Consumes one chunk and returns the message bodies (without VT/FS/CR) completed by it. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let i = 0;
    if (this.pendingEnd) {
      this.pendingEnd = false;
      this.finishFrame(frames);
      if (chunk.length > 0 && chunk[0] === CARRIAGE_RETURN) {
        i = 1;
      }
    }
    while (i < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(START_BLOCK, i);
        if (start === -1) {
          this.discardedBytes += chunk.length - i;
          break;
        }
        this.discardedBytes += start - i;
        this.inFrame = true;
        i = start + 1;
        continue;
      }
      const end = chunk.indexOf(END_BLOCK, i);
      if (end === -1) {
        this.append(chunk.subarray(i));
        break;
      }
      this.append(chunk.subarray(i, end));
      if (end + 1 >= chunk.length) {
        this.pendingEnd = true; // FS is the last byte of this chunk: the CR, if any, arrives next
        break;
      }
      this.finishFrame(frames);
      i = chunk[end + 1] === CARRIAGE_RETURN ? end + 2 : end + 1;
    }
    return frames;
  }

  /** True while a frame has started but not finished (useful to detect a peer that closed mid-frame). */
  get hasPartialFrame(): boolean {
    return this.inFrame || this.pendingEnd;
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) {
      return;
    }
    this.partBytes += bytes.length;
    if (this.partBytes > this.maxFrameBytes) {
      const head = Buffer.from(Buffer.concat([...this.parts, bytes]).subarray(0, OVERSIZE_HEAD_BYTES));
      this.reset();
      throw new MllpFrameTooLargeError(this.maxFrameBytes, head);
    }
    this.parts.push(bytes);
  }

  private finishFrame(frames: Buffer[]): void {
    frames.push(this.parts.length === 1 ? Buffer.from(this.parts[0]!) : Buffer.concat(this.parts, this.partBytes));
    this.reset();
  }

  private reset(): void {
    this.parts = [];
    this.partBytes = 0;
    this.inFrame = false;
    this.pendingEnd = false;
  }
}

/** How long a connection refused with a last frame stays half-open for the peer to read it. */
const LAST_FRAME_GRACE_MS = 1000;

/** Bounds of one served connection (a listener open to a network must not let a peer hold memory or sockets). */
export interface MllpServeOptions {
  /** Largest frame accepted; a bigger one closes the connection (default DEFAULT_MAX_FRAME_BYTES). */
  readonly maxFrameBytes?: number;
  /** Close a connection that has sent and received nothing for this long (default: never). */
  readonly idleTimeoutMs?: number;
  /**
   * Called when a frame exceeds `maxFrameBytes`, with its first bytes; may return a last frame (e.g. an AR) that is
   * written before the connection closes.
   */
  readonly onFrameTooLarge?: (head: Buffer) => Buffer | undefined;
  /** Called when the idle timeout closes the connection. */
  readonly onIdle?: () => void;
}

/**
 * Serves one accepted MLLP connection: frames are decoded across TCP chunks and handed to `onMessage` strictly one
 * after another, so the answer (ACK) to message n always leaves before the answer to message n+1 on that connection
 * (MLLP is a sequential protocol; a peer pairs ACKs with messages by order as well as by MSA-2). A framing error
 * drops the connection: the peer resends on a new one. `sockets` tracks open connections so a server can close them.
 */
export function serveMllpConnection(
  socket: Socket,
  onMessage: (text: string) => Promise<void>,
  sockets: Set<Socket>,
  options: MllpServeOptions = {},
): void {
  sockets.add(socket);
  let decoder: MllpDecoder | undefined = new MllpDecoder(options.maxFrameBytes);
  let chain: Promise<void> = Promise.resolve();
  const onData = (chunk: Buffer): void => {
    let frames: Buffer[];
    try {
      frames = decoder!.push(chunk);
    } catch (err) {
      // Stop reading at once and drop the decoder, so nothing more of this peer's stream is held in memory.
      socket.off('data', onData);
      socket.pause();
      decoder = undefined;
      const last = err instanceof MllpFrameTooLargeError ? options.onFrameTooLarge?.(err.head) : undefined;
      if (last && !socket.destroyed) {
        // Half-close after the last frame rather than destroy: closing with unread input makes the kernel send RST and
        // discard what is still unsent, so the peer would never see the answer. Reading stays paused meanwhile.
        socket.end(last);
        setTimeout(() => socket.destroy(), LAST_FRAME_GRACE_MS).unref();
      } else {
        socket.destroy();
      }
      return;
    }
    for (const frame of frames) {
      const text = frame.toString('utf8');
      chain = chain.then(() => onMessage(text));
    }
  };
  socket.on('data', onData);
  if (options.idleTimeoutMs !== undefined && options.idleTimeoutMs > 0) {
    socket.setTimeout(options.idleTimeoutMs, () => {
      options.onIdle?.();
      socket.destroy();
    });
  }
  socket.on('error', () => undefined);
  socket.once('close', () => {
    sockets.delete(socket);
    decoder = undefined;
  });
}
