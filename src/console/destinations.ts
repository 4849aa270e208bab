/*
 * Destinations (issue 16 item 2): one row per destination — link state since when, waiting, head age, head attempts,
 * last ACK, delivered in the last 5 min / 1 h, dead letters, records held behind a dead letter — refreshed in place
 * every 2 s (htmx; a meta refresh without JavaScript); and a destination's lane: head, queue, dead letters, held.
 */
import type { Router } from 'express';
import { Queue } from 'bullmq';
import { keyspace } from '../state/keys.js';
import { INBOUND_QUEUE } from '../flows/inbound/inbound.js';
import { PAS_EVENTS_QUEUE } from '../flows/pas-events/listener.js';
import { listDeadLetters } from '../flows/delivery/dead-letters.js';
import { html, type Html } from './html.js';
import { ago, badge, seesPhi, time } from './layout.js';
import { destinationRows, laneEntries, type DestinationRow } from './queries.js';
import { sendPage, viewerOf, type ConsoleContext } from './context.js';

function rowHtml(r: DestinationRow): Html {
  const head = r.lane.head;
  const link = r.link;
  const tone = link.state === 'connected' || link.state === 'idle' ? 'good' : link.state === 'unknown' ? 'none' : 'bad';
  return html`<tr class="dest ${tone}" data-destination="${r.destination}">
  <td><a href="/console/destinations/${encodeURIComponent(r.destination)}">${r.destination}</a></td>
  <td>${badge(link.state)}${link.since ? html` <small>since ${time(link.since)}</small>` : ''}${link.lastError ? html`<br><small>${link.lastError}</small>` : ''}</td>
  <td class="num">${r.lane.waiting + (head ? 1 : 0)}</td>
  <td class="num">${ago(r.headAgeMs)}</td>
  <td class="num">${head ? head.attempts : '-'}${head?.lastOutcome ? html`<br><small>${head.lastOutcome}</small>` : ''}</td>
  <td>${link.lastAck ? html`${badge(link.lastAck.code)} <small>${time(link.lastAck.at)}</small>` : '-'}</td>
  <td class="num">${link.delivered5m} / ${link.delivered1h}</td>
  <td class="num">${r.deadLetters > 0 ? html`<a class="bad" href="/console/dead-letters?destination=${encodeURIComponent(r.destination)}">${r.deadLetters}</a>` : '0'}</td>
  <td class="num">${r.lane.heldRecords.length}${r.lane.held > 0 ? html` <small>(${r.lane.held} msg)</small>` : ''}</td>
</tr>`;
}

/** The queues counted on the overview: made once per console and reused by every refresh (they share its Redis). */
const queuesOf = new WeakMap<ConsoleContext, Queue[]>();

async function overviewFragment(ctx: ConsoleContext): Promise<Html> {
  const rows = await destinationRows(ctx.redis, ctx.prefix, ctx.destinations);
  let shared = queuesOf.get(ctx);
  if (!shared) {
    shared = [INBOUND_QUEUE, PAS_EVENTS_QUEUE].map((name) => {
      const q = new Queue(name, { connection: ctx.redis, prefix: ctx.prefix });
      // A Redis error reaches the page that hit it (the console's error page); the queue's own event would be noise.
      q.on('error', () => undefined);
      return q;
    });
    queuesOf.set(ctx, shared);
  }
  const queues = await Promise.all(shared.map(async (q) => ({ name: q.name, counts: await q.getJobCounts('waiting', 'active', 'delayed', 'failed') })));
  const responseDead = await ctx.redis.zcard(keyspace(ctx.prefix).responseDeadLetters());
  return html`<table class="grid" id="destinations">
<thead><tr><th>Destination</th><th>Link</th><th>Waiting</th><th>Head age</th><th>Head attempts</th><th>Last ACK</th><th>Delivered 5 min / 1 h</th><th>Dead letters</th><th>Held records</th></tr></thead>
<tbody>${rows.map(rowHtml)}</tbody></table>
<h2>Queues</h2>
<table class="grid narrow"><thead><tr><th>Queue</th><th>Waiting</th><th>Active</th><th>Delayed</th><th>Failed</th></tr></thead><tbody>
${queues.map((q) => html`<tr><td>${q.name}</td><td class="num">${q.counts.waiting ?? 0}</td><td class="num">${q.counts.active ?? 0}</td><td class="num">${q.counts.delayed ?? 0}</td><td class="num">${q.counts.failed ?? 0}</td></tr>`)}
<tr><td>responses (dead letters)</td><td colspan="4" class="num">${responseDead > 0 ? html`<a class="bad" href="/console/events">${responseDead}</a>` : '0'}</td></tr>
</tbody></table>
<p class="muted">Updated ${time(new Date().toISOString())} from Redis (every process's state).</p>`;
}

