/*
 * Per-message delivery history in Redis, for trace and for dead-letter review: when a message was queued for a
 * destination, every attempt (time, duration, ACK code and MSA-3 text, or the failure kind and error message), and
 * how it ended. Never the HL7 text: that lives under its own key with its own retention (ARCHITECTURE.md invariant 4).
 *
 * Keys (prefix = deployment prefix, default "bars"):
 *   <p>:dlv:hist:<destination>:<messageId>    hash   summary (status, attempts, control id, times, last outcome)
 *   <p>:dlv:events:<destination>:<messageId>  list   one JSON entry per event, oldest first
 *   <p>:dlv:dests:<messageId>                 set    destinations this message was queued for (trace look-up)
 *   <p>:dlv:text:<destination>:<messageId>    string the rendered message (kept while pending / dead-lettered)
 */
import type { Redis } from 'ioredis';

/** Where delivery keeps its own keys. */
export interface DeliveryStore {
  readonly redis: Redis;
  /** Key prefix, e.g. `bars`; tests use a unique one. */
  readonly prefix: string;
}

/** Lifecycle of one message on one destination. */
export type DeliveryStatus = 'queued' | 'sending' | 'retrying' | 'held' | 'delivered' | 'dead-lettered' | 'dropped';

/** One entry of a message's delivery history. */
export interface DeliveryEvent {
  readonly at: string;
  readonly type: 'queued' | 'attempt' | 'interrupted' | 'delivered' | 'dead-lettered' | 'replayed' | 'dropped' | 'held' | 'released' | 'reprocessed';
  readonly attempt?: number;
  readonly controlId?: string;
  /** MSA-1, when an acknowledgement came back. */
  readonly ackCode?: string;
  /** MSA-3 Text Message (the PAS's error text), truncated. */
  readonly ackText?: string;
  /** Failure kind (connection, ack-timeout, ack-mismatch, file-write, content-missing). */
  readonly error?: string;
  readonly errorMessage?: string;
  readonly durationMs?: number;
  /** What the lane did next: delivered, retry, hold, dead-letter. */
  readonly action?: string;
  readonly actor?: string;
  readonly detail?: string;
}

/** Summary of one message on one destination. */
export interface DeliverySummary {
  readonly messageId: string;
  readonly destination: string;
  readonly controlId: string;
  readonly contentType: string;
  readonly status: DeliveryStatus;
  /** All attempts ever made, replays included. */
  readonly attempts: number;
  /** Attempts since it was (re)queued: what maxAttempts is compared with. */
  readonly cycleAttempts: number;
  readonly replays: number;
  readonly enqueuedAt: string;
  readonly lastAttemptAt?: string;
  readonly deliveredAt?: string;
  readonly deadLetteredAt?: string;
  readonly lastOutcome?: string;
  /** `ServiceRequest/<id>` or `Appointment/<id>`. */
  readonly record?: string;
  /** While held: the dead letter (delivery id) of its record it waits behind. */
  readonly heldBehind?: string;
}

/** A message's full delivery history on one destination. */
export interface DeliveryHistory {
  readonly summary: DeliverySummary;
  readonly events: DeliveryEvent[];
}

/** The Redis keys of one message on one destination. */
export function deliveryKeys(prefix: string, destination: string, messageId: string) {
  return {
    history: `${prefix}:dlv:hist:${destination}:${messageId}`,
    events: `${prefix}:dlv:events:${destination}:${messageId}`,
    text: `${prefix}:dlv:text:${destination}:${messageId}`,
    destinations: `${prefix}:dlv:dests:${messageId}`,
  };
}

const MAX_TEXT = 200;

/** Truncates free text coming back from a PAS before it is stored. */
export function clip(text: string | undefined): string | undefined {
  return text === undefined ? undefined : text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

/** Appends one event (and optional summary fields) in one round trip. */
export async function appendEvent(
  store: DeliveryStore,
  destination: string,
  messageId: string,
  event: DeliveryEvent,
  summary: Record<string, string | number> = {},
): Promise<void> {
  const keys = deliveryKeys(store.prefix, destination, messageId);
  const multi = store.redis.multi().rpush(keys.events, JSON.stringify(event));
  if (Object.keys(summary).length > 0) {
    multi.hset(keys.history, summary);
  }
  await multi.exec();
}

function parseSummary(hash: Record<string, string>): DeliverySummary {
  const opt = (k: string): Record<string, string> => (hash[k] ? { [k]: hash[k]! } : {});
  return {
    messageId: hash.messageId ?? '',
    destination: hash.destination ?? '',
    controlId: hash.controlId ?? '',
    contentType: hash.contentType ?? '',
    status: (hash.status ?? 'queued') as DeliveryStatus,
    attempts: Number(hash.attempts ?? 0),
    cycleAttempts: Number(hash.cycleAttempts ?? 0),
    replays: Number(hash.replays ?? 0),
    enqueuedAt: hash.enqueuedAt ?? '',
    ...opt('lastAttemptAt'),
    ...opt('deliveredAt'),
    ...opt('deadLetteredAt'),
    ...opt('lastOutcome'),
    ...opt('record'),
    ...opt('heldBehind'),
  };
}

/**
 * Reads a message's delivery history on one destination.
 * @returns undefined when the message was never queued for that destination (or its history has expired).
 */
export async function getDeliveryHistory(
  store: DeliveryStore,
  destination: string,
  messageId: string,
): Promise<DeliveryHistory | undefined> {
  const keys = deliveryKeys(store.prefix, destination, messageId);
  const [hash, events] = await Promise.all([store.redis.hgetall(keys.history), store.redis.lrange(keys.events, 0, -1)]);
  if (!hash || Object.keys(hash).length === 0) {
    return undefined;
  }
  return { summary: parseSummary(hash), events: events.map((e) => JSON.parse(e) as DeliveryEvent) };
}

/** Trace: the delivery history of one message on every destination it was queued for. */
export async function getDeliveryTrace(store: DeliveryStore, messageId: string): Promise<DeliveryHistory[]> {
  const destinations = (await store.redis.smembers(deliveryKeys(store.prefix, '', messageId).destinations)).sort();
  const histories = await Promise.all(destinations.map((d) => getDeliveryHistory(store, d, messageId)));
  return histories.filter((h): h is DeliveryHistory => h !== undefined);
}
