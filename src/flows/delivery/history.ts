/*
 * Per-message delivery history in Redis, for trace and for dead-letter review: when a message was queued for a
 * destination, every attempt (time, duration, ACK code and MSA-3 text, or the failure kind and error message), and
 * how it ended. Never the HL7 text: that lives under its own key with its own retention (ARCHITECTURE.md invariant 4).
 *
 * Keys: the `deliveryHistory`, `deliveryEvents`, `deliveryDestinations` and `deliveryText` families (state/keys.ts).
 */
import type { Redis } from 'ioredis';
import { keyspace } from '../../state/keys.js';

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
  const k = keyspace(store.prefix);
  const multi = store.redis.multi().rpush(k.deliveryEvents(destination, messageId), JSON.stringify(event));
  if (Object.keys(summary).length > 0) {
    multi.hset(k.deliveryHistory(destination, messageId), summary);
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
  const k = keyspace(store.prefix);
  const [hash, events] = await Promise.all([store.redis.hgetall(k.deliveryHistory(destination, messageId)), store.redis.lrange(k.deliveryEvents(destination, messageId), 0, -1)]);
  if (!hash || Object.keys(hash).length === 0) {
    return undefined;
  }
  return { summary: parseSummary(hash), events: events.map((e) => JSON.parse(e) as DeliveryEvent) };
}

/** Trace: the delivery history of one message on every destination it was queued for. */
export async function getDeliveryTrace(store: DeliveryStore, messageId: string): Promise<DeliveryHistory[]> {
  const destinations = (await store.redis.smembers(keyspace(store.prefix).deliveryDestinations(messageId))).sort();
  const histories = await Promise.all(destinations.map((d) => getDeliveryHistory(store, d, messageId)));
  return histories.filter((h): h is DeliveryHistory => h !== undefined);
}
