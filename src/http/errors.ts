/*
 * The one error handler: anything thrown becomes an OperationOutcome with the BaRS code, the FHIR issue code and a
 * diagnostic that names the element or header — never a stack trace (ARCHITECTURE invariant 5). A Redis that does not
 * answer is 503 REC_UNAVAILABLE, which senders retry (Sender-responsibilities).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BarsError,
  HTTP_ERROR_CODES_SYSTEM,
  HTTP_ERROR_CODES_SYSTEM_EXAMPLES,
  operationOutcome,
} from '../protocol/bars/errors.js';
import type { Logger } from '../logging.js';
import { facts } from './context.js';
import { sendResource } from './fhir-format.js';

export function errorSystem(spelling: 'CodeSystem' | 'Codesystem'): string {
  return spelling === 'Codesystem' ? HTTP_ERROR_CODES_SYSTEM_EXAMPLES : HTTP_ERROR_CODES_SYSTEM;
}

/** Error names ioredis and BullMQ use when Redis is unreachable, stalled or refusing writes. */
function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /Stream isn't writeable|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|READONLY|LOADING|MISCONF|OOM command not allowed|CLUSTERDOWN|enableOfflineQueue/i.test(err.message)
  );
}

/** Maps any thrown value to a BarsError. */
export function toBarsError(err: unknown): BarsError {
  if (err instanceof BarsError) {
    return err;
  }
  const e = err as { type?: string; status?: number; name?: string } | undefined;
  if (e?.type === 'entity.too.large') {
    return new BarsError('REC_BAD_REQUEST', 'The request body is larger than this receiver accepts', { issue: 'too-costly', expression: 'body' });
  }
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return new BarsError('REC_UNSUPPORTED_MEDIA_TYPE', 'The request body encoding is not supported', { expression: 'Content-Encoding' });
  }
  // body-parser's own refusals (e.g. a corrupt gzip/deflate/br body: a zlib error it marks 400) carry `expose`.
  if (e?.type === 'request.aborted' || e?.type === 'request.size.invalid' || (e?.status === 400 && (e?.type || (err as { expose?: unknown }).expose !== undefined))) {
    return new BarsError('REC_BAD_REQUEST', 'The request body could not be read', { issue: 'structure', expression: 'body' });
  }
  if (isRedisUnavailable(err)) {
    return new BarsError('REC_UNAVAILABLE', 'The receiver cannot store messages at the moment; retry later', { cause: err });
  }
  return new BarsError('REC_SERVER_ERROR', 'The receiver failed to process the request', { issue: 'exception', cause: err });
}

export function renderError(err: BarsError, spelling: 'CodeSystem' | 'Codesystem'): { status: number; body: string } {
  return { status: err.status, body: JSON.stringify(operationOutcome(err, errorSystem(spelling))) };
}

/** What to do with an error once the answer has started: Express's final handler, or the fast path's. */
type Next = (err: unknown) => void;

export function errorHandler(log: Logger, spelling: 'CodeSystem' | 'Codesystem'): (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const bars = toBarsError(err);
    facts(req).recCode = bars.code;
    if (bars.status >= 500) {
      const cause = (bars.cause ?? err) as Error | undefined;
      // Name and message only: a stack or payload never leaves the process, and messages here carry no PHI.
      log.error({ recCode: bars.code, err: { name: cause?.name, message: cause?.message } }, 'request failed');
    }
    for (const [name, value] of Object.entries(bars.headers)) {
      res.setHeader(name, value);
    }
    sendResource(req, res, bars.status, operationOutcome(bars, errorSystem(spelling)), facts(req).format);
  };
}
