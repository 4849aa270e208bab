/*
 * The PAS diary (issue 17) as ops see it: how fresh the mirror is per clinic (the last scheduling message from the
 * PAS and the last real-time slot query answered) and the booking conflicts the mirror could not prevent — bookings
 * the PAS refused and PAS bookings on time one of ours holds. Ids, times and codes only: a viewer may see it.
 */
import type { Router } from 'express';
import { diarySeen, listDiaryConflicts } from '../flows/diary/diary.js';
import { html } from './html.js';
import { ago, badge, time } from './layout.js';
import { sendPage, type ConsoleContext } from './context.js';

export function registerDiary(router: Router, ctx: ConsoleContext): void {
  router.get('/console/diary', async (_req, res) => {
    const now = Date.now();
    const [seen, conflicts] = await Promise.all([diarySeen(ctx.redis, ctx.prefix), listDiaryConflicts(ctx.redis, ctx.prefix, { limit: 100 })]);
    const services = [...seen.entries()].sort(([a], [b]) => a.localeCompare(b));
    sendPage(
      res,
      'PAS diary',
      '/console/diary',
      html`<h2>Mirror age per clinic</h2>
${services.length === 0 ? html`<p class="muted">No PAS scheduling message or slot query yet: GET /Slot knows only the bookings made through us.</p>` : html`<table class="grid" id="diary-age"><thead><tr><th>HealthcareService</th><th>Last PAS scheduling message</th><th>Last real-time query answered</th></tr></thead><tbody>
${services.map(([hcs, s]) => html`<tr><td><code>${hcs}</code></td><td>${s.feed ? html`${ago(now - s.feed)} ago <small>${time(new Date(s.feed).toISOString())}</small>` : 'never'}</td><td>${s.query ? html`${ago(now - s.query)} ago <small>${time(new Date(s.query).toISOString())}</small>` : 'never'}</td></tr>`)}
</tbody></table>`}
<h2>Booking conflicts</h2>
${conflicts.length === 0 ? html`<p class="notice ok">No booking conflicts.</p>` : html`<table class="grid" id="diary-conflicts"><thead><tr><th>When</th><th>Kind</th><th>Clinic</th><th>Slot start</th><th>Our Appointment(s)</th><th>PAS appointment</th><th>MSH-10</th><th>Reason</th></tr></thead><tbody>
${conflicts.map((c) => html`<tr><td>${time(c.at)}</td><td>${badge(c.kind)}</td><td><code>${c.healthcareService ?? '-'}</code></td><td>${c.slotStart ?? '-'}</td><td>${c.appointments.map((a) => html`<div><code>${a}</code></div>`)}${c.messageId ? html`<div><a href="/console/messages/${c.messageId}">message</a></div>` : ''}</td><td><code>${c.pasAppointment ?? '-'}</code></td><td><code>${c.controlId ?? '-'}</code></td><td>${c.reason}</td></tr>`)}
</tbody></table>`}
<p class="muted">Also: <code>bars-bridge diary conflicts</code>, <code>bars-bridge diary status</code>, the metric bars_bridge_diary_age_seconds and the diary_feed_stale / diary_conflicts alerts.</p>`,
      { refreshSeconds: 15 },
    );
  });
}
