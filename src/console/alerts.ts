/*
 * Alerts (issue 16 item 7, the page) and the audit lists. The alert runner of a worker keeps its firing state in its
 * own memory; this page evaluates the same conditions from Redis on each view, with the ids involved (which lane
 * head, which dead letters), so it shows the whole system whichever process serves it. The audit lists are the ones
 * the actions write (store/audit-log.ts); the trace list holds look-up keys (NHS numbers among them): operators only.
 */
import type { Router } from 'express';
import { listDeadLetters } from '../flows/delivery/dead-letters.js';
import { keyspace } from '../state/keys.js';
import { readAlertHistory } from '../ops/alert-history.js';
import { readLinkStatuses } from '../state/link-state.js';
import { readAudit, type AuditList } from '../state/audit-log.js';
import { html } from './html.js';
import { ago, badge, seesPhi, time } from './layout.js';
import { sendPage, viewerOf, type ConsoleContext } from './context.js';
import { destinationRows } from './queries.js';

interface Condition {
  readonly alert: string;
  readonly subject: string;
  readonly detail: string;
  readonly ids: readonly string[];
}

export function registerAlerts(router: Router, ctx: ConsoleContext): void {
  router.get('/console/alerts', async (_req, res) => {
    const rules = ctx.alerts;
    const now = Date.now();
    const conditions: Condition[] = [];
    const maxAge = (rules?.laneHeadMaxAgeSeconds ?? 300) * 1000;
    for (const { destination, lane, headAgeMs } of await destinationRows(ctx.redis, ctx.prefix, ctx.destinations, now)) {
      if (lane.head && headAgeMs !== undefined && headAgeMs > maxAge) {
        conditions.push({ alert: 'lane_head_stuck', subject: destination, detail: `head waiting ${ago(headAgeMs)}, ${lane.head.attempts} attempt(s)${lane.head.lastOutcome ? `, last ${lane.head.lastOutcome}` : ''}; ${lane.waiting} behind it`, ids: [`${lane.head.messageId} (MSH-10 ${lane.head.controlId})`] });
      }
    }
    for (const link of await readLinkStatuses(ctx.redis, ctx.prefix, ctx.destinations)) {
      if (link.state === 'refusing' || link.state === 'ack-timeouts' || link.state === 'rejecting') {
        conditions.push({ alert: `link_${link.state.replace('-', '_')}`, subject: link.destination, detail: `since ${link.since ?? '?'}${link.lastError ? `: ${link.lastError}` : ''}`, ids: [] });
      }
    }
    const dead = await listDeadLetters({ redis: ctx.redis, prefix: ctx.prefix }, { limit: 100_000 });
    if (dead.length > (rules?.deadLettersAbove ?? 0)) {
      conditions.push({ alert: 'dead_letters', subject: 'delivery', detail: `${dead.length} dead letter(s)`, ids: dead.slice(0, 20).map((d) => `${d.destination}/${d.messageId}`) });
    }
    const responseDead = await ctx.redis.zcount(keyspace(ctx.prefix).responseDeadLetters(), now - (rules?.deadLetterWindowHours ?? 24) * 3_600_000, '+inf');
    if (responseDead > 0) {
      conditions.push({ alert: 'dead_letters', subject: 'responses', detail: `${responseDead} response dead letter(s) in the window`, ids: await ctx.redis.zrevrange(keyspace(ctx.prefix).responseDeadLetters(), 0, 19) });
    }
    const redis = await ctx.redisDurability?.();
    if (redis && !redis.durable) {
      conditions.push({ alert: 'redis_not_durable', subject: 'redis', detail: `appendonly ${String(redis.aof)}, maxmemory-policy ${redis.evictionPolicy ?? '?'}`, ids: [] });
    }
    // Changes the worker's alert runner saw (firing and resolved), newest first (ops/alert-history.ts).
    const recent = await readAlertHistory(ctx.redis, ctx.prefix, 50);
    sendPage(
      res,
      'Alerts',
      '/console/alerts',
      html`${conditions.length === 0 ? html`<p class="notice ok">Nothing needs attention.</p>` : html`<table class="grid" id="alerts"><thead><tr><th>Alert</th><th>Subject</th><th>Now</th><th>Ids involved</th></tr></thead><tbody>
${conditions.map((c) => html`<tr><td>${badge('firing')} ${c.alert}</td><td>${c.subject}</td><td>${c.detail}</td><td>${c.ids.map((id) => html`<div><code>${id}</code></div>`)}</td></tr>`)}
</tbody></table>`}
<p class="muted">Evaluated ${time(new Date(now).toISOString())} from Redis with the configured thresholds (ALERT_* settings). Alert delivery to a webhook is ALERT_WEBHOOK_URL.</p>
<h2>Recent alerts</h2>
${recent.length === 0 ? html`<p class="muted">The alert runner has reported no change yet.</p>` : html`<table class="grid" id="alert-history"><thead><tr><th>When</th><th>Alert</th><th>Subject</th><th>Details (ids and counts)</th></tr></thead><tbody>
${recent.map((e) => html`<tr><td>${time(e.at)}</td><td>${badge(e.firing ? 'firing' : 'resolved')} ${e.alert}</td><td>${e.subject}</td><td>${Object.entries(e.details).map(([k, v]) => html`<span class="kv"><b>${k}</b> ${typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v)}</span> `)}</td></tr>`)}
</tbody></table>`}`,
      { refreshSeconds: 10 },
    );
  });

  router.get('/console/audit', async (_req, res) => {
    const viewer = viewerOf(res);
    const lists: Array<[AuditList, string]> = [
      ['deliveryAudit', 'Dead letters and reprocess'],
      ['responseAudit', 'Response dead letters'],
      ...(seesPhi(viewer) ? ([['traceAudit', 'Look-ups and patient data views']] as Array<[AuditList, string]>) : []),
    ];
    const sections = [];
    for (const [list, title] of lists) {
      const entries = ((await readAudit(ctx.redis, ctx.prefix, list, 100)) as Array<Record<string, unknown>>).reverse();
      sections.push(html`<h2>${title}</h2>${entries.length === 0 ? html`<p class="muted">Empty.</p>` : html`<table class="grid"><thead><tr><th>When</th><th>Who</th><th>What</th></tr></thead><tbody>
${entries.map((e) => html`<tr><td>${time(String(e.at ?? ''))}</td><td>${String(e.actor ?? '')}</td><td>${Object.entries(e).filter(([k]) => k !== 'at' && k !== 'actor').map(([k, v]) => html`<span class="kv"><b>${k}</b> ${String(v)}</span> `)}</td></tr>`)}
</tbody></table>`}`);
    }
    sendPage(res, 'Audit', '/console/audit', html`${sections}${seesPhi(viewer) ? '' : html`<p class="muted">The look-up audit names the patients looked up: operators only.</p>`}`);
  });
}
