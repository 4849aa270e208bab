/*
 * The state of each destination's link, as the lane owner last saw it, kept in Redis so that any process (the web
 * process's console and /readyz, the worker's own /metrics) shows what the worker sees.
 *
 *   connected     the last attempt was acknowledged AA/CA (or the file was written)
 *   refusing      connecting failed (refused, reset, timed out; for a file drop, the write failed) since `since`
 *   ack-timeouts  the message went out but no usable ACK came back (none within the ACK timeout, or an ACK whose
 *                 MSA-2 is not our MSH-10): the PAS may have applied it, so it is resent with the same MSH-10
 *   rejecting     the PAS answered AE/AR/CE/CR (HL7 table 0008)
 *   idle          connected, but nothing was attempted for IDLE_AFTER_MS (derived when read, never stored)
 *   unknown       nothing recorded yet (no message since the key expired, or never)
 *
 * Recording costs no extra round trip on the delivery path: a delivered batch is recorded by the lane's step script
 * (lane-store.ts, which includes LINK_LUA), a failed attempt by the MULTI that already records the attempt
 * (lanes.ts), and a keep-alive reconnect of an idle link (mllp-client.ts) by one call per reconnect attempt, which
 * the reconnect backoff paces.
 *
 * Keys (families `link` and `linkDelivered` of the key table, keys.ts; built inside the scripts like lane-store.ts's, so
 * a hash-tagged prefix keeps them in one Cluster slot):
 *   <p>:link:<destination>              hash    state, since, lastAttemptAt, lastAckCode, lastAckText, lastAckAt,
 *                                               lastError; expires LINK_TTL_SECONDS after the last write
 *   <p>:link:<destination>:dlv:<minute> string  messages delivered (AA/CA/written) in that minute since the epoch;
 *                                               expires BUCKET_TTL_SECONDS after its first write (≤ 62 per lane)
 *
 * What of the PAS's words we keep. MSA-3 (and ERR text, which a PAS may copy there) is free text the PAS writes, and
 * some PASs echo the message back ("Patient 9434765919 SMITH not found"), so it can carry PHI. It is also what tells
 * an ops person a mapping problem ("Unknown clinic code") from a PAS problem ("Record locked"), so it is kept, but:
 * screened (control characters out, runs of 6+ digits — NHS numbers, dates of birth, hospital numbers — masked,
 * clipped to ACK_TEXT_MAX), and only returned when the reader asks for it (`ackText: true`: the console does so for
 * roles allowed to see PHI; /readyz and /metrics never do). The screen cannot catch a name, hence the second guard.
 * The message's own delivery history already holds the same text (history.ts), so Redis holds nothing new.
 * `lastError` is composed here from the failure kind and the socket error code only, never from a message text.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { keyspace, luaKeyFunctions } from './keys.js';

export type LinkState = 'connected' | 'refusing' | 'ack-timeouts' | 'rejecting' | 'idle' | 'unknown';

export interface LinkStatus {
  destination: string;
  state: LinkState;
  /** ISO time the state was entered (for idle: the last attempt). */
  since?: string;
  /** The last acknowledgement: MSA-1 and, only when asked for, the screened MSA-3 text. */
  lastAck?: { code: string; text?: string; at: string };
  /** The last failure's kind and socket error code (e.g. `connection ECONNREFUSED`); no PHI. Cleared on success. */
  lastError?: string;
  /** ISO time of the last attempt (or reconnect attempt). */
  lastAttemptAt?: string;
  delivered5m: number;
  delivered1h: number;
}

/** Recorded states (idle and unknown are derived when read). */
export type RecordedLinkState = Exclude<LinkState, 'idle' | 'unknown'>;

/** A connected link with no attempt for this long reads as idle. */
export const IDLE_AFTER_MS = 5 * 60_000;
/** A link hash lives this long after its last write (a destination removed from config fades away). */
export const LINK_TTL_SECONDS = 30 * 86_400;
/** A minute bucket outlives the hour it is summed into. */
export const BUCKET_TTL_SECONDS = 62 * 60;
/** Longest MSA-3 text kept. */
export const ACK_TEXT_MAX = 80;

export const linkKey = (prefix: string, destination: string): string => keyspace(prefix).link(destination);
export const deliveredBucketKey = (prefix: string, destination: string, minute: number): string => keyspace(prefix).linkDelivered(destination, String(minute));

