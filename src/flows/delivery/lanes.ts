/*
 * Ordered delivery lanes: messages for one destination leave in the order they were queued, and a failing head
 * message is retried IN PLACE while later messages wait (ARCHITECTURE.md invariant 3).
 *
 * Design: a Redis list per destination (lane-store.ts), owned by one worker process at a time through a lease (a
 * key with a TTL the owner renews). The owner runs two loops:
 * - the sender takes entries in list order and sends each one, waiting for its ACK before the next (one message in
 *   flight per lane, as HL7 original-mode acknowledgement expects), and applies the destination's ACK policy; a
 *   retryable failure sleeps the policy backoff and sends the SAME message (same MSH-10) again;
 * - the stepper records what the sender has delivered since its last call, marks the message in flight, and reads
 *   ahead, all in one Redis script call (group commit), so Redis's fsync is paid once per round trip, not per message.
 *
 * Why nothing is lost, reordered or sent under two MSH-10s, with all state in Redis:
 * - Only the lease holder sends or pops. Two processes (rolling restart, replicas) never send one lane at once; every
 *   step checks the lease inside the script, and a sender that finds its lease gone stops before its next send.
 * - An entry leaves the list only in the step that records it delivered (or dead-lettered), atomically. A crash
 *   (kill -9) therefore leaves every unrecorded message on the list: after the lease expires the next owner sends
 *   them again with the same MSH-10 (the text, MSH-10 included, is stored). What a crash can cost is a resend of the
 *   message in flight and of those ACKed since the last step (≤ GATHER_MS plus one Redis round trip); a message in
 *   flight for longer than that is marked `sending`, and its next owner records the attempt as `interrupted`.
 * - Graceful close: the sender stops after the message in flight, the stepper records what is done, the lease is
 *   released so a standby takes over at its next poll.
 *
 * Entries carry ids only; the rendered text is under its own key (history.ts), attempts, ACK codes and errors go to
 * the history. A message the PAS refuses for good goes to the dead-letter set (dead-letters.ts) and the lane moves
 * on, but the later messages of its record (referral or booking) are held behind it (lane-store.ts) until ops
 * replay or drop it.
 *
 * A PAS that is down is not a reason to give up on a message: link-level failures (connection refused or reset, no
 * ACK at all) keep the head in place and do not count toward maxAttempts — the lane_head_stuck alert says the link
 * is down. Only the PAS's own answers (AE/CE until maxAttempts, AR/CR) can dead-letter a message.
 *
 * Three ordered mechanisms, kept apart on purpose (issue 15 asked for one where the guarantees coincide; they do
 * not): this lane is ONE sender per destination holding a lease, one message in flight, held records behind a dead
 * letter — what an HL7 original-mode link needs. The receipt-order sequencer (inbound/sequencer.ts) orders a
 * process-wide sequence that has gaps to wait for and no transport at all. The response lanes (responses/queue.ts)
 * are thousands of short per-conversation lists sent in parallel through BullMQ with Retry-After and a dead letter
 * that does NOT hold the rest of the conversation (BaRS: each response stands alone). One mechanism for all three
 * would carry a lease, gap-waiting and per-record holds where they are wrong.
 */
import { randomUUID } from 'node:crypto';
import { mllpClientOptions, type AckAction, type Destination } from '../../config/destinations.js';
import { recordDeadLetter } from './dead-letters.js';
import { AckTimeoutError, ConnectionError, DeliveryError, FileWriteError } from '../../protocol/hl7/transport-errors.js';
import { dropFile } from './file-drop.js';
import { clip, type DeliveryStore } from './history.js';
import { keyspace } from '../../state/keys.js';
import {
  acquireLease,
  enqueueEntries,
  heldRecords,
  laneStep,
  laneWakeups,
  releaseLease,
  renewLease,
  wakeupName,
  type FetchedEntry,
  type LaneEntry,
  type HeldRecord,
  type StepOutcome,
} from '../../state/lane-store.js';
import { defineLinkCommands, failureState, linkError, recordLink, recordLinkIn } from '../../state/link-state.js';
import { MllpClient, type AckResult, type MllpLogger } from '../../protocol/hl7/mllp-client.js';
import { backoffDelay, lanePolicy, type DeliveryPolicy, type LanePolicy } from './policy.js';

