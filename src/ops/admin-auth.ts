/*
 * Who may use the admin port, and how a browser on another site is kept out of it (issue 14 item 5).
 *
 * Credentials are named bearer tokens with a role: `viewer` reads (metrics, queues, trace), `operator` may also change
 * state (replay, drop, reprocess), `admin` is an operator with the console's admin pages. The audit actor is the credential's name — never a header the caller chooses.
 * `ADMIN_TOKEN` is one operator credential named `admin`; `ADMIN_TOKENS` lists `name:role:token`.
 *
 * A browser can be made to send requests here by any web page (the admin port is usually reachable from an ops
 * person's desktop): DNS rebinding points an attacker's host name at us, so the Host header must be ours; a
 * cross-site form or `fetch` with a CORS-simple content type (text/plain, form encodings) needs no preflight, so a
 * state-changing request must be JSON and, when the browser says where it comes from (Origin), from our own origin.
 */
import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { ADMIN_TOKEN_ENTRY } from '../config/schema.js';

/** `admin`: an operator who may also run the console's set-wide checks (mapping set reload check). */
export type AdminRole = 'viewer' | 'operator' | 'admin';

export interface AdminCredential {
  readonly name: string;
  readonly role: AdminRole;
  readonly token: string;
}


export function parseCredentials(token: string | undefined, entries: readonly string[]): AdminCredential[] {
  const out: AdminCredential[] = token ? [{ name: 'admin', role: 'operator', token }] : [];
  for (const entry of entries) {
    const m = ADMIN_TOKEN_ENTRY.exec(entry);
    if (m) {
      out.push({ name: m[1]!, role: m[2] as AdminRole, token: m[3]! });
    }
  }
  return out;
}

/** The credential a bearer token names, compared in constant time against every one (no early exit to time). */
export function credentialFor(credentials: readonly AdminCredential[], authorization: string | undefined): AdminCredential | undefined {
  const given = Buffer.from(/^Bearer (.+)$/.exec(authorization ?? '')?.[1] ?? '');
  let found: AdminCredential | undefined;
  for (const c of credentials) {
    const want = Buffer.from(c.token);
    if (given.length === want.length && timingSafeEqual(given, want)) {
      found ??= c;
    }
  }
  return found;
}

/** What the handlers may read about the caller (res.locals.admin). */
export interface AdminCaller {
  readonly actor: string;
  readonly role: AdminRole;
}

export const callerOf = (res: Response): AdminCaller => res.locals.admin as AdminCaller;

/**
 * Authenticates every request that reaches it. With no credentials configured (development and test only: production
 * refuses to start without one) the caller is `development`, an operator.
 */
export function authenticate(credentials: readonly AdminCredential[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (credentials.length === 0) {
      res.locals.admin = { actor: 'development', role: 'operator' } satisfies AdminCaller;
      next();
      return;
    }
    const c = credentialFor(credentials, req.headers.authorization);
    if (!c) {
      res.status(401).setHeader('WWW-Authenticate', 'Bearer realm="bars-bridge admin"').json({ error: 'admin credential required (Authorization: Bearer <token>)' });
      return;
    }
    res.locals.admin = { actor: c.name, role: c.role } satisfies AdminCaller;
    next();
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** State-changing requests need the operator role. */
export function requireOperatorForChanges() {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!SAFE_METHODS.has(req.method) && callerOf(res).role === 'viewer') {
      res.status(403).json({ error: `the ${callerOf(res).role} role may not change anything` });
      return;
    }
    next();
  };
}

/** Host names a request may name: loopback, any IP literal (no DNS, so no rebinding), and the configured ones. */
export function hostAllowed(hostHeader: string | undefined, allowed: readonly string[]): boolean {
  if (!hostHeader) {
    return false;
  }
  const host = hostHeader.startsWith('[') ? hostHeader.slice(1, hostHeader.indexOf(']')) : hostHeader.replace(/:\d+$/, '');
  const name = host.toLowerCase();
  return name === 'localhost' || isIP(name) !== 0 || allowed.some((a) => a.toLowerCase() === name);
}

const originHost = (origin: string): string | undefined => {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
};

/** DNS rebinding and cross-site requests: refused before anything else runs (healthz included). */
export function browserGuard(allowedHosts: readonly string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!hostAllowed(req.headers.host, allowedHosts)) {
      res.status(421).json({ error: 'this admin server does not answer for that host name (ADMIN_ALLOWED_HOSTS)' });
      return;
    }
    if (!SAFE_METHODS.has(req.method)) {
      // Browsers send Origin on every cross-origin request that is not a GET/HEAD; command-line clients send none.
      const origin = req.headers.origin;
      if (origin !== undefined && originHost(origin) !== req.headers.host) {
        res.status(403).json({ error: 'cross-origin request refused' });
        return;
      }
      const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      // The console's forms post form encodings: they carry a synchronizer CSRF token tied to a SameSite=Strict session
      // cookie and must name this origin in Origin (src/console/routes.ts), which a cross-site form cannot do.
      const consoleForm = req.path.startsWith('/console/') && type === 'application/x-www-form-urlencoded';
      if (hasBody && type !== 'application/json' && !consoleForm) {
        res.status(415).json({ error: 'state-changing admin requests carry application/json (a form or text/plain body could come from another site)' });
        return;
      }
    }
    next();
  };
}