/**
 * Lua: `linkRecord(p, dest, state, at, atMs, code, text, err, delivered, onlyFrom)` records one observation.
 * `since` moves only when the state changes; `code` '' keeps the last ACK; `err` '' clears the last error;
 * `delivered` > 0 adds to the current minute's bucket; `onlyFrom` (when not '') applies the change only while the
 * recorded state is that one (a background reconnect may end `refusing`, never overrule `ack-timeouts`).
 */
export const LINK_LUA = `
${luaKeyFunctions(['link', 'linkDelivered'])}
local function linkRecord(p, dest, state, at, atMs, code, text, err, delivered, onlyFrom)
  local key = key_link(p, dest)
  local prev = redis.call('HGET', key, 'state')
  if onlyFrom ~= '' and prev ~= onlyFrom then return 0 end
  if prev ~= state then redis.call('HSET', key, 'state', state, 'since', at) end
  redis.call('HSET', key, 'lastAttemptAt', at)
  if code ~= '' then redis.call('HSET', key, 'lastAckCode', code, 'lastAckText', text, 'lastAckAt', at) end
  if err ~= '' then redis.call('HSET', key, 'lastError', err) else redis.call('HDEL', key, 'lastError') end
  redis.call('EXPIRE', key, ${LINK_TTL_SECONDS})
  if delivered > 0 then
    local bucket = key_linkDelivered(p, dest, string.format('%d', math.floor(atMs / 60000)))
    if redis.call('INCRBY', bucket, delivered) == delivered then redis.call('EXPIRE', bucket, ${BUCKET_TTL_SECONDS}) end
  end
  return 1
end
`;

/** ARGV: prefix, destination, state, at (ISO), at (ms), code, text, error, delivered, onlyFrom. */
const RECORD = `${LINK_LUA}
return linkRecord(ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10])
`;

/** One observation of a link. */
export interface LinkObservation {
  readonly state: RecordedLinkState;
  readonly at: Date;
  /** MSA-1, when an acknowledgement came back. */
  readonly ackCode?: string;
  /** MSA-3 as received; screened here before it is stored. */
  readonly ackText?: string;
  /** Failure kind and code (linkError builds it). */
  readonly error?: string;
  /** Messages delivered by this observation. */
  readonly delivered?: number;
  /** Apply only while the recorded state is this one. */
  readonly onlyFrom?: RecordedLinkState;
}

type WithRecord = { barsLinkRecord(...args: string[]): Promise<number> };

/** Registers the recording script on a connection (before a MULTI that uses it is begun: see recordLinkIn). */
export function defineLinkCommands(target: Redis): void {
  if (typeof (target as unknown as Partial<WithRecord>).barsLinkRecord !== 'function') {
    target.defineCommand('barsLinkRecord', { numberOfKeys: 0, lua: RECORD });
  }
}

function recordArgs(prefix: string, destination: string, o: LinkObservation): string[] {
  return [
    prefix,
    destination,
    o.state,
    o.at.toISOString(),
    String(o.at.getTime()),
    o.ackCode ?? '',
    o.ackCode ? screenAckText(o.ackText) : '',
    o.error ?? '',
    String(o.delivered ?? 0),
    o.onlyFrom ?? '',
  ];
}

/** Records one observation on its own (one round trip). */
export async function recordLink(redis: Redis, prefix: string, destination: string, o: LinkObservation): Promise<void> {
  defineLinkCommands(redis);
  await (redis as unknown as WithRecord).barsLinkRecord(...recordArgs(prefix, destination, o));
}

/**
 * Adds the recording of one observation to a MULTI or pipeline that is being built anyway (the failed-attempt write
 * in lanes.ts), so it costs no round trip of its own. A chain begun on a connection where defineLinkCommands ran
 * sends EVALSHA; otherwise the script text goes along (EVAL).
 */
export function recordLinkIn(chain: ChainableCommander, prefix: string, destination: string, o: LinkObservation): ChainableCommander {
  const args = recordArgs(prefix, destination, o);
  const defined = (chain as unknown as Partial<Record<string, (...a: string[]) => ChainableCommander>>).barsLinkRecord;
  return typeof defined === 'function' ? defined.apply(chain, args) : chain.eval(RECORD, 0, ...args);
}

/**
 * The STEP script's extra arguments for a delivered batch: code and screened text of the last ACK ('' for a file
 * drop, which has none).
 */