/** What the inbound processor hands to delivery: one rendered message for one destination. */
export interface DeliveryItem {
  /** Delivery id (e.g. `<message id>.<mapping id>`): unique per destination. */
  readonly messageId: string;
  /** Destination name (destinations config). */
  readonly destination: string;
  /** MSH-10 already in the text; reused on every resend. */
  readonly controlId: string;
  /** e.g. `x-application/hl7-v2+er7` or `text/plain` for a flat file. */
  readonly contentType: string;
  /** The rendered message, or the Redis key where it is stored. Never put in logs. */
  readonly text: string | { readonly key: string };
  /** `ServiceRequest/<id>` or `Appointment/<id>`: later messages of a record are held behind its dead letters. */
  readonly record?: string;
  /** Receipt position (receipt sequence × 1000 + output index): where a replay or late hand-off goes back to. */
  readonly order?: number;
  /** The mapping failed: recorded as a dead letter (reason `mapping-failed`) in its place, holding its record. */
  readonly failure?: string;
}

/** Logger subset (pino-compatible). */
export interface LaneLogger extends MllpLogger {
  error(obj: object, msg: string): void;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Queues rendered messages at the back of their lanes, in the order given, in one round trip (or, with `position`,
 * each at its receipt position: a hand-off after the sequencer has passed its number). Idempotent per
 * (messageId, destination): a message queued before (e.g. a hand-off repeated after a crash) is not queued again.
 * @returns how many were new.
 */
export async function enqueueDeliveries(deps: DeliveryStore, items: readonly DeliveryItem[], mode: 'tail' | 'position' = 'tail'): Promise<number> {
  for (const item of items) {
    if (!SAFE_ID.test(item.messageId) || !SAFE_ID.test(item.destination) || (item.controlId === '' && item.failure === undefined)) {
      throw new Error('enqueueDelivery: messageId/destination must be [A-Za-z0-9._-] and controlId non-empty');
    }
  }
  const added = await enqueueEntries(
    deps.redis,
    deps.prefix,
    items.map((i) => ({
      destination: i.destination,
      id: i.messageId,
      controlId: i.controlId,
      contentType: i.contentType,
      text: i.text,
      ...(i.record ? { record: i.record } : {}),
      ...(i.order !== undefined ? { order: i.order } : {}),
      ...(i.failure !== undefined ? { failure: i.failure } : {}),
    })),
    new Date(),
    mode,
  );
  for (const destination of new Set(items.map((i) => i.destination))) {
    laneWakeups.emit(wakeupName(deps.prefix, destination));
  }
  return added;
}

/**
 * The sequencer's hand-off (src/flows/inbound/sequencer.ts): its outputs, mapping failures included, to their lanes, keyed
 * by record and receipt position.
 */
export function handOffToLanes(deps: DeliveryStore) {
  return async (
    outputs: ReadonlyArray<{
      deliveryId: string;
      destination: string;
      controlId: string;
      contentType: string;
      textKey: string;
      record?: string;
      order?: number;
      failure?: string;
    }>,
    mode: 'tail' | 'position',
  ): Promise<void> => {
    await enqueueDeliveries(
      deps,
      outputs.map((o) => ({
        messageId: o.deliveryId,
        destination: o.destination,
        controlId: o.controlId,
        contentType: o.contentType,
        text: { key: o.textKey },
        ...(o.record ? { record: o.record } : {}),
        ...(o.order !== undefined ? { order: o.order } : {}),
        ...(o.failure !== undefined ? { failure: o.failure } : {}),
      })),
      mode,
    );
  };
}

/** Queues one rendered message (see enqueueDeliveries). */
export async function enqueueDelivery(deps: DeliveryStore, item: DeliveryItem): Promise<void> {
  await enqueueDeliveries(deps, [item]);
}

/** How one attempt ended at the transport level. */
export type TransportOutcome = { readonly kind: 'ack'; readonly ack: AckResult } | { readonly kind: 'file'; readonly path: string };

/** What a transport says about its link between attempts: a keep-alive connection lost and re-established. */
export type LinkEvent = { readonly kind: 'reconnected' } | { readonly kind: 'reconnect-failed'; readonly code: string | undefined };

/** Sends rendered messages to one destination. */
export interface LaneTransport {
  deliver(text: string, entry: LaneEntry): Promise<TransportOutcome>;
  close(): Promise<void>;
  /** Subscribes to link events between attempts (MLLP keep-alive reconnects). */
  onLink?(listener: (event: LinkEvent) => void): void;
}

/** The transport for a destination: an MLLP client, or an atomic file drop. */
export function createTransport(destination: Destination, logger?: LaneLogger): LaneTransport {
  if (destination.kind === 'file') {
    return {
      async deliver(text, entry) {
        const path = await dropFile(destination, text, {
          controlId: entry.controlId,
          messageId: entry.messageId,
          destination: destination.name,
          now: new Date(),
        });
        return { kind: 'file', path };
      },
      async close() {},
    };
  }
  const client = new MllpClient({ ...mllpClientOptions(destination), ...(logger ? { logger } : {}) });
  return {
    async deliver(text, entry) {
      return { kind: 'ack', ack: await client.send(text, entry.controlId) };
    },
    close: () => client.close(),
    onLink(listener) {
      client.on('reconnected', () => listener({ kind: 'reconnected' }));
      client.on('reconnect-failed', (err: unknown) => listener({ kind: 'reconnect-failed', code: err instanceof ConnectionError ? err.code : undefined }));
    },
  };
}

/** What the ACK policy says about one attempt. */
type Decision = 'delivered' | AckAction;

/**
 * The link itself failed: nothing reached the PAS's application (connection refused or reset, or no acknowledgement
 * at all, which a PAS that is up answers with AE/AR rather than silence; a file drop directory that cannot be written).
 * The message is not at fault, so the attempt does not count toward maxAttempts.
 */
function linkDown(failure: Error | undefined): boolean {
  return failure instanceof ConnectionError || failure instanceof AckTimeoutError || failure instanceof FileWriteError;
}

function decide(destination: Destination, outcome: TransportOutcome | undefined): Decision {
  if (outcome === undefined) {
    return 'retry'; // transport failure: connection, ACK timeout, mismatched ACK, file write
  }
  if (outcome.kind === 'file') {
    return 'delivered';
  }
  const code = outcome.ack.code;
  if (code === 'AA' || code === 'CA') {
    return 'delivered';
  }
  return destination.kind === 'mllp' ? destination.ackPolicy[code] : 'retry';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Everything one lane's owner needs, passed in. */
export interface LaneRunnerDeps extends DeliveryStore {
  readonly destination: Destination;
  readonly transport: LaneTransport;
  readonly policy: LanePolicy;
  readonly retention: DeliveryPolicy['retention'];
  readonly lock: DeliveryPolicy['lock'];
  readonly logger?: LaneLogger;
  readonly random?: () => number;
  readonly onAttempt?: AttemptObserver;
  /** Told after a message is dead-lettered (the diary records a booking the PAS refused). Errors are logged, not thrown. */
  readonly onDeadLetter?: DeadLetterHook;
}

/**
 * Told of every delivery attempt where it happens (the worker's metrics): `outcome` is the MSA-1 code, `written` for
 * a file drop, or the failure kind (connection, ack-timeout, ack-mismatch, file-write, internal).
 */
export type AttemptObserver = (attempt: { readonly destination: string; readonly outcome: string; readonly acknowledged: boolean }) => void;

/** Called with the entry and the dead-letter reason (`ack-AR`, `max-attempts` …). */
export type DeadLetterHook = (entry: LaneEntry, reason: string) => Promise<void>;

/** Entries read ahead of the sender: enough for several round trips of Redis at the PAS's pace. */
const READ_AHEAD = 256;
/** How often an owner whose lane is empty looks for entries queued by another process. */
const IDLE_POLL_MS = 20;
/**
 * While the sender is busy and has enough read ahead, the stepper gathers outcomes for up to this long before it
 * records them: fewer, larger script calls (Redis and this process spend less CPU per message, which on a shared
 * machine the PAS link gets instead). A crash can cost a resend of what was ACKed in that window, same MSH-10.
 */
const GATHER_MS = 5;

/** A fetched entry and what the sender made of it. */
type Slot = Omit<FetchedEntry, 'status' | 'held'> & { status: string; held: boolean; cycle: number; done?: StepOutcome };

/**
 * One destination's lane in this process: waits for the lease, then delivers until closed or the lease is lost.
 * startLaneWorkers runs one per destination.
 */
class LaneRunner {
  private readonly token = randomUUID();
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  /** Fetched entries not yet popped from the list, in list order. */
  private slots: Slot[] = [];
  /** Index in `slots` of the next entry to send. */
  private next = 0;
  /** The entry being sent, and whether a step has marked it `sending`. */
  private inFlight: { id: string; marked: boolean } | undefined;
  private owner = false;
  private lost = false;
  /** True when the last read came back short: the list has nothing more until someone queues. */
  private drained = false;
  private wake: (() => void) | undefined;
  private readonly onWakeup = (): void => {
    this.drained = false;
    this.poke();
  };

  constructor(private readonly deps: LaneRunnerDeps) {
    defineLinkCommands(deps.redis);
  }

  get destination(): string {
    return this.deps.destination.name;
  }

  start(): void {
    laneWakeups.on(wakeupName(this.deps.prefix, this.destination), this.onWakeup);
    this.deps.transport.onLink?.((event) => this.onLink(event));
    this.running = this.run();
  }

  /**
   * An idle keep-alive link went down or came back: the link state says so without waiting for the next message.
   * Only the owner writes (a standby's transport has no connection); a reconnect ends `refusing` only, it does not
   * overrule what the last attempt said (ACK timeouts, rejections). One write per reconnect attempt, paced by the
   * client's reconnect backoff.
   */
  private onLink(event: LinkEvent): void {
    if (!this.active) {
      return;
    }
    const d = this.deps;
    const observation =
      event.kind === 'reconnected'
        ? ({ state: 'connected', at: new Date(), onlyFrom: 'refusing' } as const)
        : ({ state: 'refusing', at: new Date(), error: linkError('connection', event.code) } as const);
    void recordLink(d.redis, d.prefix, this.destination, observation).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.stopping.abort();
    this.ownership.abort();
    this.poke();
    await this.running;
    laneWakeups.off(wakeupName(this.deps.prefix, this.destination), this.onWakeup);
  }

  /** Wakes the stepper and the sender, whichever is waiting; each re-reads the state and waits again if idle. */
  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    this.senderWake?.();
  }

  /** Sleeps until poked or `ms` passed. */
  private nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private get closing(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    const { redis, prefix, lock } = this.deps;
    while (!this.closing) {
      let acquired = false;
      try {
        acquired = await acquireLease(redis, prefix, this.destination, this.token, lock.leaseMs);
      } catch (err) {
        this.deps.logger?.warn({ destination: this.destination, err: (err as Error).message }, 'lane lease: Redis error');
      }
      if (!acquired) {
        await sleep(lock.takeoverPollMs, this.stopping.signal);
        continue;
      }
      this.owner = true;
      this.lost = false;
      this.ownership = new AbortController();
      this.lastRenewal = Date.now();
      this.slots = [];
      this.next = 0;
      this.inFlight = undefined;
      this.drained = false;
      this.deps.logger?.info({ destination: this.destination }, 'lane owned by this process');
      const renewal = setInterval(() => void this.renew(), Math.max(50, Math.floor(lock.leaseMs / 3)));
      try {
        await Promise.all([this.sendLoop(), this.stepLoop()]);
      } finally {
        clearInterval(renewal);
        this.owner = false;
      }
      // Released whatever ended the loops: a no-op when the lease expired or was taken, and after a refused step
      // (the list moved under us) it lets this or another process start again from the list as it is.
      await releaseLease(redis, prefix, this.destination, this.token).catch(() => undefined);
      if (this.lost) {
        this.deps.logger?.warn({ destination: this.destination }, 'lane ownership ended; the lane is taken again from its head');
        await sleep(lock.takeoverPollMs, this.stopping.signal);
      }
    }
  }

  private lastRenewal = Date.now();

  private async renew(): Promise<void> {
    const { redis, prefix, lock } = this.deps;
    try {
      if (await renewLease(redis, prefix, this.destination, this.token, lock.leaseMs)) {
        this.lastRenewal = Date.now();
      } else {
        this.loseLease();
      }
    } catch {
      // Redis unreachable: once the lease may have expired, someone else may own the lane; stop sending.
      if (Date.now() - this.lastRenewal > lock.leaseMs) {
        this.loseLease();
      }
    }
  }

  private loseLease(): void {
    this.lost = true;
    this.ownership.abort();
    this.poke();
  }

  /** Aborted when this process stops owning the lane (lease lost or closing): ends backoff sleeps. */
  private ownership = new AbortController();

  /** Owner is active while it holds the lease and is not closing. */
  private get active(): boolean {
    return this.owner && !this.lost && !this.closing;
  }

  /** Records outcomes, marks the message in flight, reads ahead; loops until the sender has stopped and all is recorded. */
  private async stepLoop(): Promise<void> {
    const d = this.deps;
    let senderDone = false;
    this.senderStopped = () => {
      senderDone = true;
      this.poke();
    };
    let failures = 0;
    let lastStep = 0;
    for (;;) {
      if (this.lost) {
        return;
      }
      let settled = 0;
      while (settled < this.slots.length && this.slots[settled]!.done) {
        settled += 1;
      }
      const ahead = this.slots.length - settled;
      const fetchCount = this.active && !senderDone && !this.drained && ahead < READ_AHEAD / 2 ? READ_AHEAD - ahead : 0;
      const mark = this.inFlight && !this.inFlight.marked ? this.inFlight : undefined;
      if (settled === 0 && fetchCount === 0 && !mark) {
        if (senderDone) {
          return;
        }
        await this.nap(this.drained ? IDLE_POLL_MS : 1000);
        this.drained = false;
        continue;
      }
      const urgent = senderDone || !this.active || this.senderWaiting || (fetchCount > 0 && ahead < READ_AHEAD / 4);
      const gathered = Date.now() - lastStep;
      if (!urgent && gathered < GATHER_MS) {
        await sleep(GATHER_MS - gathered, this.ownership.signal);
        continue;
      }
      lastStep = Date.now();
      const outcomes = this.slots.slice(0, settled).map((s) => s.done!);
      let result: Awaited<ReturnType<typeof laneStep>>;
      try {
        result = await laneStep(d.redis, {
          prefix: d.prefix,
          destination: this.destination,
          token: this.token,
          textTtlSeconds: d.retention.deliveredTextTtlSeconds,
          historyTtlSeconds: d.retention.historyTtlSeconds,
          fetchFrom: ahead,
          fetchCount,
          inFlight: mark?.id,
          now: new Date().toISOString(),
          outcomes,
        });
        failures = 0;
      } catch (err) {
        // Redis unavailable: nothing was recorded (a script runs whole or not at all); try again.
        failures += 1;
        d.logger?.warn({ destination: this.destination, err: (err as Error).message, failures }, 'lane step failed; retrying');
        await sleep(Math.min(1000, 50 * failures), new AbortController().signal);
        continue;
      }
      if (result.kind !== 'ok') {
        // The lease is gone, or someone else moved the list: stop; whoever owns the lane resends what is unrecorded.
        d.logger?.warn({ destination: this.destination, reason: result.kind }, 'lane step refused');
        this.loseLease();
        return;
      }
      if (mark) {
        mark.marked = true;
      }
      this.slots.splice(0, settled);
      this.next -= settled;
      if (fetchCount > 0) {
        this.drained = result.fetched.length < fetchCount;
        for (const entry of result.fetched) {
          this.slots.push({ ...entry, cycle: entry.cycleAttempts });
        }
      }
      this.senderWake?.();
    }
  }

  private senderStopped: (() => void) | undefined;
  private senderWake: (() => void) | undefined;

  /**
   * Waits until the stepper has read or recorded something, or the lane stops. Does not poke the stepper: it runs
   * whenever there is something to record or read, and an idle lane must not spin between the two loops.
   */
  private waitForEntries(): Promise<void> {
    this.senderWaiting = true;
    return new Promise((resolve) => {
      this.senderWake = () => {
        this.senderWake = undefined;
        this.senderWaiting = false;
        resolve();
      };
    });
  }

  /** True while the sender waits on the stepper (then the stepper does not gather). */
  private senderWaiting = false;

  /** Waits until everything before the head has been recorded, so the head's own records follow them. */
  private async settledBefore(slot: Slot): Promise<boolean> {
    while (this.slots[0] !== slot) {
      if (this.lost) {
        return false;
      }
      await this.waitForEntries();
    }
    return !this.lost;
  }

  private async sendLoop(): Promise<void> {
    try {
      while (this.active) {
        const slot = this.slots[this.next];
        if (!slot) {
          await this.waitForEntries();
          continue;
        }
        if (slot.status === 'delivered' || slot.status === 'dead-lettered' || slot.status === 'dropped') {
          // Settled by an owner that died before popping it (e.g. dead-lettered, then killed): never send again.
          slot.done = { kind: 'skip', id: slot.id };
          this.next += 1;
          this.poke();
          continue;
        }
        if (slot.held) {
          // An earlier message of its record is a dead letter: the PAS must not get this update first.
          this.settle(slot, { kind: 'hold', id: slot.id });
          continue;
        }
        await this.deliverHead(slot);
      }
    } finally {
      this.senderStopped?.();
    }
  }

  private entry(slot: Slot): LaneEntry {
    return {
      messageId: slot.id,
      destination: this.destination,
      controlId: slot.controlId,
      renderedKey: keyspace(this.deps.prefix).deliveryText(this.destination, slot.id),
    };
  }

  /** Sends one entry until it is delivered, dead-lettered, or the lane stops (then it stays at the head). */
  private async deliverHead(slot: Slot): Promise<void> {
    const d = this.deps;
    const entry = this.entry(slot);
    if (slot.text === null) {
      if (await this.settledBefore(slot)) {
        await recordDeadLetter(d, entry, { reason: 'content-missing', detail: 'rendered message not found' });
        this.holdLater(slot);
        this.settle(slot, { kind: 'skip', id: slot.id });
      }
      return;
    }
    if (slot.status === 'sending' && !(await this.resumeInterrupted(slot))) {
      return;
    }
    let tries = 0;
    while (this.active) {
      const startedAt = new Date();
      this.inFlight = { id: slot.id, marked: false };
      this.poke();
      let outcome: TransportOutcome | undefined;
      let failure: Error | undefined;
      try {
        outcome = await d.transport.deliver(slot.text, entry);
      } catch (err) {
        failure = err instanceof Error ? err : new Error(String(err));
      }
      this.inFlight = undefined;
      tries += 1;
      const link = outcome === undefined && linkDown(failure);
      if (!link) {
        slot.cycle += 1;
      }
      const durationMs = Date.now() - startedAt.getTime();
      let decision = decide(d.destination, outcome);
      const max = d.policy.maxAttempts;
      const exhausted = decision === 'retry' && !link && max !== 'forever' && slot.cycle >= max;
      if (exhausted) {
        decision = 'dead-letter';
      }
      const ack = outcome?.kind === 'ack' ? outcome.ack : undefined;
      const errorKind = failure instanceof DeliveryError ? failure.kind : failure ? 'internal' : undefined;
      const outcomeLabel = ack ? ack.code : outcome?.kind === 'file' ? 'written' : (errorKind ?? 'unknown');
      d.onAttempt?.({ destination: this.destination, outcome: outcomeLabel, acknowledged: outcome !== undefined });
      const event = {
        at: new Date().toISOString(),
        type: 'attempt' as const,
        attempt: slot.cycle,
        controlId: slot.controlId,
        ...(ack ? { ackCode: ack.code } : {}),
        ...(ack?.text ? { ackText: clip(ack.text) } : {}),
        ...(errorKind ? { error: errorKind, errorMessage: clip(failure?.message) } : {}),
        durationMs,
        action: exhausted ? 'dead-letter (max attempts)' : link ? 'retry (link down; not counted toward maxAttempts)' : decision,
      };
      if (decision !== 'delivered') {
        // Only what needs a look is logged; every attempt is in the message's delivery history (trace).
        d.logger?.warn(
          { destination: this.destination, messageId: slot.id, controlId: slot.controlId, attempt: slot.cycle, outcome: outcomeLabel, durationMs, decision },
          'delivery attempt',
        );
      }
      if (this.lost) {
        return; // the new owner records and resends it
      }
      if (decision === 'delivered') {
        const deliveredEvent = JSON.stringify({ at: event.at, type: 'delivered', controlId: slot.controlId });
        this.settle(slot, {
          kind: 'delivered',
          id: slot.id,
          attemptEvent: JSON.stringify(event),
          deliveredEvent,
          lastOutcome: outcomeLabel,
          startedAt: startedAt.toISOString(),
          ...(ack ? { ack: { code: ack.code, text: ack.text } } : {}),
        });
        return;
      }
      // A failed attempt: rare, so recorded on its own once everything before it is recorded.
      if (!(await this.settledBefore(slot))) {
        return;
      }
      await this.recordFailedAttempt(slot, { event, decision, outcomeLabel, startedAt, link, failure, ack, errorKind });
      if (decision === 'dead-letter') {
        const reason = exhausted ? 'max-attempts' : `ack-${ack?.code ?? 'unknown'}`;
        await recordDeadLetter(d, entry, { reason, detail: clip(ack?.text ?? failure?.message) });
        await d.onDeadLetter?.(entry, reason).catch((err: unknown) =>
          d.logger?.error({ destination: this.destination, messageId: entry.messageId, err: { message: (err as Error).message } }, 'dead-letter hook failed'),
        );
        this.holdLater(slot);
        this.settle(slot, { kind: 'skip', id: slot.id });
        return;
      }
      // retry or hold: wait in place; 'hold' ignores maxAttempts and settles at the longest backoff. The backoff
      // grows with every try of this head, link failures included (a PAS that is down is not hammered).
      await sleep(backoffDelay(d.policy.backoff, tries, d.random), this.ownership.signal);
    }
  }

  /**
   * The last owner died while `slot` was in flight: the PAS may have it already, so it goes again with the same MSH-10,
   * after an `interrupted` attempt is recorded. False when this owner lost the lane meanwhile.
   */
  private async resumeInterrupted(slot: Slot): Promise<boolean> {
    if (!(await this.settledBefore(slot))) {
      return false;
    }
    const d = this.deps;
    const k = keyspace(d.prefix);
    const history = k.deliveryHistory(this.destination, slot.id);
    await d.redis
      .multi()
      .rpush(k.deliveryEvents(this.destination, slot.id), JSON.stringify({ at: new Date().toISOString(), type: 'interrupted', controlId: slot.controlId }))
      .hincrby(history, 'attempts', 1)
      .hincrby(history, 'cycleAttempts', 1)
      .hset(history, 'status', 'queued')
      .exec();
    slot.cycle += 1;
    slot.status = 'queued';
    return true;
  }

  /** A failed attempt in the history, with the link state it shows, in one round trip. */
  private async recordFailedAttempt(
    slot: Slot,
    a: { event: object; decision: string; outcomeLabel: string; startedAt: Date; link: boolean; failure: Error | undefined; ack: AckResult | undefined; errorKind: string | undefined },
  ): Promise<void> {
    const d = this.deps;
    const status = a.decision === 'hold' ? 'held' : a.decision === 'retry' ? 'retrying' : 'sending';
    const k = keyspace(d.prefix);
    const history = k.deliveryHistory(this.destination, slot.id);
    const write = d.redis
      .multi()
      .rpush(k.deliveryEvents(this.destination, slot.id), JSON.stringify(a.event))
      .hset(history, { status, lastOutcome: a.outcomeLabel, lastAttemptAt: a.startedAt.toISOString() })
      .hincrby(history, 'attempts', 1)
      .hincrby(history, 'cycleAttempts', a.link ? 0 : 1);
    if (!(a.failure instanceof ConnectionError && a.failure.code === 'CLOSED')) {
      // The link state, in the same round trip (a client closed by our own shutdown says nothing about the PAS).
      recordLinkIn(write, d.prefix, this.destination, {
        state: failureState(a.failure instanceof DeliveryError ? a.failure : undefined, a.ack?.code),
        at: new Date(),
        ...(a.ack ? { ackCode: a.ack.code, ackText: a.ack.text } : {}),
        ...(a.errorKind ? { error: linkError(a.errorKind, a.failure instanceof ConnectionError ? a.failure.code : undefined) } : {}),
      });
    }
    await write.exec();
  }

  /**
   * After `slot` was dead-lettered: the later entries of its record this owner has already read are held too (those
   * read from now on are marked by the step, which sees the dead letter).
   */
  private holdLater(slot: Slot): void {
    if (!slot.record) {
      return;
    }
    for (const s of this.slots) {
      if (s !== slot && !s.done && s.record === slot.record && (s.order === undefined || slot.order === undefined || s.order > slot.order)) {
        s.held = true;
      }
    }
  }

  private settle(slot: Slot, outcome: StepOutcome): void {
    slot.done = outcome;
    this.next += 1;
    this.poke();
  }
}

/** Dependencies of the lane workers. */
export interface LaneWorkerDeps extends DeliveryStore {
  readonly logger?: LaneLogger;
  /** Test hook: replace the transport of a destination. */
  readonly transportFor?: (destination: Destination) => LaneTransport;
  /** Told of every attempt (the worker's delivery counters). */
  readonly onAttempt?: AttemptObserver;
  readonly onDeadLetter?: DeadLetterHook;
}

/** The running lane workers of this process. */
export interface LaneWorkers {
  readonly destinations: readonly string[];
  /** Stops after the messages in flight, records what is done, releases the lanes, closes transports. */
  close(): Promise<void>;
}

/**
 * Starts one lane runner per destination; the lanes run in parallel, each strictly in order.
 * @param deps - Redis, prefix, logger.
 * @param destinations - validated destination config.
 * @param policy - queues/delivery.yaml.
 */
export async function startLaneWorkers(
  deps: LaneWorkerDeps,
  destinations: readonly Destination[],
  policy: DeliveryPolicy,
): Promise<LaneWorkers> {
  const lanes = destinations.map((destination) => {
    const transport = deps.transportFor?.(destination) ?? createTransport(destination, deps.logger);
    const runner = new LaneRunner({
      redis: deps.redis,
      prefix: deps.prefix,
      destination,
      transport,
      policy: lanePolicy(policy, destination.name),
      retention: policy.retention,
      lock: policy.lock,
      ...(deps.logger ? { logger: deps.logger } : {}),
      ...(deps.onAttempt ? { onAttempt: deps.onAttempt } : {}),
      ...(deps.onDeadLetter ? { onDeadLetter: deps.onDeadLetter } : {}),
    });
    runner.start();
    return { runner, transport };
  });
  let closing: Promise<void> | undefined;
  return {
    destinations: destinations.map((d) => d.name),
    close() {
      closing ??= (async () => {
        await Promise.all(lanes.map((l) => l.runner.close()));
        await Promise.all(lanes.map((l) => l.transport.close()));
      })();
      return closing;
    },
  };
}

/** What ops see of one lane: how much is waiting and what the head is doing (Mirth users' most asked-for view). */
export interface LaneStatus {
  readonly destination: string;
  readonly waiting: number;
  /** Whether a worker process owns the lane now. */
  readonly owned: boolean;
  /** Messages held behind a dead letter of their record (not counted in `waiting`). */
  readonly held: number;
  /** The records held, each with the dead letter it waits behind (first 100). */
  readonly heldRecords: readonly HeldRecord[];
  /** The message being delivered (or retried in place) now, if any. */
  readonly head?: {
    readonly messageId: string;
    readonly controlId: string;
    readonly status: string;
    readonly attempts: number;
    readonly lastOutcome?: string;
    readonly lastAttemptAt?: string;
  };
}

/**
 * Reads a lane's status, e.g. "head m42 retrying since 10:02, attempt 7, last outcome ack-timeout; 130 waiting".
 * `waiting` counts the messages behind the head.
 */
export async function getLaneStatus(deps: DeliveryStore, destination: string): Promise<LaneStatus> {
  const k = keyspace(deps.prefix);
  const [[, length], [, head], [, owner]] = (await deps.redis
    .pipeline()
    .llen(k.lane(destination))
    .lindex(k.lane(destination), 0)
    .exists(k.laneLease(destination))
    .exec()) as [[Error | null, number], [Error | null, string | null], [Error | null, number]];
  const { records: heldList, held } = await heldRecords(deps.redis, deps.prefix, destination);
  if (head === null) {
    return { destination, waiting: 0, owned: owner === 1, held, heldRecords: heldList };
  }
  const hash = await deps.redis.hgetall(k.deliveryHistory(destination, head));
  return {
    destination,
    waiting: length - 1,
    owned: owner === 1,
    held,
    heldRecords: heldList,
    head: {
      messageId: head,
      controlId: hash.controlId ?? '',
      status: hash.status ?? 'unknown',
      attempts: Number(hash.cycleAttempts ?? 0),
      ...(hash.lastOutcome ? { lastOutcome: hash.lastOutcome } : {}),
      ...(hash.lastAttemptAt ? { lastAttemptAt: hash.lastAttemptAt } : {}),
    },
  };
}
