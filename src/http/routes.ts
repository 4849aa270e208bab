/*
 * The receiver endpoints of the standard, on the same path suffixes the BaRS proxy forwards to
 * (SetTargetUrl.js: catalogue URL + path suffix + query; spec §1, §2).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Router, type Request, type Response } from 'express';
import { capabilityStatement } from '../flows/intake/capability.js';
import { BarsError } from '../protocol/bars/errors.js';
import { checkIntegrityHeaders } from '../protocol/bars/headers.js';
import { searchMessageDefinitions } from '../flows/intake/message-definition-search.js';
import { acceptMessage, RequestSeenError } from '../flows/intake/process-message.js';
import { INFLIGHT_TTL_SECONDS, type RequestState } from '../state/message-store.js';
import { readRecord, searchRecords, type RecordType } from '../flows/intake/record-search.js';
import { searchSlots } from '../flows/intake/slot-search.js';
import type { GeneratedSlot } from '../flows/intake/slots.js';
import { validateMessage, type ValidatedMessage } from '../protocol/bars/validate-message.js';
import { enqueueInbound, inboundJobId } from '../flows/inbound/inbound.js';
import { authorise, facts, negotiateFor, type AppDeps } from './context.js';
import { parseBody, sendJsonBytes, sendResource } from './fhir-format.js';
import { renderError } from './errors.js';

export type Query = Record<string, string | string[] | undefined>;
const query = (req: Request): Query => req.query as Query;

const methodNotAllowed = (allow: string) => (_req: Request, res: Response): void => {
  res.setHeader('Allow', allow);
  throw new BarsError('REC_METHOD_NOT_ALLOWED', `This endpoint allows ${allow} only`);
};

/** 425: a resend while the first attempt is still being processed (Transactional-integrity/Failure-Scenarios). */
const tooEarly = (): BarsError =>
  new BarsError('REC_TOO_EARLY', 'The previous attempt of this X-Request-Id is still being processed; retry shortly', {
    issue: 'duplicate',
    expression: 'X-Request-Id',
  });

/** 409 duplicate: "indicates the message was successfully sent" (Sender-responsibilities): the sender stops retrying. */
const duplicate = (): BarsError =>
  new BarsError('REC_CONFLICT', 'A message with this X-Request-Id has already been received and processed', {
    issue: 'duplicate',
    expression: 'X-Request-Id',
  });

const notImplemented = (what: string) => (): void => {
  throw new BarsError('REC_NOT_IMPLEMENTED', `${what} is not implemented by this receiver`);
};

export function receiverRoutes(deps: AppDeps): Router {
  const router = Router({ caseSensitive: true, strict: false });
  const { config } = deps;

  /** Integrity headers, then format and version, then NHSD-* headers: the order of the IG failure tables. */
  const common = (req: Request, required: boolean): void => {
    checkIntegrityHeaders(req.headers);
    negotiateFor(req, deps, query(req)._format);
    authorise(req, deps, required);
  };

  router.get('/metadata', (req, res) => {
    checkIntegrityHeaders(req.headers);
    negotiateFor(req, deps, query(req)._format);
    // NHSD-* headers are checked when present but not required here (Authorisation page; spec §13.9).
    authorise(req, deps, false);
    sendResource(req, res, 200, capabilityStatement(config, deps.now()), facts(req).format);
  });
  router.all('/metadata', methodNotAllowed('GET'));

  router.get('/MessageDefinition', (req, res) => {
    common(req, false);
    const raw = query(req).context;
    const contexts = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    sendResource(req, res, 200, searchMessageDefinitions(contexts, config, deps.now()), facts(req).format);
  });
  router.all('/MessageDefinition', methodNotAllowed('GET'));

  // POST never reaches the router: createApp (app.ts) sends it to processMessageHandler directly.
  router.all('/$process-message', methodNotAllowed('POST'));

  for (const type of ['ServiceRequest', 'Appointment'] as RecordType[]) {
    router.get(`/${type}`, async (req, res) => {
      common(req, true);
      sendResource(req, res, 200, await searchRecords(deps.store, type, query(req), config.service.baseUrl), facts(req).format);
    });
    router.get(`/${type}/:id`, async (req, res) => {
      common(req, true);
      sendResource(req, res, 200, await readRecord(deps.store, type, req.params.id), facts(req).format);
    });
    // TKW GetServiceRequestPathIdMissing: `GET /ServiceRequest/` is a read without an id → 400, not a search.
    router.post(`/${type}`, notImplemented(`POST /${type} (RESTful create)`));
    router.put(`/${type}/:id`, notImplemented(`PUT /${type}/{id}`));
    router.patch(`/${type}/:id`, notImplemented(`PATCH /${type}/{id}`));
    router.delete(`/${type}/:id`, notImplemented(`DELETE /${type}/{id}`));
    router.all(`/${type}`, methodNotAllowed('GET, POST'));
    router.all(`/${type}/:id`, methodNotAllowed('GET, PUT, PATCH, DELETE'));
  }

  router.get('/Slot', async (req, res) => {
    common(req, true);
    if (config.slots.length === 0) {
      throw new BarsError('REC_NOT_IMPLEMENTED', 'This receiver publishes no slots; it takes referrals only');
    }
    const bundle = await searchSlots(query(req), config, async (slots) => {
      if (deps.diary) {
        // Our bookings ∪ the PAS diary (real-time query or mirror): src/flows/diary/diary.ts.
        return deps.diary.occupancy(slots);
      }
      const counts = await Promise.all(slots.map((s) => deps.store.redis.scard(deps.store.keys.slot(s.id))));
      return { counts: new Map(slots.map((s, i) => [s.id, counts[i]!])) };
    });
    sendResource(req, res, 200, bundle, facts(req).format);
  });
  router.all('/Slot', methodNotAllowed('GET'));

  return router;
}