export function deliveredLinkArgs(lastAck: { code: string; text?: string | undefined } | undefined): [code: string, text: string] {
  return lastAck ? [lastAck.code, screenAckText(lastAck.text)] : ['', ''];
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;
/** Six or more digits, allowing the spaces, dashes, dots and slashes NHS numbers and dates are written with. */
const DIGIT_RUN = /\d(?:[\s./-]?\d){5,}/g;

/**
 * MSA-3 text fit to keep: control characters replaced by a space, runs of six or more digits masked, whitespace
 * collapsed, clipped to ACK_TEXT_MAX characters. Not a guarantee of no PHI (see the file header).
 */
export function screenAckText(text: string | undefined): string {
  if (!text) {
    return '';
  }
  const screened = text.replace(CONTROL, ' ').replace(DIGIT_RUN, '#').replace(/\s+/g, ' ').trim();
  return screened.length > ACK_TEXT_MAX ? `${screened.slice(0, ACK_TEXT_MAX - 1)}…` : screened;
}

/** What becomes `lastError`: a failure kind and, for a socket failure, its error code (`ECONNREFUSED`). */
export function linkError(kind: string, code?: string): string {
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32);
  return code ? `${safe(kind)} ${safe(code)}` : safe(kind);
}

/** The state a failed attempt puts the link in, from the failure kind (errors.ts) or the negative ACK code. */
export function failureState(failure: { kind: string } | undefined, ackCode: string | undefined): RecordedLinkState {
  if (ackCode !== undefined) {
    return ackCode === 'AA' || ackCode === 'CA' ? 'connected' : 'rejecting';
  }
  switch (failure?.kind) {
    case 'ack-timeout':
    case 'ack-mismatch':
      return 'ack-timeouts';
    default:
      // connection, file-write, and anything unforeseen: nothing reached the PAS's application.
      return 'refusing';
  }
}

/** The last minute buckets summed into delivered5m and delivered1h (the current, partly-elapsed minute included). */
const WINDOW_5M = 5;
const WINDOW_1H = 60;

/**
 * Reads every destination's link status in one round trip.
 * @param options.ackText - include the screened MSA-3 text (only for readers allowed to see PHI; default false).
 * @param options.now - clock (tests).
 */
export async function readLinkStatuses(
  redis: Redis,
  prefix: string,
  destinations: readonly string[],
  options: { readonly ackText?: boolean; readonly now?: number } = {},
): Promise<LinkStatus[]> {
  if (destinations.length === 0) {
    return [];
  }
  const now = options.now ?? Date.now();
  const minute = Math.floor(now / 60_000);
  const pipeline = redis.pipeline();
  for (const destination of destinations) {
    pipeline.hgetall(linkKey(prefix, destination));
    pipeline.mget(Array.from({ length: WINDOW_1H }, (_, i) => deliveredBucketKey(prefix, destination, minute - i)));
  }
  const replies = (await pipeline.exec()) ?? [];
  return destinations.map((destination, i) => {
    const [hashErr, hashReply] = replies[2 * i] ?? [];
    const [bucketErr, bucketReply] = replies[2 * i + 1] ?? [];
    if (hashErr || bucketErr) {
      throw hashErr ?? bucketErr;
    }
    const hash = (hashReply ?? {}) as Record<string, string>;
    const buckets = ((bucketReply ?? []) as Array<string | null>).map((v) => Number(v ?? 0) || 0);
    const delivered5m = buckets.slice(0, WINDOW_5M).reduce((a, b) => a + b, 0);
    const delivered1h = buckets.reduce((a, b) => a + b, 0);
    const recorded = hash.state as RecordedLinkState | undefined;
    if (!recorded) {
      return { destination, state: 'unknown', delivered5m, delivered1h };
    }
    const lastAttempt = hash.lastAttemptAt ? Date.parse(hash.lastAttemptAt) : NaN;
    const idle = recorded === 'connected' && Number.isFinite(lastAttempt) && now - lastAttempt > IDLE_AFTER_MS;
    const status: LinkStatus = {
      destination,
      state: idle ? 'idle' : recorded,
      delivered5m,
      delivered1h,
    };
    const since = idle ? hash.lastAttemptAt : hash.since;
    if (since) {
      status.since = since;
    }
    if (hash.lastAckCode && hash.lastAckAt) {
      status.lastAck = { code: hash.lastAckCode, at: hash.lastAckAt, ...(options.ackText && hash.lastAckText ? { text: hash.lastAckText } : {}) };
    }
    if (hash.lastError) {
      status.lastError = hash.lastError;
    }
    if (hash.lastAttemptAt) {
      status.lastAttemptAt = hash.lastAttemptAt;
    }
    return status;
  });
}
