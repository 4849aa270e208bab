/*
 * The responses flow in a worker process: the `responses` queue and worker (startResponses), the check that every
 * response rule can be reached by some emitter, and the answer to "which request does this status change answer?"
 * for PAS events.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../../config/schema.js';
import { readPem } from '../../config/pem.js';
import type { Logger } from '../../logging.js';
import { countResponses, type Metrics } from '../../metrics.js';
import { FHIR_ID } from '../../protocol/bars/fhir-types.js';
import { MessageStore, type RecordState } from '../../state/message-store.js';
import type { StatusEvent } from '../pas-events/processor.js';
import type { PasEventRule } from '../pas-events/rules.js';
import type { HttpTransportOptions } from './http.js';
import { enqueueResponsesFor, startResponses, type Responses } from './index.js';
import { checkResponseRules, pasEventSources } from './reachability.js';
import { DEFAULT_RULES_FILE, loadRules, ruleLines } from './rules.js';
import type { ResponseEvent } from '../../protocol/bars/response-events.js';

/**
 * The request a status change answers, and the response event it is, in BaRS terms: an Encounter status change
 * answers the record's first (new) message; a no-show on a booking is DNA feedback on the referral the booking was
 * based on (APP1 safeguarding; REFRESP01 answers the referral's Bundle).
 */
export async function originalRequestFor(
  store: MessageStore,
  event: StatusEvent,
  record: RecordState,
): Promise<{ messageId: string; event: ResponseEvent } | undefined> {
  if (event.event === 'encounter-status-changed' && event.from && event.to) {
    const [first] = await store.getRecordVersions(record.type, record.id);
    const reason = event.reasonCode ? { reasonCode: event.reasonCode } : {};
    return first ? { messageId: first, event: { type: 'encounter-status-changed', from: event.from, to: event.to, ...reason } as ResponseEvent } : undefined;
  }
  if (event.event === 'appointment-no-show') {
    const basedOn = (record.resource.basedOn as Array<{ reference?: string }> | undefined)?.[0]?.reference;
    // A reference is the sender's text, not a FHIR id (TKW sends `Slot/urn:uuid:…`): only an id goes into a key.
    const srId = basedOn?.startsWith('ServiceRequest/') ? basedOn.slice('ServiceRequest/'.length) : undefined;
    if (srId !== undefined && !FHIR_ID.test(srId)) {
      return undefined;
    }
    const [first] = srId ? await store.getRecordVersions('ServiceRequest', srId) : [];
    return first ? { messageId: first, event: { type: 'appointment-no-show', appointmentId: record.id } } : undefined;
  }
  return undefined;
}

/** The proxy's TLS material from the configuration (INT: the NHS INT CA and our client certificate). */
function proxyTransport(config: Readonly<Config>): HttpTransportOptions {
  const proxy = config.proxy;
  return {
    ...(proxy.ca ? { ca: readPem(proxy.ca) } : {}),
    ...(proxy.clientCert && proxy.clientKey ? { cert: readPem(proxy.clientCert), key: readPem(proxy.clientKey) } : {}),
  };
}

export interface ResponsesFlowDeps {
  readonly config: Readonly<Config>;
  /** Store on the producer connection (enqueueing, response records). */
  readonly store: MessageStore;
  readonly redis: Redis;
  readonly log: Logger;
  /** The PAS event rules (the emitter of status changes) and their file, for the reachability check. */
  readonly pasEvents: { readonly rules: readonly PasEventRule[]; readonly file: string };
  readonly metrics: Metrics;
  /** TLS material for the proxy when it does not come from the configuration (the development mock proxy). */
  readonly transport?: HttpTransportOptions;
}

export interface ResponsesFlow extends Responses {
  /** Queues the BaRS responses a status change applied from a PAS event calls for. */
  respondTo(event: StatusEvent, record: RecordState): Promise<void>;
}

export function startResponseFlow(deps: ResponsesFlowDeps): ResponsesFlow {
  const { config, log } = deps;
  // Response rules no emitter can satisfy are responses a sender would never get: refuse to start with them.
  const reach = checkResponseRules(loadRules(), ruleLines(DEFAULT_RULES_FILE), pasEventSources(deps.pasEvents.rules, deps.pasEvents.file));
  if (reach.errors.length > 0) {
    throw new Error(`Response rules that can never match:\n  ${reach.errors.join('\n  ')}`);
  }
  if (reach.unreached.length > 0) {
    log.warn({ rules: reach.unreached }, 'response rules for events nothing in this build emits');
  }
  const responses = startResponses({
    config,
    store: deps.store,
    worker: true,
    workerConnection: deps.redis,
    log,
    transport: deps.transport ?? proxyTransport(config),
    failures: deps.metrics.backgroundFailures,
    ...(config.proxy.acceptVersion ? { acceptVersion: config.proxy.acceptVersion } : {}),
  });
  if (responses.worker) {
    countResponses(deps.metrics, responses.worker.worker);
  }
  const workerStore = new MessageStore(deps.redis, config.redis.prefix);
  return {
    ...responses,
    respondTo: async (event, record) => {
      const request = await originalRequestFor(workerStore, event, record);
      if (!request) {
        return;
      }
      const eventId = `${record.type}-${record.id}-v${record.version}`;
      await enqueueResponsesFor(responses.deps, { messageId: request.messageId, event: { ...request.event, eventId, at: event.at } as ResponseEvent });
    },
  };
}
