/*
 * PAS events and BaRS responses (issue 16 item 5): recent PAS events with the record each changed; the ones that
 * changed nothing (no rule for the message type, or no record of ours) with that reason; responses per conversation
 * in flight with their proxy outcome and retries; response dead letters with replay / drop (as
 * `bars-bridge response-dead-letters`).
 */
import type { Router } from 'express';
import { listKeptEvents } from '../flows/pas-events/kept.js';
import { recordEvents } from '../flows/pas-events/processor.js';
import { dropResponseDeadLetter, listResponseDeadLetters, replayResponseDeadLetter } from '../flows/responses/dead-letters.js';
import { createResponseQueue } from '../flows/responses/queue.js';
import { ResponseStore } from '../state/response-store.js';
import { html } from './html.js';
import { badge, csrfField, notice, reasonField, seesPhi, time } from './layout.js';
import { field, reasonOr400, requireRole, sendPage, viewerOf, type ConsoleContext } from './context.js';

/** Messages looked at for recent PAS events (the events live per record; the receipt index finds recent records). */
const RECENT_MESSAGES = 200;

export function registerEvents(router: Router, ctx: ConsoleContext): void {
  router.get('/console/events', async (_req, res) => {
    const viewer = viewerOf(res);
    const retentionDays = ctx.pasEventsRetentionDays ?? 30;
    const kept = await listKeptEvents(ctx.redis, ctx.prefix, { now: Date.now(), retentionMs: retentionDays * 86_400_000, limit: 100 });
    const recentIds = await ctx.redis.zrevrange(ctx.store.keys.messages(), 0, RECENT_MESSAGES - 1);
    const records = new Map<string, { type: 'ServiceRequest' | 'Appointment'; id: string; reference: string | undefined; messageId: string }>();
    for (const id of recentIds) {
      const m = await ctx.store.getMessage(id);
      if (m && !records.has(`${m.recordType}/${m.recordId}`)) {
        records.set(`${m.recordType}/${m.recordId}`, { type: m.recordType, id: m.recordId, reference: m.reference, messageId: m.id });
      }
    }
    const applied = [];
    for (const r of records.values()) {
      for (const e of await recordEvents(ctx.store, r.type, r.id)) {
        applied.push({ ...e, reference: r.reference, messageId: r.messageId });
      }
    }
    applied.sort((a, b) => b.at.localeCompare(a.at));
    const responses = new ResponseStore(ctx.store);
    const lanes = (await responses.lanes()).slice(0, 100);
    const inFlight = [];
    for (const correlationId of lanes) {
      const head = await responses.laneHead(correlationId);
      const r = head ? await responses.get(head) : undefined;
      const waiting = await ctx.redis.llen(ctx.store.keys.responseLane(correlationId));
      if (r) {
        inFlight.push({ correlationId, r, waiting });
      }
    }
    const dead = await listResponseDeadLetters(ctx.store, 100);
    const phi = seesPhi(viewer);
    sendPage(
      res,
      'PAS events & responses',
      '/console/events',
      html`<h2>Recent PAS events that changed a record</h2>
${applied.length === 0 ? html`<p class="muted">None among the records of the last ${RECENT_MESSAGES} messages.</p>` : html`<table class="grid"><thead><tr><th>When</th><th>Rule</th><th>Change</th><th>Record</th><th>PAS MSH-10</th></tr></thead><tbody>
${applied.slice(0, 50).map((e) => html`<tr><td>${time(e.at)}</td><td>${e.rule}</td><td>${e.from ?? '-'} → ${badge(e.to)}</td><td><a href="/console/messages/${e.messageId}">${e.reference ?? `${e.recordType}/${e.recordId}`}</a></td><td><code>${e.pasControlId}</code></td></tr>`)}
</tbody></table>`}
<h2>PAS events that changed nothing (last ${retentionDays} days)</h2>
${kept.length === 0 ? html`<p class="muted">None.</p>` : html`<table class="grid"><thead><tr><th>Kept</th><th>Why</th><th>Type</th><th>Sender</th><th>MSH-10</th><th>Event</th></tr></thead><tbody>
${kept.map((e) => html`<tr><td>${time(e.keptAt)}</td><td>${badge(e.kind)} <small>${e.kind === 'no-rule' ? 'no rule for this message type' : 'names no record of ours'}</small></td><td>${e.messageType}</td><td>${e.sender}</td><td><code>${e.controlId}</code></td><td><small>${e.eventId}</small></td></tr>`)}
</tbody></table>`}
<h2>Responses in flight, per conversation</h2>
${inFlight.length === 0 ? html`<p class="muted">Nothing waiting to be sent.</p>` : html`<table class="grid"><thead><tr><th>Conversation (X-Correlation-Id)</th><th>Head response</th><th>Kind</th><th>State</th><th>Attempts</th><th>Last proxy answer</th><th>Waiting</th></tr></thead><tbody>
${inFlight.map(({ correlationId, r, waiting }) => html`<tr><td><code>${correlationId}</code></td><td><a href="/console/messages/${r.messageId}"><code>${r.id}</code></a></td><td>${r.kind}</td><td>${badge(r.state)}</td><td class="num">${r.attempts}</td><td>${r.lastStatus ?? '-'}${phi && r.lastReason ? html` <small>${r.lastReason}</small>` : ''}</td><td class="num">${waiting}</td></tr>`)}
</tbody></table>`}
<h2>Response dead letters</h2>
${dead.length === 0 ? html`<p class="muted">None.</p>` : html`<table class="grid"><thead><tr><th>Response</th><th>Kind</th><th>Why</th><th>Last HTTP</th><th>Attempts</th><th>When</th>${phi ? html`<th>Act</th>` : ''}</tr></thead><tbody>
${dead.map((d) => html`<tr><td><a href="/console/messages/${d.messageId}"><code>${d.responseId}</code></a></td><td>${d.kind}</td><td>${d.deadReason ?? '-'}</td><td>${d.lastStatus ?? '-'}</td><td class="num">${d.attempts}</td><td>${time(d.at)}</td>
${phi ? html`<td><form method="post" action="/console/responses/act" class="inline">${csrfField(viewer)}<input type="hidden" name="responseId" value="${d.responseId}">
<select name="action"><option value="same">replay as sent</option><option value="rebuild">replay rebuilt (new X-Request-Id)</option><option value="drop">drop</option></select> ${reasonField()} <button>Go</button></form></td>` : ''}</tr>`)}
</tbody></table>`}`,
    );
  });

  router.post('/console/responses/act', requireRole('operator'), async (req, res) => {
    const viewer = viewerOf(res);
    const responseId = field(req.body, 'responseId') ?? '';
    const action = field(req.body, 'action');
    const reason = reasonOr400(req, res, '/console/events');
    if (!reason) {
      return;
    }
    try {
      if (action === 'drop') {
        await dropResponseDeadLetter(ctx.store, responseId, { actor: viewer.actor, reason });
        sendPage(res, 'Response dropped', '/console/events', html`${notice('ok', `Dropped response ${responseId}.`)}<p><a href="/console/events">Back</a></p>`);
      } else {
        const queue = createResponseQueue(ctx.redis, ctx.prefix);
        try {
          const requestId = await replayResponseDeadLetter({ store: ctx.store, queue }, responseId, { actor: viewer.actor, mode: action === 'rebuild' ? 'rebuild' : 'same', reason });
          sendPage(res, 'Response replayed', '/console/events', html`${notice('ok', `Response ${responseId} queued again with X-Request-Id ${requestId}.`)}<p><a href="/console/events">Back</a></p>`);
        } finally {
          await queue.close();
        }
      }
    } catch (err) {
      sendPage(res, 'Not done', '/console/events', notice('error', (err as Error).message), { status: 409 });
    }
  });
}
