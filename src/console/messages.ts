/*
 * Message browser (issue 16 item 3): search by our reference, NHS number, MSH-10, X-Request-Id, Bundle id, message or
 * record id, date range, workflow, status and destination, paginated; and one message: its timeline (received →
 * mapped → each attempt with its ACK → responses sent → PAS events), the Bundle, each rendered HL7 message, the ACKs,
 * the BaRS responses, and its actions (item 4).
 *
 * PHI: a viewer sees ids and states only; an NHS number search, the Bundle, the HL7 and the ACK texts need the
 * operator role (the server refuses, whatever the page shows). Each PHI view and each NHS number search is written
 * to the trace audit list (trace.ts) with the credential's name.
 */
import type { Router } from 'express';
import { WORKFLOWS } from '../protocol/bars/types.js';
import { keyspace } from '../state/keys.js';
import { audit as auditLookup, traceMessage } from '../ops/trace.js';
import { recordEvents } from '../flows/pas-events/processor.js';
import { html, type Html } from './html.js';
import { badge, csrfField, notice, reasonField, seesPhi, time } from './layout.js';
import { MESSAGE_STATUSES, messageRow, NHS_NUMBER, responsesOf, searchMessages, type MessageFilter, type MessageStatus } from './queries.js';
import { field, reasonOr400, requireRole, sendPage, viewerOf, type ConsoleContext } from './context.js';
import { dropOne, replayOne, reprocessKey } from './actions.js';
import { hl7Html, jsonTree } from './hl7-view.js';

const date = (v: string | undefined): Date | undefined => {
  if (!v) {
    return undefined;
  }
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
};

const option = (value: string, current: string | undefined, label = value): Html => html`<option value="${value}"${value === current ? html` selected` : ''}>${label}</option>`;

function searchForm(ctx: ConsoleContext, q: Record<string, string | undefined>): Html {
  return html`<form method="get" action="/console/messages" class="filters">
  <label>Find <input name="key" value="${q.key ?? ''}" placeholder="reference, NHS number, MSH-10, X-Request-Id, Bundle id" size="44"></label>
  <label>From <input type="datetime-local" name="from" value="${q.from ?? ''}"></label>
  <label>To <input type="datetime-local" name="to" value="${q.to ?? ''}"></label>
  <label>Workflow <select name="workflow">${option('', q.workflow, 'any')}${WORKFLOWS.map((w) => option(w, q.workflow))}</select></label>
  <label>Status <select name="status">${option('', q.status, 'any')}${MESSAGE_STATUSES.map((s) => option(s, q.status))}</select></label>
  <label>Destination <select name="destination">${option('', q.destination, 'any')}${ctx.destinations.map((d) => option(d, q.destination))}</select></label>
  <button>Search</button>
</form>`;
}

