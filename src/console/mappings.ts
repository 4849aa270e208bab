/*
 * Mappings (issue 16 item 6): the set on disk (what reprocess and the workers' hot reload use), its hash and when it
 * was read, and why it does not load when it does not; a preview of one mapping against a stored message (by our
 * reference or an id) or a pasted Bundle, with the explain trace; and a FHIRPath scratchpad over a Bundle with the
 * same environment the rules get (%serviceRequest, %patient, … and our resolve()).
 * Previews show patient data: operator role, and a look-up of a stored message is audited like a trace.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Router } from 'express';
import type { Bundle, StoredMessage } from '../protocol/bars/types.js';
import { compileExpression } from '../mapping/compile.js';
import { buildEnvironment } from '../mapping/context.js';
import { MappingError } from '../mapping/errors.js';
import { formatExplain } from '../mapping/explain.js';
import { GOLDEN_CONTROL_ID, GOLDEN_NOW } from '../mapping/golden.js';
import { loadMappings, type MappingRegistry } from '../mapping/index.js';
import { renderWithTrace } from '../mapping/render.js';
import { storedMessageFromBundle } from '../mapping/stored-message.js';
import { audit as auditLookup, messagesFor } from '../ops/trace.js';
import { html, type Html } from './html.js';
import { badge, csrfField, notice, seesPhi } from './layout.js';
import { keyspace } from '../state/keys.js';
import { field, requireRole, sendPage, viewerOf, type ConsoleContext } from './context.js';
import { hl7Html } from './hl7-view.js';

function loadSet(ctx: ConsoleContext): { registry?: MappingRegistry; problems?: readonly string[]; readAt: string } {
  const readAt = new Date().toISOString();
  if (!ctx.mappingsDir) {
    return { problems: ['no mappings directory configured for this admin server'], readAt };
  }
  try {
    return { registry: loadMappings(path.resolve(ctx.mappingsDir)), readAt };
  } catch (err) {
    return { problems: err instanceof MappingError ? err.problems : [(err as Error).message], readAt };
  }
}

/** The message to preview: a stored one by key (audited), or a pasted Bundle. */
async function inputMessage(ctx: ConsoleContext, actor: string, body: unknown): Promise<{ msg?: StoredMessage; error?: string }> {
  const key = field(body, 'key');
  const pasted = field(body, 'bundle', 2_000_000);
  if (key) {
    await auditLookup(ctx.redis, ctx.prefix, actor, `mapping preview ${key}`);
    const found = await messagesFor(ctx.store, key);
    return found.length > 0 ? { msg: found[found.length - 1]! } : { error: `no stored message for ${key}` };
  }
  if (pasted) {
    try {
      return { msg: storedMessageFromBundle(JSON.parse(pasted) as Bundle, {}) };
    } catch (err) {
      return { error: `not a Bundle: ${(err as Error).message.split('\n')[0]}` };
    }
  }
  return { error: 'give a reference or paste a Bundle' };
}

function forms(ctx: ConsoleContext, viewer: ReturnType<typeof viewerOf>, registry: MappingRegistry | undefined, values: Record<string, string | undefined>): Html {
  return html`<div class="two">
<form method="post" action="/console/mappings/preview" class="card">${csrfField(viewer)}<h2>Preview a mapping</h2>
  <label>Mapping <select name="mapping">${(registry?.mappings ?? []).map((m) => html`<option${m.id === values.mapping ? html` selected` : ''}>${m.id}</option>`)}</select></label>
  <label>Stored message <input name="key" value="${values.key ?? ''}" placeholder="reference (BB-…), message id, MSH-10"></label>
  <label>or a Bundle <textarea name="bundle" rows="6" placeholder='{"resourceType":"Bundle", …}'>${values.bundle ?? ''}</textarea></label>
  <label class="check"><input type="checkbox" name="explain" value="1"${values.explain ? html` checked` : ''}> explain (which rule filled which field)</label>
  <button>Render</button></form>
<form method="post" action="/console/mappings/fhirpath" class="card">${csrfField(viewer)}<h2>FHIRPath scratchpad</h2>
  <label>Expression <input name="expression" value="${values.expression ?? ''}" placeholder="%patient.identifier.value" size="40"></label>
  <label>Stored message <input name="key" value="${values.key ?? ''}" placeholder="reference (BB-…), message id"></label>
  <label>or a Bundle <textarea name="bundle" rows="6">${values.bundle ?? ''}</textarea></label>
  <button>Evaluate</button></form></div>`;
}

/** The set the workers run (state/keys.ts mappingsActive, written by flows/inbound/start.ts), beside the set on disk. */
function activeHtml(active: Record<string, string>, diskHash: string | undefined): Html {
  if (!active.hash) {
    return html`<p class="muted">No worker has reported its active mapping set yet.</p>`;
  }
  const problems = JSON.parse(active.lastProblems ?? '[]') as string[];
  return html`<p>Active in the workers: <b>${active.mappings ?? '?'}</b> mapping(s), hash <code>${active.hash.slice(0, 16)}</code>, loaded ${active.loadedAt ?? '?'}; last reload ${active.reloadedAt ?? '?'}: ${badge(active.lastOutcome ?? '?')}${
    diskHash && diskHash !== active.hash ? html` <span class="notice warn">the set on disk differs (hash <code>${diskHash.slice(0, 16)}</code>)</span>` : ''
  }</p>${problems.length > 0 ? notice('error', html`The last edit was rejected; the workers keep the set above. Problems:<ul>${problems.map((p) => html`<li>${p}</li>`)}</ul>`) : ''}`;
}