export function registerDestinations(router: Router, ctx: ConsoleContext): void {
  router.get('/console/', async (_req, res) => {
    const live = await overviewFragment(ctx);
    sendPage(res, 'Destinations', '/console/', html`<div hx-get="/console/fragments/overview" hx-trigger="every 2s" hx-swap="innerHTML">${live}</div>`, { refreshSeconds: 5 });
  });

  router.get('/console/fragments/overview', async (_req, res) => {
    res.type('html').setHeader('Cache-Control', 'no-store');
    res.send((await overviewFragment(ctx)).text);
  });

  router.get('/console/destinations/:name', async (req, res) => {
    const destination = req.params.name;
    if (!ctx.destinations.includes(destination)) {
      sendPage(res, 'No such destination', '/console/', html`<p class="notice error">No destination named ${destination}.</p>`, { status: 404 });
      return;
    }
    const [row] = await destinationRows(ctx.redis, ctx.prefix, [destination], Date.now(), { ackText: seesPhi(viewerOf(res)) });
    const entries = await laneEntries(ctx.redis, ctx.prefix, destination);
    const dead = await listDeadLetters({ redis: ctx.redis, prefix: ctx.prefix }, { destination, limit: 100 });
    const messageLink = (deliveryId: string): Html => html`<a href="/console/messages/${deliveryId.split('.')[0]!}">${deliveryId}</a>`;
    sendPage(
      res,
      `Destination ${destination}`,
      '/console/',
      html`<table class="grid"><thead><tr><th>Destination</th><th>Link</th><th>Waiting</th><th>Head age</th><th>Head attempts</th><th>Last ACK</th><th>Delivered 5 min / 1 h</th><th>Dead letters</th><th>Held records</th></tr></thead><tbody>${rowHtml(row!)}</tbody></table>
${row!.link.lastAck?.text && seesPhi(viewerOf(res)) ? html`<p>Last ACK text: <q>${row!.link.lastAck.text}</q></p>` : ''}
<h2>Lane (head first, first 50)</h2>
${entries.length === 0 ? html`<p class="muted">Empty: nothing waiting.</p>` : html`<table class="grid"><thead><tr><th>#</th><th>Delivery</th><th>MSH-10</th><th>Status</th><th>Attempts</th><th>Queued</th><th>Record</th></tr></thead><tbody>
${entries.map((e, i) => html`<tr><td class="num">${i === 0 ? 'head' : i}</td><td>${messageLink(e.deliveryId)}</td><td><code>${e.controlId}</code></td><td>${badge(e.status)}</td><td class="num">${e.attempts}</td><td>${time(e.enqueuedAt)}</td><td><small>${e.record}</small></td></tr>`)}
</tbody></table>`}
<h2>Dead letters</h2>
${dead.length === 0 ? html`<p class="muted">None.</p>` : html`<table class="grid"><thead><tr><th>Delivery</th><th>MSH-10</th><th>Reason</th><th>Attempts</th><th>Dead-lettered</th><th>Record</th></tr></thead><tbody>
${dead.map((d) => html`<tr><td>${messageLink(d.messageId)}</td><td><code>${d.controlId}</code></td><td>${badge(d.reason)}</td><td class="num">${d.attempts}</td><td>${time(d.deadLetteredAt)}</td><td><small>${d.record ?? '-'}</small></td></tr>`)}
</tbody></table><p><a href="/console/dead-letters?destination=${encodeURIComponent(destination)}">Replay or drop these…</a></p>`}
<h2>Held behind a dead letter</h2>
${row!.lane.heldRecords.length === 0 ? html`<p class="muted">Nothing held.</p>` : html`<table class="grid"><thead><tr><th>Record</th><th>Held behind</th><th>Messages held</th></tr></thead><tbody>
${row!.lane.heldRecords.map((h) => html`<tr><td>${h.record}</td><td>${messageLink(h.behind)}</td><td class="num">${h.held}</td></tr>`)}
</tbody></table>`}`,
    );
  });
}
