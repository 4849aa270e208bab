/* What every console page handler gets: the shared Redis state, the deployment's settings, and the caller. */
import type { NextFunction, Request, Response } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging.js';
import type { AdminCredential, AdminRole } from '../ops/admin-auth.js';
import type { MessageStore } from '../state/message-store.js';
import type { Config } from '../config/schema.js';
import { atLeast, notice, page, type Viewer } from './layout.js';
import { html } from './html.js';

export interface ConsoleContext {
  readonly redis: Redis;
  readonly store: MessageStore;
  readonly prefix: string;
  readonly destinations: readonly string[];
  readonly credentials: readonly AdminCredential[];
  readonly log: Logger;
  /** Mappings directory (the console loads the set on disk, as the CLI does: reprocess uses the current mappings). */
  readonly mappingsDir?: string;
  /** How long unmatched / no-rule PAS events are listed. */
  readonly pasEventsRetentionDays?: number;
  readonly alerts?: Config['alerts'];
  /** Redis persistence settings (admin.ts's redisDurability, handed in: the console sits below the admin server). */
  readonly redisDurability?: () => Promise<{ readonly durable: boolean; readonly aof: boolean | undefined; readonly evictionPolicy: string | undefined }>;
}

export const viewerOf = (res: Response): Viewer => res.locals.console as Viewer;

export function sendPage(res: Response, title: string, current: string, body: ReturnType<typeof html>, options: { status?: number; refreshSeconds?: number } = {}): void {
  res.status(options.status ?? 200).type('html').setHeader('Cache-Control', 'no-store');
  res.send(page(viewerOf(res), title, current, body, options));
}

/** Refuses (403, said in the page) a caller below `role` — the server refuses, not only the buttons hidden. */
export function requireRole(role: AdminRole) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    const viewer = viewerOf(res);
    if (!atLeast(viewer.role, role)) {
      sendPage(res, 'Not allowed', '', html`<p class="notice error">The ${viewer.role} role may not do this (it needs ${role}): it shows ids and states only, without patient data, and changes nothing.</p>`, { status: 403 });
      return;
    }
    next();
  };
}

/** A string form/query field, trimmed, bounded; undefined when empty. */
/**
 * The reason every action carries (it goes to the audit log with the actor), or undefined after answering 400 in the
 * page `current` when the form had none.
 */
export function reasonOr400(req: Request, res: Response, current: string): string | undefined {
  const reason = field(req.body, 'reason');
  if (!reason) {
    sendPage(res, 'Reason required', current, notice('error', 'Every action needs a reason (it goes to the audit log).'), { status: 400 });
  }
  return reason;
}

export function field(source: unknown, name: string, max = 200): string | undefined {
  const v = (source as Record<string, unknown> | undefined)?.[name];
  if (typeof v !== 'string') {
    return undefined;
  }
  const t = v.trim();
  return t === '' ? undefined : t.slice(0, max);
}
