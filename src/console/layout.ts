/*
 * The page shell every console page shares: navigation, who is logged in, the CSS and htmx (both served from this
 * port: no CDN), and small pieces (status badges, times, forms that carry the CSRF token).
 */
import { html, raw, type Html } from './html.js';
import type { AdminRole } from '../ops/admin-auth.js';

/** The logged-in caller as the pages see it. */
export interface Viewer {
  readonly actor: string;
  readonly role: AdminRole;
  readonly csrf: string;
  /** A login exists (credentials configured): show the logout button. */
  readonly loggedIn: boolean;
}

const RANK: Record<AdminRole, number> = { viewer: 0, operator: 1, admin: 2 };
export const atLeast = (role: AdminRole, wanted: AdminRole): boolean => RANK[role] >= RANK[wanted];
/** Operators and admins see PHI (Bundles, HL7, ACK texts) and act; viewers see ids and states. */
export const seesPhi = (v: Pick<Viewer, 'role'>): boolean => atLeast(v.role, 'operator');

const NAV: ReadonlyArray<readonly [string, string]> = [
  ['/console/', 'Destinations'],
  ['/console/messages', 'Messages'],
  ['/console/dead-letters', 'Dead letters'],
  ['/console/events', 'PAS events & responses'],
  ['/console/mappings', 'Mappings'],
  ['/console/diary', 'PAS diary'],
  ['/console/alerts', 'Alerts'],
  ['/console/audit', 'Audit'],
];

export function page(viewer: Viewer | undefined, title: string, current: string, body: Html, options: { refreshSeconds?: number } = {}): string {
  const nav = viewer
    ? html`<nav>${NAV.map(([href, label]) => html`<a href="${href}"${current === href ? raw(' aria-current="page"') : ''}>${label}</a>`)}
      <span class="who">${viewer.actor} <span class="role role-${viewer.role}">${viewer.role}</span>
      ${viewer.loggedIn ? html`<form method="post" action="/console/logout" class="inline">${csrfField(viewer)}<button class="link">Log out</button></form>` : ''}</span></nav>`
    : '';
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · bars-bridge</title>
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/htmx.min.js" defer></script>
${options.refreshSeconds ? html`<noscript><meta http-equiv="refresh" content="${options.refreshSeconds}"></noscript>` : ''}
</head><body>
<header><a class="brand" href="/console/">bars-bridge</a>${nav}</header>
<main><h1>${title}</h1>${body}</main>
</body></html>`.text;
}

export const csrfField = (viewer: Pick<Viewer, 'csrf'>): Html => html`<input type="hidden" name="_csrf" value="${viewer.csrf}">`;

const GOOD = new Set(['connected', 'delivered', 'responded', 'duplicate-delivered', 'applied', 'ok', 'AA', 'CA']);
const BAD = new Set(['refusing', 'ack-timeouts', 'rejecting', 'dead-lettered', 'dead-letter', 'failed', 'firing', 'AR', 'CR', 'AE', 'CE', 'held', 'pas-refused', 'pas-clash']);
const WARN = new Set(['retrying', 'sending', 'queued', 'mapped', 'accepted', 'idle', 'would replay', 'would drop', 'no-rule', 'no-record']);

/** A coloured state label: green good, red bad, amber in between, grey unknown. */
export function badge(state: string | undefined): Html {
  const s = state ?? 'unknown';
  const tone = GOOD.has(s) ? 'good' : BAD.has(s) ? 'bad' : WARN.has(s) ? 'warn' : 'none';
  return html`<span class="badge ${tone}" data-state="${s}">${s}</span>`;
}

export function ago(ms: number | undefined): string {
  if (ms === undefined || Number.isNaN(ms)) {
    return '-';
  }
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 172_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`;
}

/** An ISO time shown short, with the full value on hover. */
export const time = (iso: string | undefined): Html => (iso ? html`<time datetime="${iso}" title="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>` : html`-`);

export const notice = (kind: 'ok' | 'error' | 'info', text: string | Html): Html => html`<p class="notice ${kind}">${text}</p>`;

/** Reason input every action form carries (required: actions are audited with a reason). */
export const reasonField = (placeholder = 'reason (kept in the audit log)'): Html =>
  html`<input name="reason" required minlength="3" maxlength="200" placeholder="${placeholder}">`;
