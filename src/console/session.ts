/*
 * Console sessions: a named credential (ADMIN_TOKEN / ADMIN_TOKENS, admin-auth.ts) typed once into the login form is
 * exchanged for a random session id in an httpOnly, SameSite=Strict cookie (Secure when the request came over TLS).
 * The session lives in Redis — web and worker processes, or several admin ports, share it — and expires when idle
 * (the key's TTL, renewed on use) and at an absolute age. The token itself is never stored.
 *
 * Keys: <p>:console:session:<sha256(session id)>  hash  actor, role, csrf, createdAt (ms); TTL = idle timeout.
 * The id is hashed in the key name, so a reader of Redis (or of a key listing) cannot take over a session.
 *
 * CSRF: a synchronizer token per session (hidden field `_csrf` in every state-changing form), compared in constant
 * time; the routes also require the browser's Origin to be this host (see routes.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AdminRole } from '../ops/admin-auth.js';
import { keyspace } from '../state/keys.js';

export const SESSION_COOKIE = 'bb_console';
/** Idle timeout: a session unused this long is gone. */
export const SESSION_IDLE_SECONDS = 30 * 60;
/** Absolute lifetime, however busy. */
export const SESSION_MAX_SECONDS = 12 * 3600;

export interface Session {
  readonly actor: string;
  readonly role: AdminRole;
  readonly csrf: string;
  readonly createdAt: number;
}

const sessionKey = (prefix: string, id: string): string => keyspace(prefix).consoleSession(createHash('sha256').update(id).digest('hex'));

export async function createSession(redis: Redis, prefix: string, who: { actor: string; role: AdminRole }, now = Date.now()): Promise<{ id: string; session: Session }> {
  const id = randomBytes(32).toString('base64url');
  const session: Session = { actor: who.actor, role: who.role, csrf: randomBytes(24).toString('base64url'), createdAt: now };
  const key = sessionKey(prefix, id);
  await redis.multi().hset(key, { ...session, createdAt: String(now) }).expire(key, SESSION_IDLE_SECONDS).exec();
  return { id, session };
}

/** The session an id names, renewing its idle timeout; undefined when unknown, idle too long or too old. */
export async function readSession(redis: Redis, prefix: string, id: string | undefined, now = Date.now()): Promise<Session | undefined> {
  if (!id || id.length > 100) {
    return undefined;
  }
  const key = sessionKey(prefix, id);
  const h = await redis.hgetall(key);
  if (!h.actor || !h.role || !h.csrf) {
    return undefined;
  }
  const createdAt = Number(h.createdAt);
  if (!(now - createdAt < SESSION_MAX_SECONDS * 1000)) {
    await redis.del(key);
    return undefined;
  }
  await redis.expire(key, SESSION_IDLE_SECONDS);
  return { actor: h.actor, role: h.role as AdminRole, csrf: h.csrf, createdAt };
}

export async function deleteSession(redis: Redis, prefix: string, id: string | undefined): Promise<void> {
  if (id) {
    await redis.del(sessionKey(prefix, id));
  }
}

export function csrfMatches(session: Session, given: unknown): boolean {
  if (typeof given !== 'string') {
    return false;
  }
  const a = Buffer.from(given);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Cookie header → the value of one cookie (no dependency for one name). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      return decodeURIComponent(part.slice(eq + 1).trim());
    }
  }
  return undefined;
}

export function sessionCookie(id: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MAX_SECONDS}${secure ? '; Secure' : ''}`;
}

export const clearedCookie = (secure: boolean): string => `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
