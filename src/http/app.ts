/*
 * The Express app factory of the receiver (no listen: server.ts adds mutual TLS; tests may use either).
 * Middleware order matters: the integrity headers are echoed first so that every response, success or error, carries
 * them ("at ALL times, where possible"); the request log is attached before anything can fail.
 *
 * `POST /$process-message`, the endpoint every referral and booking arrives on, has ONE path, and it does not go
 * through Express's router: the listener createApp returns runs the same steps (headers, request log, timeout, body
 * parser, handler, error handler) on Node's request and response directly, which takes about a tenth off the CPU
 * time of an acknowledgement. Every other request, including any other method on that path, goes to Express.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import express from 'express';
import { BarsError } from '../protocol/bars/errors.js';
import { echoableId } from '../protocol/bars/headers.js';
import { endpointLabel } from '../metrics.js';
import { facts, type AppDeps } from './context.js';
import { errorHandler } from './errors.js';
import { processMessageHandler, receiverRoutes, type Query } from './routes.js';

/** A Node request listener (what http/https.createServer take). */
export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

function echoIntegrityHeaders(req: IncomingMessage, res: ServerResponse): void {
  const requestId = echoableId(req.headers['x-request-id']);
  const correlationId = echoableId(req.headers['x-correlation-id']);
  if (requestId) {
    res.setHeader('X-Request-Id', requestId);
  }
  if (correlationId) {
    res.setHeader('X-Correlation-Id', correlationId);
  }
  // OWASP secure headers (HTTP-Response-Headers page recommends them).
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Strict-Transport-Security', 'max-age=31536000');
}

/**
 * One line per request once it is closed: ids, route, status, code, duration; and the request metrics. Never the query
 * string (it can carry NHS numbers). BaRS Processing-Times: "Any requests not processed within 5000ms should be timed
 * out with 408 - REC_TIMEOUT": `timedOut` is called then, unless the answer has started.
 */
function observe(deps: AppDeps, req: IncomingMessage, res: ServerResponse, path: () => string, timedOut: (err: BarsError) => void): void {
  const { log } = deps;
  const started = process.hrtime.bigint();
  const timer = setTimeout(() => {
    if (!res.headersSent) {
      // The sender may still be sending (a stalled or trickled body): the connection is not reused, and it is closed
      // once the 408 has been written.
      res.setHeader('Connection', 'close');
      res.once('finish', () => (req.socket as Socket).destroySoon());
      timedOut(new BarsError('REC_TIMEOUT', 'The request was not processed within the time allowed', { issue: 'timeout' }));
    }
  }, deps.config.http.requestTimeoutMs);
  res.on('close', () => {
    clearTimeout(timer);
    const f = facts(req);
    const status = res.writableFinished ? res.statusCode : 408;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const p = path();
    if (deps.metrics) {
      const endpoint = endpointLabel(req.method ?? '', p);
      deps.metrics.requests.inc({ endpoint, status: String(status), code: f.recCode ?? '' });
      deps.metrics.requestDuration.observe({ endpoint }, seconds);
      if (status === 200 && f.workflow) {
        deps.metrics.accepted.inc({ workflow: f.workflow });
      }
    }
    if (log.isLevelEnabled('info')) {
      log.info(
        {
          requestId: echoableId(req.headers['x-request-id']),
          correlationId: echoableId(req.headers['x-correlation-id']),
          method: req.method,
          path: p.length > 64 ? `${p.slice(0, 64)}…` : p,
          status,
          recCode: f.recCode,
          workflow: f.workflow,
          messageId: f.messageId,
          ods: f.requester?.odsCode,
          durationMs: Math.round(seconds * 1e6) / 1e3,
        },
        'request',
      );
    }
  });
}

/** The body parser of every route: the raw bytes (any Content-Type; gzip, deflate and br inflated), within the limit. */
function rawBody(deps: AppDeps): ReturnType<typeof express.raw> {
  return express.raw({ type: () => true, limit: deps.config.http.bodyLimitBytes, inflate: true });
}

/**
 * POST to the path Express's router would match as `/$process-message` (not strict, not case-sensitive: a trailing
 * slash and any case), any query.
 */
function isProcessMessage(req: IncomingMessage): boolean {
  if (req.method !== 'POST') {
    return false;
  }
  const url = req.url ?? '';
  const queryAt = url.indexOf('?');
  const path = (queryAt < 0 ? url : url.slice(0, queryAt)).toLowerCase();
  return path === '/$process-message' || path === '/$process-message/';
}

/** The receiver's request listener (no listen: server.ts adds mutual TLS; tests may serve it over plain HTTP). */
export function createApp(deps: AppDeps): Listener {
  const { config, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    echoIntegrityHeaders(req, res);
    next();
  });
  app.use((req, res, next) => {
    observe(deps, req, res, () => req.path, next);
    next();
  });
  const body = rawBody(deps);
  app.use(body);

  app.use(receiverRoutes(deps));

  app.use(() => {
    throw new BarsError('REC_NOT_FOUND', 'No such endpoint at this receiver', { issue: 'not-found' });
  });
  const onError = errorHandler(log, config.bars.errorCodeSystem);
  app.use(onError);

  // The one path of POST /$process-message: the same steps, in the same order, without the router.
  const processMessage = processMessageHandler(deps);
  const direct: Listener = (req, res) => {
    const queryAt = req.url!.indexOf('?');
    const query = (queryAt < 0 ? {} : parseQuery(req.url!.slice(queryAt + 1))) as Query;
    // As Express's final handler: an error after the answer has started (or in the error handler) can only end the
    // connection.
    const fail = (err: unknown): void => {
      try {
        onError(err, req, res, () => req.socket.destroy());
      } catch {
        req.socket.destroy();
      }
    };
    echoIntegrityHeaders(req, res);
    observe(deps, req, res, () => '/$process-message', fail);
    body(req as express.Request, res as express.Response, (err?: unknown) => {
      if (err) {
        fail(err);
        return;
      }
      processMessage(req, res, query).catch(fail);
    });
  };
  return (req, res) => (isProcessMessage(req) ? direct(req, res) : app(req, res));
}