export function registerMessages(router: Router, ctx: ConsoleContext): void {
  router.get('/console/messages', async (req, res) => {
    const viewer = viewerOf(res);
    const q = Object.fromEntries(['key', 'from', 'to', 'workflow', 'status', 'destination', 'before'].map((k) => [k, field(req.query, k)]));
    const key = q.key;
    if (key && NHS_NUMBER.test(key) && !seesPhi(viewer)) {
      // Whether a patient has referrals here is itself patient data.
      sendPage(res, 'Messages', '/console/messages', html`${searchForm(ctx, q)}${notice('error', 'Searching by NHS number needs the operator role.')}`, { status: 403 });
      return;
    }
    if (key && NHS_NUMBER.test(key)) {
      await auditLookup(ctx.redis, ctx.prefix, viewer.actor, key);
    }
    const filter: MessageFilter = {
      ...(key ? { key } : {}),
      ...(date(q.from) ? { from: date(q.from)! } : {}),
      ...(date(q.to) ? { to: date(q.to)! } : {}),
      ...(q.workflow ? { workflow: q.workflow } : {}),
      ...(q.status && (MESSAGE_STATUSES as readonly string[]).includes(q.status) ? { status: q.status as MessageStatus } : {}),
      ...(q.destination ? { destination: q.destination } : {}),
      ...(q.before && /^\d+$/.test(q.before) ? { before: Number(q.before) } : {}),
    };
    const result = await searchMessages(ctx.store, filter);
    const nextQuery = result.next === undefined ? undefined : new URLSearchParams({ ...Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as Record<string, string>, before: String(result.next) });
    sendPage(
      res,
      'Messages',
      '/console/messages',
      html`${searchForm(ctx, q)}
${result.rows.length === 0 ? html`<p class="muted">No message matches${key ? html` <code>${key}</code>` : ''}.</p>` : html`<table class="grid" id="messages"><thead><tr><th>Received</th><th>Message</th><th>Workflow</th><th>Reference</th><th>Status</th><th>Outputs</th></tr></thead><tbody>
${result.rows.map((r) => html`<tr data-message="${r.messageId}"><td>${time(r.receivedAt)}</td><td><a href="/console/messages/${r.messageId}"><code>${r.messageId.slice(0, 8)}…</code></a></td><td>${r.workflow}</td><td>${r.reference ?? '-'}</td><td>${badge(r.status)}</td>
<td>${r.outputs.map((o) => html`<div>${o.destination} <code>${o.controlId}</code> ${badge(o.status)}</div>`)}</td></tr>`)}
</tbody></table>`}
<p class="pager">${q.before ? html`<a href="/console/messages?${new URLSearchParams(Object.fromEntries(Object.entries(q).filter(([k, v]) => v !== undefined && k !== 'before')) as Record<string, string>).toString()}">Newest</a> · ` : ''}${nextQuery ? html`<a href="/console/messages?${nextQuery.toString()}" rel="next">Older →</a>` : ''} <span class="muted">${result.scanned} examined</span></p>`,
    );
  });

  router.get('/console/messages/:id', async (req, res) => {
    const viewer = viewerOf(res);
    const id = req.params.id.slice(0, 100);
    const stored = await ctx.store.getMessage(id);
    if (!stored) {
      sendPage(res, 'Message not found', '/console/messages', html`<p class="notice error">No stored message <code>${id}</code> (retention may have removed it).</p>`, { status: 404 });
      return;
    }
    const phi = seesPhi(viewer);
    if (phi) {
      await auditLookup(ctx.redis, ctx.prefix, viewer.actor, `message ${id}`);
    }
    const traced = await traceMessage(ctx.store, id);
    const row = await messageRow(ctx.store, stored, traced);
    const responses = await responsesOf(ctx.store, stored);
    const record = await ctx.store.getRecord(stored.recordType, stored.recordId);
    const pasEvents = await recordEvents(ctx.store, stored.recordType, stored.recordId);

    type Step = { at: string; what: Html };
    const steps: Step[] = [{ at: stored.receivedAt, what: html`received ${stored.workflow}${stored.useCase ? ` (${stored.useCase})` : ''} — request <code>${stored.requestId}</code>` }];
    for (const f of traced?.mappingFailures ?? []) {
      steps.push({ at: f.at, what: html`mapping <b>${f.mappingId}</b> ${badge('failed')}${phi ? html`: ${f.problems.join('; ')}` : ''}` });
    }
    const outputs = [];
    for (const o of traced?.outputs ?? []) {
      const events = o.delivery?.events ?? [];
      for (const e of events) {
        const ack = e.ackCode ? html` ACK ${badge(e.ackCode)}${phi && e.ackText ? html` <q>${e.ackText}</q>` : ''}` : '';
        const err = e.error ? html` ${badge(e.error)}` : '';
        steps.push({ at: e.at, what: html`${o.destination}: ${e.type}${e.attempt ? ` #${e.attempt}` : ''}${e.controlId ? html` MSH-10 <code>${e.controlId}</code>` : ''}${ack}${err}${e.actor ? ` by ${e.actor}` : ''}${e.detail ? html` <small>${e.detail}</small>` : ''}` });
      }
      let text: string | null = null;
      if (phi) {
        text = (await ctx.redis.get(keyspace(ctx.prefix).deliveryText(o.destination, o.deliveryId))) ?? (o.textKey ? await ctx.redis.get(o.textKey) : null);
      }
      outputs.push({ o, text, events });
    }
    for (const r of responses) {
      steps.push({ at: r.createdAt, what: html`response ${r.kind} queued (${r.event.type})` });
      if (r.finishedAt) {
        steps.push({ at: r.finishedAt, what: html`response ${r.kind} ${badge(r.state)} after ${r.attempts} attempt(s)${r.lastStatus ? ` (HTTP ${r.lastStatus})` : ''}` });
      }
    }
    for (const e of pasEvents) {
      steps.push({ at: e.at, what: html`PAS event ${e.rule}: ${e.from ?? '-'} → ${e.to} (PAS MSH-10 <code>${e.pasControlId}</code>)` });
    }
    steps.sort((a, b) => a.at.localeCompare(b.at));

    const actionForms = (destination: string, deliveryId: string, status: string | undefined): Html =>
      phi && status === 'dead-lettered'
        ? html`<div class="actions">
  <form method="post" action="/console/actions/replay">${csrfField(viewer)}<input type="hidden" name="destination" value="${destination}"><input type="hidden" name="deliveryId" value="${deliveryId}">
    <select name="controlId"><option value="same">same MSH-10</option><option value="new">new MSH-10</option></select> ${reasonField()} <button>Replay</button></form>
  <form method="post" action="/console/actions/drop">${csrfField(viewer)}<input type="hidden" name="destination" value="${destination}"><input type="hidden" name="deliveryId" value="${deliveryId}">
    ${reasonField()} <button class="danger">Drop</button></form></div>`
        : html``;

    sendPage(
      res,
      `Message ${stored.reference ?? ''} ${stored.workflow}`,
      '/console/messages',
      html`<table class="kv">
<tr><th>Message</th><td><code>${stored.id}</code> ${badge(row.status)}</td></tr>
<tr><th>Reference</th><td>${stored.reference ?? '-'}</td></tr>
<tr><th>Record</th><td>${stored.recordType}/${stored.recordId}${record ? html` — ${badge(record.status)} version ${record.version}` : ''}</td></tr>
<tr><th>Workflow</th><td>${stored.workflow} ${stored.useCase ?? ''}</td></tr>
<tr><th>Received</th><td>${time(stored.receivedAt)}</td></tr>
<tr><th>X-Request-Id</th><td><code>${stored.requestId}</code></td></tr>
<tr><th>X-Correlation-Id</th><td><code>${stored.correlationId}</code></td></tr>
<tr><th>Bundle id</th><td><code>${stored.bundleId}</code></td></tr>
<tr><th>Sender</th><td>${stored.sourceEndpoint ?? '-'}</td></tr>
</table>
${phi ? html`<form method="post" action="/console/actions/reprocess" class="actions">${csrfField(viewer)}<input type="hidden" name="key" value="${stored.id}">Render again with the current mappings: ${reasonField()} <label class="check"><input type="checkbox" name="dryRun" value="1" checked> dry run</label> <button>Reprocess</button></form>` : html`<p class="muted">Viewer: ids and states only (no Bundle, HL7 or ACK texts; no actions).</p>`}
<h2>Timeline</h2>
<ol class="timeline">${steps.map((s) => html`<li>${time(s.at)} ${s.what}</li>`)}</ol>
<h2>Outputs</h2>
${outputs.length === 0 ? html`<p class="muted">No rendered output${(traced?.mappingFailures.length ?? 0) > 0 ? ' (mapping failed)' : ''}.</p>` : ''}
${outputs.map(({ o, text, events }) => html`<section class="card output" data-delivery="${o.deliveryId}">
<h3>${o.mappingId} → ${o.destination} <code>${o.delivery?.summary.controlId ?? o.controlId}</code> ${badge(o.delivery?.summary.status ?? 'not queued')}</h3>
${actionForms(o.destination, o.deliveryId, o.delivery?.summary.status)}
${phi ? (text ? html`<h4>HL7 sent</h4>${o.contentType.includes('hl7') ? hl7Html(text) : html`<pre>${text}</pre>`}` : html`<p class="muted">Rendered text no longer kept.</p>`) : ''}
<h4>Attempts and ACKs</h4>
<table class="grid acks"><thead><tr><th>When</th><th>Event</th><th>MSH-10</th><th>ACK</th>${phi ? html`<th>ACK text</th>` : ''}<th>Error</th><th>ms</th></tr></thead><tbody>
${events.filter((e) => e.type === 'attempt' || e.ackCode || e.error).map((e) => html`<tr><td>${time(e.at)}</td><td>${e.type}${e.attempt ? ` #${e.attempt}` : ''}</td><td><code>${e.controlId ?? ''}</code></td><td>${e.ackCode ? badge(e.ackCode) : '-'}</td>${phi ? html`<td>${e.ackText ?? ''}</td>` : ''}<td>${e.error ?? ''}</td><td class="num">${e.durationMs ?? ''}</td></tr>`)}
</tbody></table></section>`)}
<h2>BaRS responses</h2>
${responses.length === 0 ? html`<p class="muted">None sent for this message.</p>` : html`<table class="grid"><thead><tr><th>Response</th><th>Kind</th><th>State</th><th>Attempts</th><th>Last HTTP</th><th>Queued</th><th>Finished</th></tr></thead><tbody>
${responses.map((r) => html`<tr><td><code>${r.id}</code></td><td>${r.kind}</td><td>${badge(r.state)}</td><td class="num">${r.attempts}</td><td>${r.lastStatus ?? '-'}${phi && r.lastReason ? html` <small>${r.lastReason}</small>` : ''}</td><td>${time(r.createdAt)}</td><td>${time(r.finishedAt)}</td></tr>`)}
</tbody></table>`}
${phi ? html`<h2>Bundle</h2><div class="json">${jsonTree(stored.bundle)}</div>` : ''}`,
    );
  });

  const back = (req: { body?: unknown }): string => {
    const key = field(req.body, 'deliveryId') ?? field(req.body, 'key') ?? '';
    return `/console/messages/${encodeURIComponent(key.split('.')[0]!)}`;
  };

  // Replay (same or new MSH-10) and drop of one dead letter: the same form, reason, audit and result page.
  const deadLetterActions = {
    replay: {
      done: 'Replayed',
      failed: 'Not replayed',
      run: async (destination: string, deliveryId: string, who: { actor: string; reason: string }, body: unknown): Promise<Html> => {
        const controlId = await replayOne(ctx, destination, deliveryId, { ...who, newControlId: field(body, 'controlId') === 'new' });
        return html`Replayed ${destination}/${deliveryId} with MSH-10 <code>${controlId}</code>, to its receipt position.`;
      },
    },
    drop: {
      done: 'Dropped',
      failed: 'Not dropped',
      run: async (destination: string, deliveryId: string, who: { actor: string; reason: string }): Promise<Html> => {
        await dropOne(ctx, destination, deliveryId, who);
        return html`Dropped ${destination}/${deliveryId}; what was held behind it is released.`;
      },
    },
  } as const;
  for (const [action, a] of Object.entries(deadLetterActions)) {
    router.post(`/console/actions/${action}`, requireRole('operator'), async (req, res) => {
      const viewer = viewerOf(res);
      const destination = field(req.body, 'destination') ?? '';
      const deliveryId = field(req.body, 'deliveryId') ?? '';
      const reason = reasonOr400(req, res, '');
      if (!reason) {
        return;
      }
      const backLink = html`<p><a href="${back(req)}">Back to the message</a></p>`;
      try {
        const said = await a.run(destination, deliveryId, { actor: viewer.actor, reason }, req.body);
        sendPage(res, a.done, '/console/dead-letters', html`${notice('ok', said)}${backLink}`);
      } catch (err) {
        sendPage(res, a.failed, '/console/dead-letters', html`${notice('error', (err as Error).message)}${backLink}`, { status: 409 });
      }
    });
  }

  router.post('/console/actions/reprocess', requireRole('operator'), async (req, res) => {
    const viewer = viewerOf(res);
    const key = field(req.body, 'key') ?? '';
    const dryRun = field(req.body, 'dryRun') === '1';
    const reason = reasonOr400(req, res, '');
    if (!reason) {
      return;
    }
    try {
      const results = await reprocessKey(ctx, key, { actor: viewer.actor, reason, dryRun });
      sendPage(
        res,
        dryRun ? 'Reprocess (dry run)' : 'Reprocessed',
        '/console/messages',
        html`${dryRun ? notice('info', 'Dry run: nothing changed.') : notice('ok', `Rendered again with the current mappings (${results.length} message(s)).`)}
<table class="grid"><thead><tr><th>Message</th><th>Output</th><th>Destination</th><th>Result</th><th>Detail</th></tr></thead><tbody>
${results.flatMap((m) => m.outputs.map((o) => html`<tr><td><a href="/console/messages/${m.messageId}"><code>${m.messageId.slice(0, 8)}…</code></a></td><td>${o.deliveryId.slice(m.messageId.length + 1)}</td><td>${o.destination}</td><td>${badge(o.result)}</td><td>${o.detail ?? ''}</td></tr>`))}
</tbody></table>
${dryRun ? html`<form method="post" action="/console/actions/reprocess">${csrfField(viewer)}<input type="hidden" name="key" value="${key}"><input type="hidden" name="reason" value="${reason}"><button>Confirm: reprocess for real</button></form>` : ''}
<p><a href="${back(req)}">Back to the message</a></p>`,
      );
    } catch (err) {
      sendPage(res, 'Not reprocessed', '/console/messages', notice('error', (err as Error).message), { status: 409 });
    }
  });
}
