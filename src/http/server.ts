/*
 * The mutual-TLS listener. "BaRS will utilise TLS-MA … will only accept requests presented with certificates from
 * their respective chains" (Security/Receiver page): `requestCert` + `rejectUnauthorized` against the configured CA,
 * TLS 1.2 or later, and an optional allow-list of client subjects or fingerprints checked at the TLS layer — a
 * client that fails any of these never reaches a route. Certificates are re-read on reload() (SIGHUP) with
 * setSecureContext: new handshakes use the new files, open connections carry on.
 */
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Logger } from '../logging.js';
import { BarsError, operationOutcome } from '../protocol/bars/errors.js';
import type { Listener } from './app.js';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsFiles;
  /** Client certificate subject CNs or SHA-256 fingerprints; empty = any certificate that chains to the CA. */
  readonly allow: readonly string[];
  readonly keepAliveTimeoutMs: number;
  /** A connection that has not finished its TLS handshake by then is destroyed (Node's default is 120 s). */
  readonly handshakeTimeoutMs: number;
  /** Connections held at once; more are closed as they arrive. */
  readonly maxConnections: number;
}

export interface ReceiverServer {
  readonly server: https.Server;
  readonly port: number;
  /** Re-reads the certificate files; keeps the old context if the new files are unreadable. */
  reload(): void;
  /**
   * Stops accepting and lets requests in flight finish. Keep-alive senders would otherwise hold their connections open
   * for ever: answers from now on say `Connection: close`, idle connections are closed as they become idle, and after
   * `boundMs` whatever is left is closed.
   */
  close(boundMs?: number): Promise<void>;
}

const normaliseFingerprint = (f: string): string => f.replace(/:/g, '').toLowerCase();

function secureOptions(files: TlsFiles): { cert: Buffer; key: Buffer; ca: Buffer } {
  return { cert: readFileSync(files.cert), key: readFileSync(files.key), ca: readFileSync(files.ca) };
}

/** True when the peer certificate is on the allow-list (by subject CN or SHA-256 fingerprint). */
export function allowedPeer(socket: TLSSocket, allow: readonly string[]): boolean {
  if (allow.length === 0) {
    return true;
  }
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) {
    return false;
  }
  const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN : undefined;
  const fingerprint = cert.fingerprint256 ? normaliseFingerprint(cert.fingerprint256) : undefined;
  return allow.some((entry) => entry === cn || (fingerprint !== undefined && normaliseFingerprint(entry) === fingerprint));
}

/**
 * A minimal HTTP answer for requests Node's parser refuses before Express sees them (bad header bytes, smuggling
 * attempts, oversized headers): still an OperationOutcome, because BaRS senders treat an error without one as a
 * possible communications failure and retry (Transactional-integrity/Sender-responsibilities).
 */
function parserRefusal(code: string | undefined): Buffer {
  const tooLarge = code === 'HPE_HEADER_OVERFLOW';
  const outcome = operationOutcome(
    new BarsError('REC_BAD_REQUEST', tooLarge ? 'The request headers are larger than this receiver accepts' : 'The request is not valid HTTP', {
      issue: tooLarge ? 'too-costly' : 'structure',
    }),
  );
  const body = JSON.stringify(outcome);
  return Buffer.from(
    `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nContent-Type: application/fhir+json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Every TCP connection until it closes, and which of them finished the handshake: Node's closeAllConnections() only
 * knows connections that reached HTTP, so one that never sent a ClientHello would hold close() open. Returns what
 * destroys the ones still in their handshake.
 */
function trackHandshakes(server: https.Server): () => void {
  const sockets = new Set<Socket>();
  const secured = new WeakSet<object>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    // Node's TLSSocket keeps the TCP socket it wraps as `_parent`.
    secured.add((socket as TLSSocket & { _parent?: object })._parent ?? socket);
  });
  return () => {
    for (const socket of sockets) {
      if (!secured.has(socket)) {
        socket.destroy();
      }
    }
  };
}

/**
 * Only HTTP parser errors get an answer. https.Server passes TLS failures (a handshake timeout among them) to
 * clientError too, where no HTTP answer is possible and end() would leave the connection open; a headers timeout (a
 * slow sender) has no request to answer either.
 */
function answerParserErrors(server: https.Server, log: Logger): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!err.code?.startsWith('HPE_')) {
      socket.destroy();
      return;
    }
    log.debug({ code: err.code }, 'malformed HTTP refused');
    if (socket.writable) {
      socket.end(parserRefusal(err.code));
    } else {
      socket.destroy();
    }
  });
}

/** Stops accepting, answers from now on with `Connection: close`, closes idle connections, and all after `boundMs`. */
async function drain(server: https.Server, destroyUnhandshaken: () => void, boundMs: number): Promise<void> {
  server.prependListener('request', (_req, res: { shouldKeepAlive: boolean }) => {
    res.shouldKeepAlive = false;
  });
  const closed = new Promise<void>((done) => server.close(() => done()));
  // Nothing to finish on a connection still in its handshake: no request has been read from it.
  destroyUnhandshaken();
  const poll = setInterval(() => server.closeIdleConnections(), 50);
  const bound = setTimeout(() => server.closeAllConnections(), boundMs);
  try {
    await closed;
  } finally {
    clearInterval(poll);
    clearTimeout(bound);
  }
}

export function listenReceiver(listener: Listener, options: ListenOptions, log: Logger): Promise<ReceiverServer> {
  const server = https.createServer(
    {
      ...secureOptions(options.tls),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      handshakeTimeout: options.handshakeTimeoutMs,
    },
    (req, res) => {
      // The allow-list is checked again for every request, before the app: a socket refused at the TLS layer must
      // never reach a route, whatever order Node runs its connection listeners in.
      const socket = req.socket as TLSSocket;
      if (!socket.authorized || !allowedPeer(socket, options.allow)) {
        socket.destroy();
        return;
      }
      listener(req, res);
    },
  );
  answerParserErrors(server, log);
  server.maxConnections = options.maxConnections;
  server.on('drop', () => log.warn({ maxConnections: options.maxConnections }, 'connection refused: connection cap reached'));
  const destroyUnhandshaken = trackHandshakes(server);
  server.keepAliveTimeout = options.keepAliveTimeoutMs;
  server.headersTimeout = options.keepAliveTimeoutMs + 5000;
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    if (!socket.authorized || !allowedPeer(socket, options.allow)) {
      log.warn({ reason: socket.authorized ? 'not-allow-listed' : String(socket.authorizationError) }, 'client certificate refused');
      socket.destroy();
    }
  });
  server.on('tlsClientError', (err) => {
    log.debug({ code: (err as NodeJS.ErrnoException).code }, 'tls handshake failed');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : options.port;
      resolve({
        server,
        port,
        reload: () => {
          try {
            server.setSecureContext({ ...secureOptions(options.tls), minVersion: 'TLSv1.2' });
            log.info('tls certificates reloaded');
          } catch (err) {
            log.error({ err: { message: (err as Error).message } }, 'tls reload failed; keeping the previous certificates');
          }
        },
        close: (boundMs = 5000) => drain(server, destroyUnhandshaken, boundMs),
      });
    });
  });
}
