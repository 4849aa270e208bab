/*
 * Dead letters (issue 16 item 4): the list, filtered by destination, time and workflow; bulk replay or drop over the
 * filtered list — first a dry run that counts and lists what would happen, then a confirmation — each audited with
 * the actor and the reason. Replay goes oldest receipt first, so each releases what its record held behind it.
 */
import type { Router } from 'express';
import { WORKFLOWS } from '../protocol/bars/types.js';
import { listDeadLetters } from '../flows/delivery/dead-letters.js';
import { html, type Html } from './html.js';
import { badge, csrfField, notice, reasonField, seesPhi, time } from './layout.js';
import { field, reasonOr400, requireRole, sendPage, viewerOf, type ConsoleContext } from './context.js';
import { bulkDrop, bulkReplay, type DeadLetterFilter } from './actions.js';

function filterOf(source: unknown): { filter: DeadLetterFilter; raw: Record<string, string> } {
  const destination = field(source, 'destination');
  const workflow = field(source, 'workflow');
  const sinceText = field(source, 'since');
  const since = sinceText ? new Date(sinceText) : undefined;
  const raw: Record<string, string> = {};
  if (destination) {raw.destination = destination;}
  if (workflow) {raw.workflow = workflow;}
  if (sinceText && since && !Number.isNaN(since.getTime())) {raw.since = sinceText;}
  return { filter: { ...(destination ? { destination } : {}), ...(workflow ? { workflow } : {}), ...(raw.since ? { since: since! } : {}) }, raw };
}

const hidden = (raw: Record<string, string>): Html => html`${Object.entries(raw).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}`;
const opt = (value: string, current: string | undefined, label = value): Html => html`<option value="${value}"${value === current ? html` selected` : ''}>${label}</option>`;

export function registerDeadLetters(router: Router, ctx: ConsoleContext): void {
  router.get('/console/dead-letters', async (req, res) => {
    const viewer = viewerOf(res);
    const { filter, raw } = filterOf(req.query);
    const all = await listDeadLetters({ redis: ctx.redis, prefix: ctx.prefix }, { ...(filter.destination ? { destination: filter.destination } : {}), limit: 1000 });
    const rows = [];
    for (const d of all) {
      if (filter.since && Date.parse(d.deadLetteredAt) < filter.since.getTime()) {continue;}
      if (filter.workflow && (await ctx.store.getMessage(d.messageId.split('.')[0]!))?.workflow !== filter.workflow) {continue;}
      rows.push(d);
    }
    const phi = seesPhi(viewer);
    sendPage(
      res,
      'Dead letters',
      '/console/dead-letters',
      html`<form method="get" class="filters">
  <label>Destination <select name="destination">${opt('', raw.destination, 'any')}${ctx.destinations.map((d) => opt(d, raw.destination))}</select></label>
  <label>Dead-lettered since <input type="datetime-local" name="since" value="${raw.since ?? ''}"></label>
  <label>Workflow <select name="workflow">${opt('', raw.workflow, 'any')}${WORKFLOWS.map((w) => opt(w, raw.workflow))}</select></label>
  <button>Filter</button></form>
<p><b id="dead-count">${rows.length}</b> dead letter(s) match.</p>
${rows.length === 0 ? '' : html`<table class="grid" id="dead-letters"><thead><tr><th>Delivery</th><th>Destination</th><th>MSH-10</th><th>Reason</th>${phi ? html`<th>Detail</th>` : ''}<th>Attempts</th><th>Dead-lettered</th><th>Record</th></tr></thead><tbody>
${rows.map((d) => html`<tr><td><a href="/console/messages/${d.messageId.split('.')[0]!}">${d.messageId}</a></td><td>${d.destination}</td><td><code>${d.controlId}</code></td><td>${badge(d.reason)}</td>${phi ? html`<td><small>${d.detail}</small></td>` : ''}<td class="num">${d.attempts}</td><td>${time(d.deadLetteredAt)}</td><td><small>${d.record ?? '-'}</small></td></tr>`)}
</tbody></table>
${phi ? html`<h2>Act on all ${rows.length} listed</h2>
<form method="post" action="/console/dead-letters/bulk" class="actions">${csrfField(viewer)}${hidden(raw)}
  <select name="action"><option value="replay">Replay (same MSH-10)</option><option value="drop">Drop for good</option></select>
  ${reasonField()} <button>Dry run…</button></form>` : ''}`}`,
    );
  });

  router.post('/console/dead-letters/bulk', requireRole('operator'), async (req, res) => {
    const viewer = viewerOf(res);
    const { filter, raw } = filterOf(req.body);
    const action = field(req.body, 'action') === 'drop' ? 'drop' : 'replay';
    const confirmed = field(req.body, 'confirm') === 'yes';
    const reason = reasonOr400(req, res, '/console/dead-letters');
    if (!reason) {
      return;
    }
    const who = { actor: viewer.actor, reason, dryRun: !confirmed };
    const items = action === 'replay' ? await bulkReplay(ctx, filter, who) : await bulkDrop(ctx, filter, who);
    const acting = items.filter((i) => i.result === 'would replay' || i.result === 'would drop' || i.result === 'replayed' || i.result === 'dropped').length;
    const failed = items.filter((i) => i.result === 'failed').length;
    const back = `/console/dead-letters?${new URLSearchParams(raw).toString()}`;
    sendPage(
      res,
      confirmed ? `Bulk ${action}: done` : `Bulk ${action}: dry run`,
      '/console/dead-letters',
      html`${confirmed
        ? notice(failed > 0 ? 'error' : 'ok', `${acting} dead letter(s) ${action === 'replay' ? 'replayed' : 'dropped'}${failed > 0 ? `, ${failed} failed` : ''}${items.length - acting - failed > 0 ? `, ${items.length - acting - failed} need reprocess (mapping failures)` : ''}.`)
        : notice('info', html`Dry run: <b id="dry-count">${acting}</b> dead letter(s) would be ${action === 'replay' ? 'replayed' : 'dropped'}${items.length > acting ? ` (${items.length - acting} not: mapping failures need reprocess)` : ''}. Nothing has changed yet.`)}
<table class="grid"><thead><tr><th>Delivery</th><th>Destination</th><th>Reason</th><th>Dead-lettered</th><th>Result</th><th>Detail</th></tr></thead><tbody>
${items.map((i) => html`<tr><td><a href="/console/messages/${i.messageId.split('.')[0]!}">${i.messageId}</a></td><td>${i.destination}</td><td>${i.reason}</td><td>${time(i.deadLetteredAt)}</td><td>${badge(i.result)}</td><td>${i.detail ?? ''}</td></tr>`)}
</tbody></table>
${!confirmed && acting > 0 ? html`<form method="post" action="/console/dead-letters/bulk" class="confirm">${csrfField(viewer)}${hidden(raw)}
  <input type="hidden" name="action" value="${action}"><input type="hidden" name="reason" value="${reason}"><input type="hidden" name="confirm" value="yes">
  <button class="${action === 'drop' ? 'danger' : ''}" id="confirm-bulk">Confirm: ${action} ${acting} dead letter(s)</button> <a href="${back}">Cancel</a></form>` : html`<p><a href="${back}">Back to dead letters</a></p>`}`,
    );
  });
}