export function registerMappings(router: Router, ctx: ConsoleContext): void {
  const overview = async (res: Parameters<Parameters<Router['get']>[1]>[1], extra: Html, values: Record<string, string | undefined> = {}): Promise<void> => {
    const viewer = viewerOf(res);
    const set = loadSet(ctx);
    const active = await ctx.redis.hgetall(keyspace(ctx.prefix).mappingsActive());
    let modified = '';
    try {
      modified = ctx.mappingsDir ? statSync(path.resolve(ctx.mappingsDir)).mtime.toISOString() : '';
    } catch {
      modified = '';
    }
    sendPage(
      res,
      'Mappings',
      '/console/mappings',
      html`${extra}
${activeHtml(active, set.registry?.hash)}
${set.registry ? html`<p>Set on disk: <b>${set.registry.mappings.length}</b> mapping(s), hash <code>${set.registry.hash.slice(0, 16)}</code>, read ${set.readAt}${modified ? `, directory changed ${modified}` : ''}. Workers reload it when it changes and it passes its golden cases.</p>
<table class="grid"><thead><tr><th>Mapping</th><th>Destination</th><th>Workflows</th><th>Use cases</th><th>Format</th><th>File</th></tr></thead><tbody>
${set.registry.mappings.map((m) => html`<tr><td><b>${m.id}</b><br><small>${m.description}</small></td><td>${m.destination}</td><td>${m.workflows.join(', ')}</td><td>${m.useCases.join(', ') || 'all'}</td><td>${m.output.format}</td><td><small>${path.basename(m.file)}</small></td></tr>`)}
</tbody></table>` : notice('error', html`The set on disk does not load; workers keep the last good set. Problems:<ul>${(set.problems ?? []).map((p) => html`<li>${p}</li>`)}</ul>`)}
${seesPhi(viewer) ? forms(ctx, viewer, set.registry, values) : html`<p class="muted">Previews show patient data: they need the operator role.</p>`}`,
    );
  };

  router.get('/console/mappings', async (_req, res) => overview(res, html``));

  router.post('/console/mappings/preview', requireRole('operator'), async (req, res) => {
    const viewer = viewerOf(res);
    const values = { mapping: field(req.body, 'mapping'), key: field(req.body, 'key'), bundle: field(req.body, 'bundle', 2_000_000), explain: field(req.body, 'explain') };
    const set = loadSet(ctx);
    const mapping = values.mapping ? set.registry?.get(values.mapping) : undefined;
    if (!mapping) {
      await overview(res, notice('error', `no mapping ${values.mapping ?? ''} in the set`), values);
      return;
    }
    const { msg, error } = await inputMessage(ctx, viewer.actor, req.body);
    if (!msg) {
      await overview(res, notice('error', error ?? 'no message'), values);
      return;
    }
    try {
      const { output, trace } = renderWithTrace(mapping, msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID });
      await overview(
        res,
        html`<section class="card"><h2>${mapping.id} on message ${msg.id.slice(0, 8)}… (${msg.workflow})</h2>
${output.format === 'hl7v2' ? hl7Html(output.text) : html`<pre>${output.text}</pre>`}
${values.explain ? html`<h3>Explain</h3><pre class="explain">${formatExplain(trace)}</pre>` : ''}</section>`,
        values,
      );
    } catch (err) {
      await overview(res, notice('error', html`${mapping.id} does not render this message:<ul>${(err instanceof MappingError ? err.problems : [(err as Error).message]).map((p) => html`<li>${p}</li>`)}</ul>`), values);
    }
  });

  router.post('/console/mappings/fhirpath', requireRole('operator'), async (req, res) => {
    const viewer = viewerOf(res);
    const values = { expression: field(req.body, 'expression', 2000), key: field(req.body, 'key'), bundle: field(req.body, 'bundle', 2_000_000) };
    const problems: string[] = [];
    const compiled = values.expression ? compileExpression(values.expression, 'scratchpad', [], problems) : undefined;
    if (!compiled) {
      await overview(res, notice('error', problems[0] ?? 'give an expression'), values);
      return;
    }
    const { msg, error } = await inputMessage(ctx, viewer.actor, req.body);
    if (!msg) {
      await overview(res, notice('error', error ?? 'no message'), values);
      return;
    }
    try {
      const result = compiled.evaluate(msg.bundle, buildEnvironment(msg, { now: GOLDEN_NOW, controlId: GOLDEN_CONTROL_ID }));
      await overview(res, html`<section class="card"><h2>${values.expression}</h2><pre id="fhirpath-result">${JSON.stringify(result, null, 2)}</pre></section>`, values);
    } catch (err) {
      await overview(res, notice('error', (err as Error).message.split('\n')[0] ?? 'failed'), values);
    }
  });
}
