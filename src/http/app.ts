/*
 * The Express app factory of the receiver (no listen: server.ts adds mutual TLS; tests may use either).
 * Middleware order matters: the integrity headers are echoed first so that every response, success or error, carries
 * them ("at ALL times, where possible"); the request log is attached before anything can fail.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { BarsError } from '../bars/errors.js';
import { echoableId } from '../bars/headers.js';
import { endpointLabel } from '../ops/metrics.js';
import { facts, type AppDeps } from './context.js';
import { errorHandler } from './errors.js';
import { receiverRoutes } from './routes.js';

function echoIntegrityHeaders(req: Request, res: Response, next: NextFunction): void {
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
  next();
}

export function createApp(deps: AppDeps): Express {
  const { config, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  app.use(echoIntegrityHeaders);

  // One line per request: ids, route, status, code, duration. Never the query string (it can carry NHS numbers).
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('close', () => {
      const f = facts(req);
      const status = res.writableFinished ? res.statusCode : 408;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (deps.metrics) {
        const endpoint = endpointLabel(req.method, req.path);
        deps.metrics.requests.inc({ endpoint, status: String(status), code: f.recCode ?? '' });
        deps.metrics.ackLatency.observe({ endpoint }, seconds);
        if (status === 200 && f.workflow) {
          deps.metrics.accepted.inc({ workflow: f.workflow });
        }
      }
      log.info(
        {
          requestId: echoableId(req.headers['x-request-id']),
          correlationId: echoableId(req.headers['x-correlation-id']),
          method: req.method,
          path: req.path.length > 64 ? `${req.path.slice(0, 64)}…` : req.path,
          status,
          recCode: f.recCode,
          workflow: f.workflow,
          messageId: f.messageId,
          ods: f.requester?.odsCode,
          durationMs: Math.round(seconds * 1e6) / 1e3,
        },
        'request',
      );
    });
    next();
  });

  // BaRS Processing-Times: "Any requests not processed within 5000ms should be timed out with 408 - REC_TIMEOUT".
  app.use((req, res, next) => {
    const timer = setTimeout(() => {
      if (!res.headersSent) {
        next(new BarsError('REC_TIMEOUT', 'The request was not processed within the time allowed', { issue: 'timeout' }));
      }
    }, config.http.requestTimeoutMs);
    res.on('close', () => clearTimeout(timer));
    next();
  });

  app.use(
    express.raw({
      type: () => true,
      limit: config.http.bodyLimitBytes,
      inflate: true,
    }),
  );

  app.use(receiverRoutes(deps));

  app.use(() => {
    throw new BarsError('REC_NOT_FOUND', 'No such endpoint at this receiver', { issue: 'not-found' });
  });
  app.use(errorHandler(log, config.bars.errorCodeSystem));
  return app;
}
