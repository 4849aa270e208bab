/*
 * What every route handler is given: configuration, the store and queues, the logger and the clock. Handlers are
 * plain functions of (deps) → Express handler, so tests can build an app around any store.
 */
import type { IncomingMessage } from 'node:http';
import type { Queue } from 'bullmq';
import type { Config } from '../config/schema.js';
import type { MessageStore } from '../state/message-store.js';
import type { InboundJobData } from '../flows/inbound/inbound.js';
import type { Logger } from '../logging.js';
import { negotiate, readRequester, checkAccess, checkTarget, type Format, type Requester } from '../protocol/bars/headers.js';
import type { RecCode } from '../protocol/bars/errors.js';
import type { Metrics } from '../metrics.js';
import type { Diary } from '../flows/diary/diary.js';

export interface AppDeps {
  readonly config: Readonly<Config>;
  readonly store: MessageStore;
  readonly inbound: Queue<InboundJobData>;
  readonly log: Logger;
  readonly now: () => Date;
  readonly metrics?: Metrics;
  /** The PAS diary (issue 17): occupancy for GET /Slot and bookings. Absent: our own bookings only. */
  readonly diary?: Diary;
}

/** Per-request facts the routes share, set by the first middlewares. */
export interface RequestFacts {
  format: Format;
  requester?: Requester;
  recCode?: RecCode;
  messageId?: string;
  workflow?: string;
}

export function facts(req: IncomingMessage): RequestFacts {
  const r = req as IncomingMessage & { bars?: RequestFacts };
  r.bars ??= { format: 'json' };
  return r.bars;
}

/**
 * Content negotiation. The format is guessed before the version check, so that a 406 is itself rendered in what the
 * sender can read.
 */
export function negotiateFor(req: IncomingMessage, deps: AppDeps, format: unknown): void {
  const f = facts(req);
  const formatParam = typeof format === 'string' ? format : undefined;
  const accept = String(req.headers.accept ?? '');
  f.format = (formatParam ?? accept).toLowerCase().includes('xml') && !(formatParam === undefined && accept.includes('json')) ? 'xml' : 'json';
  f.format = negotiate(req.headers.accept, formatParam, deps.config.bars.apiMajor);
}

/** NHSD-* headers and the access policy (spec §3.1). */
export function authorise(req: IncomingMessage, deps: AppDeps, required: boolean): Requester {
  const requester = readRequester(req.headers, required);
  checkTarget(requester, deps.config.service.ids);
  checkAccess(requester, deps.config.access);
  facts(req).requester = requester;
  return requester;
}
