/*
 * NHS England's TKW receiver test schedules (nhsdigitalmait/FHIR_BaRS release 1.0.19, parsed into
 * test/external/nhs/tkw/tkw-receiver-test-catalogue.json) replayed against a real receiver over mutual TLS.
 * One `it` per receiver schedule. The 13 simulator/extractor self-tests (BaRS_Simulator.tstp, BaRS_Extractor.tstp)
 * test TKW's own mock receiver (magic NHS numbers → canned 4xx/5xx) and are not run. Schedules judged wrong are
 * `it.skip`ped with the reason (KNOWN-DIFFERENCES.md), never silently passed.
 *
 * Porting conventions (see also placeholders.ts and mutations.ts):
 *  - requests are built from the JSON templates and the XSLT pre-transforms ported to JSON; an `xml_content` step
 *    sends the same Bundle converted to FHIR XML with the `fhir` package;
 *  - `Authorization` is not sent (the BaRS proxy does not forward it); every other header is sent as TKW does;
 *  - each schedule has its own datasource row, starting with fresh UUIDs, updated by the EXTRACTOR checks.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Fhir } from 'fhir';
import { startHarness, type Harness } from '../helpers/harness.js';
import { DEV_SLOTS } from '../../src/runtime.js';
import type { Config } from '../../src/config/schema.js';
import { send, tlsOf, type TkwResponse } from './client.js';
import { CHECKS, EXTRACTORS, type CheckContext } from './checks.js';
import { MUTATIONS, pruneEmpty } from './mutations.js';
import { extractServiceRequest, extractSlots, fill, HCS_NO_SLOTS, HCS_NO_SLOTS_ID, HEADER_VALUES, initialState, pathValues, type State } from './placeholders.js';
import { KIND_LABEL, KNOWN_DIFFERENCES } from './known-differences.js';
import { expectedRefusal } from './refusals.js';
import { TKW_DIR } from '../external/nhs-material.js';
import { loadBarsProfiles, ownErrors, validateBarsBundle, validateResourceProfiles, type Bundle, type Resource } from '../helpers/profile-validator.js';

const DERIVED = pathToFileURL(`${TKW_DIR}/`);

interface Step {
  kind: 'send' | 'check';
  test: string;
  method?: string;
  path?: string;
  template?: string;
  transform?: string | null;
  expect?: string;
  headers?: Record<string, string>;
  check?: string;
  rule?: string;
}
interface Schedule {
  id: string;
  tstp: string;
  steps: Step[];
}

const catalogue = JSON.parse(readFileSync(new URL('tkw-receiver-test-catalogue.json', DERIVED), 'utf8')) as { schedules: Schedule[] };
const SELF_TESTS = new Set(['BaRS_Simulator.tstp', 'BaRS_Extractor.tstp']);
const receiverSchedules = catalogue.schedules.filter((s) => !SELF_TESTS.has(s.tstp));
const selfTests = catalogue.schedules.filter((s) => SELF_TESTS.has(s.tstp));

export const AREAS = ['metadata', 'MessageDefinition', '$process-message referral', '$process-message validation', '$process-message booking',
  '$process-message cancel', '$process-message update', 'Slot', 'ServiceRequest/Appointment reads'] as const;
type Area = (typeof AREAS)[number];

function areaOf(s: Schedule): Area {
  const sends = s.steps.filter((st) => st.kind === 'send');
  if (sends.every((st) => st.method === 'GET')) {
    const p = sends[0]!.path!;
    return p.startsWith('/metadata') ? 'metadata' : p.startsWith('/MessageDefinition') ? 'MessageDefinition' : p.startsWith('/Slot') ? 'Slot' : 'ServiceRequest/Appointment reads';
  }
  if (/Cancel/.test(s.id)) {return '$process-message cancel';}
  if (/Update|Scenario_/.test(s.id)) {return '$process-message update';}
  if (/Book/.test(s.id)) {return '$process-message booking';}
  if (/Validation/.test(s.id)) {return '$process-message validation';}
  return '$process-message referral';
}

const templates = new Map<string, string>();
function templateText(template: string): string {
  const name = template.replace(/___TO_SERVICE__\.xml$/, '');
  if (!templates.has(name)) {
    templates.set(name, readFileSync(new URL(`tkw-request-templates-json/${name}_template.json`, DERIVED), 'utf8'));
  }
  return templates.get(name)!;
}

let fhirConverter: Fhir | undefined;
const fhir = (): Fhir => (fhirConverter ??= new Fhir());

function resolveHeaders(step: Step, state: State): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(step.headers ?? {})) {
    if (name === 'Authorization') {continue;} // the proxy does not forward it
    let value = raw;
    if (/PropertySetFunctions\.getuuid$/.test(raw)) {value = randomUUID();}
    else {value = fill(fill(raw, HEADER_VALUES), state);}
    out[name] = value;
  }
  return out;
}

function parseBody(res: TkwResponse): Record<string, unknown> | undefined {
  const type = String(res.headers['content-type'] ?? '');
  try {
    if (/xml/.test(type)) {return fhir().xmlToObj(res.body) as Record<string, unknown>;}
    if (/json/.test(type)) {return JSON.parse(res.body) as Record<string, unknown>;}
  } catch {
    return undefined;
  }
  return undefined;
}

const results: Array<{ area: Area; state: string | undefined }> = [];

describe('TKW receiver conformance (nhsdigitalmait/FHIR_BaRS 1.0.19)', function () {
  this.timeout(30_000);
  let h: Harness;
  let tls: ReturnType<typeof tlsOf>;

  before(async function () {
    this.timeout(60_000);
    loadBarsProfiles(); // once, before the receiver starts: loading blocks the event loop for seconds
    const noSlots: Config['slots'][number] = {
      ...DEV_SLOTS[0]!,
      healthcareService: HCS_NO_SLOTS_ID,
      healthcareServiceName: 'Service with no published slots (TKW SFFSNoSlots)',
      dosServiceId: HCS_NO_SLOTS,
      hours: {},
    };
    h = await startHarness({ config: { slots: [...DEV_SLOTS, noSlots] } });
    tls = tlsOf(h);
  });
  after(async function () {
    await h?.close();
    const lines: string[] = ['', 'TKW receiver conformance summary'];
    let passed = 0;
    let failed = 0;
    for (const area of AREAS) {
      const rs = results.filter((r) => r.area === area);
      const p = rs.filter((r) => r.state === 'passed').length;
      const f = rs.filter((r) => r.state === 'failed').length;
      // mocha runs no hooks for it.skip, so known differences are counted from the list.
      const s = receiverSchedules.filter((x) => areaOf(x) === area && KNOWN_DIFFERENCES[x.id]).length;
      passed += p;
      failed += f;
      lines.push(`  ${area}: ${p} passed, ${f} failed${s ? `, ${s} skipped as known differences` : ''}`);
    }
    const kinds = Object.values(KNOWN_DIFFERENCES);
    const contradictory = kinds.filter((k) => k.kind === 'contradictory').length;
    lines.push(`  (${selfTests.length} TKW simulator/extractor self-tests not run)`);
    lines.push(`  ${validatedBodies} 200 bodies profile-validated (${validatedShapes} distinct shapes, ${Math.round(validationMs)} ms)`);
    lines.push(`${passed} passed / ${contradictory} contradictory in TKW / ${kinds.length - contradictory} deliberate deviation${failed ? ` / ${failed} FAILED` : ''}`);
    console.log(lines.join('\n'));
  });

  afterEach(function () {
    const t = this.currentTest!;
    const s = receiverSchedules.find((x) => x.id === t.title.split(' ')[0]);
    if (s) {results.push({ area: areaOf(s), state: t.isPending() ? 'pending' : t.state });}
  });

  for (const schedule of receiverSchedules) {
    const title = `${schedule.id} [${areaOf(schedule)}]`;
    const known = KNOWN_DIFFERENCES[schedule.id];
    if (known) {
      it.skip(`${title} — ${KIND_LABEL[known.kind]}: ${known.reason}`);
      continue;
    }
    it(title, async function () {
      await runSchedule(schedule, tls);
    });
  }
});

async function runSchedule(schedule: Schedule, tls: ReturnType<typeof tlsOf>): Promise<void> {
  const state = initialState();
  const paths = pathValues();
  const problems: string[] = [];
  let ctx: CheckContext | undefined;
  let stepNo = 0;
  for (const step of schedule.steps) {
    if (step.kind === 'send') {
      stepNo++;
      const headers = resolveHeaders(step, state);
      const path = fill(fill(step.path!, paths), state);
      let body: string | undefined;
      let requestBody: Record<string, unknown> | undefined;
      if (step.method !== 'GET' && step.template && step.template !== 'emptyfile.txt') {
        const bundle = JSON.parse(fill(templateText(step.template), { ...Object.fromEntries(state), __TO_SERVICE__: paths.__TO_SERVICE__!, __FROM_SERVICE__: '2000012345' })) as Record<string, unknown>;
        if (step.transform) {
          const mutate = MUTATIONS[step.transform];
          if (!mutate) {throw new Error(`transform ${step.transform} is not ported`);}
          mutate(bundle);
        }
        requestBody = pruneEmpty(bundle) as Record<string, unknown>;
        const xml = Object.entries(headers).some(([k, v]) => k.toLowerCase() === 'content-type' && /xml/.test(v) && /fhir/.test(v));
        body = xml ? fhir().objToXml(requestBody) : JSON.stringify(requestBody);
      }
      const res = await send(tls, step.method!, path, headers, body);
      const parsed = parseBody(res);
      ctx = { res, body: parsed, requestHeaders: headers, requestBody, today1: paths.__TODAY1__!, today4: paths.__TODAY4__! };
      const want = step.expect === 'ok' ? 200 : Number(/(\d{3})$/.exec(step.expect ?? '')?.[1]);
      if (res.status !== want) {
        const oo = parsed?.resourceType === 'OperationOutcome' ? ` ${JSON.stringify((parsed.issue as unknown[])?.[0])}` : '';
        problems.push(`step ${stepNo} ${step.test} ${step.method} ${path.slice(0, 60)}: HTTP ${res.status}, expected ${want}${oo}`);
      } else if (want === 200 && parsed) {
        const xml = /xml/.test(String(res.headers['content-type'] ?? ''));
        // An XML document has no JSON types: the converter's strings for decimals are not the receiver's.
        const errors = profileErrors(parsed, requestBody).filter((e) => !(xml && /Invalid JSON type/.test(e)));
        if (errors.length > 0) {problems.push(`step ${stepNo} ${step.test}: the 200 body fails its profiles:\n    ${errors.join('\n    ')}`);}
      } else if (want !== 200) {
        const why = refusedFor(schedule.id, step, parsed);
        if (why) {problems.push(`step ${stepNo} ${step.test}: ${why}`);}
      }
    } else {
      const check = CHECKS[step.check!];
      if (!check) {throw new Error(`check ${step.check} is not ported`);}
      if (!ctx) {throw new Error('check before any send');}
      const why = check(ctx);
      if (why) {problems.push(`step ${stepNo} check ${step.test} (${step.check}): ${why}`);}
      const extractor = EXTRACTORS[step.check!];
      if (extractor && ctx.body) {
        (extractor === 'slots' ? extractSlots : extractServiceRequest)(state, ctx.body, ctx.res.headers);
      }
    }
  }
  assert.deepEqual(problems, [], `${schedule.id}:\n  ${problems.join('\n  ')}`);
}

/** A refusal must name what the schedule broke (refusals.ts), not just carry the right status. */
function refusedFor(scheduleId: string, step: Step, body: Record<string, unknown> | undefined): string | undefined {
  const want = expectedRefusal(scheduleId, step.transform);
  if (!want) {return `no expected refusal for ${scheduleId} (${step.transform ?? 'no transform'}) in refusals.ts`;}
  const issue = (body?.resourceType === 'OperationOutcome' ? (body.issue as Array<Record<string, unknown>>)?.[0] : undefined) ?? {};
  const code = String(issue.code ?? '(none)');
  const expression = (issue.expression as string[] | undefined) ?? [];
  const named = expression.length > 0 ? expression.join(',') : String(issue.diagnostics ?? '');
  const problems: string[] = [];
  if (!want.code.test(code)) {problems.push(`issue.code ${code} does not match ${want.code}`);}
  if (!(expression.length > 0 ? expression : [named]).some((e) => want.names.test(e))) {problems.push(`refusal names ${named || '(nothing)'}, expected ${want.names}`);}
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/**
 * Every 200 body is profile-validated as the examples' are (profile-validation.test.ts): a message Bundle against
 * BARSBundleMessage and each entry's profiles (errors the request itself carries — upstream defects we echo — aside),
 * anything else (searchset, CapabilityStatement, Appointment) against its own profiles, searchset entries included.
 */
function profileErrors(body: Record<string, unknown>, request: Record<string, unknown> | undefined): string[] {
  // Bodies that differ only in UUIDs and instants validate alike (every such string is valid), so each shape is
  // validated once: ~200 bodies, far fewer shapes, at ~10 ms an entry.
  const key = JSON.stringify([body, request]).replace(UUID_TEXT, '00000000-0000-4000-8000-000000000000').replace(INSTANT_TEXT, '2000-01-01T00:00:00Z');
  let errors = validated.get(key);
  if (!errors) {
    validatedShapes++;
    const t0 = performance.now();
    errors = validateProfiles(body, request);
    validationMs += performance.now() - t0;
    validated.set(key, errors);
  }
  validatedBodies++;
  return errors;
}
const UUID_TEXT = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const INSTANT_TEXT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/g;
const validated = new Map<string, string[]>();
let validatedBodies = 0;
let validatedShapes = 0;
let validationMs = 0;

function validateProfiles(body: Record<string, unknown>, request: Record<string, unknown> | undefined): string[] {
  const resource = body as unknown as Resource;
  if (resource.resourceType === 'Bundle' && (body as { type?: string }).type === 'message') {
    return ownErrors(validateBarsBundle(resource as Bundle), () => (request ? validateBarsBundle(request as unknown as Bundle) : []));
  }
  const entries = resource.resourceType === 'Bundle' ? ((resource as Bundle).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])) : [];
  return [...validateResourceProfiles(resource), ...entries.flatMap((r) => validateResourceProfiles(r))];
}