/**
 * `POST /$process-message`, on Node's own request and response, run by the listener createApp makes (app.ts), the
 * endpoint's one path. `req.body` is the raw body (a Buffer) read by the body parser.
 */
export function processMessageHandler(deps: AppDeps): (req: IncomingMessage & { body?: unknown }, res: ServerResponse, query: Query) => Promise<void> {
  const { config } = deps;
  return async (req, res, query) => {
    const ids = checkIntegrityHeaders(req.headers);
    negotiateFor(req, deps, query._format);
    authorise(req, deps, true);
    // How a resend of an X-Request-Id is answered: as the first attempt decided (Transactional-integrity).
    const answerPrevious = async (previous: RequestState): Promise<void> => {
      switch (previous.state) {
        case 'new':
          // Claimed by a commit that is not visible yet: the first attempt is still being processed.
          throw tooEarly();
        case 'done':
          throw duplicate();
        case 'failed':
          // The retry gets "the response that that failure would have generated".
          res.statusCode = previous.status;
          res.setHeader('Content-Type', 'application/fhir+json; charset=utf-8');
          res.end(previous.body);
          return;
        case 'committed': {
          if (await deps.inbound.getJob(inboundJobId(previous.messageId))) {
            // Stored and queued: the first attempt completed. A duplicate.
            throw duplicate();
          }
          if (Date.now() - previous.committedAt < INFLIGHT_TTL_SECONDS * 1000) {
            // The first attempt may still be between its commit and its job.
            throw tooEarly();
          }
          // Stored, but the first attempt died before its job was added (and before its 200): finish it now.
          const stored = await deps.store.getMessage(previous.messageId);
          if (!stored) {
            throw new BarsError('REC_SERVER_ERROR', 'The stored message for this X-Request-Id could not be read', { issue: 'no-store' });
          }
          await enqueueInbound(deps.inbound, { messageId: stored.id, workflow: stored.workflow, requestId: ids.requestId, correlationId: ids.correlationId });
          await deps.store.completeRequest(ids.requestId, stored.id, config.bars.idempotencyTtlSeconds);
          sendResource(req, res, 200, stored.bundle, facts(req).format);
        }
      }
    };
    const refuse = async (err: unknown): Promise<void> => {
      if (err instanceof BarsError && err.status < 500) {
        // A resend of a request we already hold is answered as before, even if its body now fails a check.
        const previous = await deps.store.requestState(ids.requestId).catch(() => undefined);
        if (previous && previous.state !== 'new') {
          await answerPrevious(previous);
          return;
        }
        // Remember the refusal for retries of this X-Request-Id; best effort (the answer does not depend on it).
        const { status, body } = renderError(err, config.bars.errorCodeSystem);
        await deps.store.failRequest(ids.requestId, status, body, 3600).catch(() => undefined);
      }
      throw err;
    };
    try {
      // Handed over in a holder: acceptMessage lets the parsed Bundle go before its commit's round trip.
      const held: { msg?: ValidatedMessage } = {
        msg: validateMessage(await parseBody(req, res, config.http.xmlLimitBytes), {
          serviceIds: config.service.ids,
          odsCode: config.service.odsCode,
          checkReceiverOds: config.service.checkReceiverOds,
          bundleMajors: config.bars.bundleMajors,
          useCases: config.bars.useCases,
        }),
      };
      facts(req).workflow = held.msg!.workflow;
      const accepted = await acceptMessage(held, ids, {
        store: deps.store,
        inbound: deps.inbound,
        now: deps.now,
        referencePrefix: config.service.referencePrefix,
        referenceSystem: config.service.referenceSystem,
        idempotencyTtlSeconds: config.bars.idempotencyTtlSeconds,
        schedules: config.slots,
        ...(deps.diary ? { heldByPas: (slot: GeneratedSlot) => deps.diary!.heldByPas(slot) } : {}),
      });
      facts(req).messageId = accepted.messageId;
      await sendJsonBytes(req, res, 200, accepted.bodyJson, facts(req).format);
    } catch (err) {
      if (err instanceof RequestSeenError) {
        await answerPrevious(await deps.store.requestState(ids.requestId));
        return;
      }
      await refuse(err);
    }
  };
}
