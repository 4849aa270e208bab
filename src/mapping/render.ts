/*
 * One message through one mapping: context → rules → HL7 v2 or CSV text → checks. Pure apart from the clock and
 * control id the caller passes, so the same message, mapping, `now` and `controlId` always give the same bytes.
 */
import type { StoredMessage } from '../protocol/bars/types.js';
import { buildEnvironment, type Environment } from './context.js';
import { MappingError } from './errors.js';
import { evaluateMapping, type TraceEntry } from './evaluate.js';
import { validateCsv, writeCsv } from './flat-writer.js';
import { carryControlCharacters } from './hl7-control-characters.js';
import { segmentsToWrite, writeHl7 } from './hl7-writer.js';
import { validateHl7 } from './hl7-validate.js';
import type { CompiledMapping } from './types.js';

/** What a mapping produced for one message, ready for delivery. */
export interface RenderedOutput {
  readonly mappingId: string;
  readonly destination: string;
  readonly format: 'hl7v2' | 'flat';
  readonly contentType: string;
  /** MSH-10 Message Control ID (HL7) or the same id for a flat file (as given by the caller). */
  readonly controlId: string;
  readonly text: string;
}

/** Options of a render: `now` becomes MSH-7, `controlId` MSH-10 (fixed by the caller so a resend is identical). */
export interface RenderOptions {
  readonly now: Date;
  readonly controlId: string;
}

/** HL7 v2 ER7 text (segments separated by CR). */
export const HL7_CONTENT_TYPE = 'application/hl7-v2';
export const CSV_CONTENT_TYPE = 'text/csv';

/** Renders and also returns the explain trace (which rule filled which position from which expression). */
export function renderWithTrace(mapping: CompiledMapping, msg: StoredMessage, opts: RenderOptions): { output: RenderedOutput; trace: TraceEntry[] } {
  return renderIn(mapping, msg, opts, buildEnvironment(msg, opts), true);
}

const CONTROL_ID = /^[A-Za-z0-9._-]{1,20}$/;

function renderIn(mapping: CompiledMapping, msg: StoredMessage, opts: RenderOptions, env: Environment, trace: boolean): { output: RenderedOutput; trace: TraceEntry[] } {
  if (!CONTROL_ID.test(opts.controlId)) {
    // MSH-10 is ST(20) in v2.4; the id is also a file name for flat files.
    throw new MappingError(`Mapping ${mapping.id}: bad control id`, ['controlId must be 1-20 characters of A-Z a-z 0-9 . _ -']);
  }
  const ev = evaluateMapping(mapping, env, { trace });
  if (ev.problems.length > 0) {throw new MappingError(`Mapping ${mapping.id} failed for message ${msg.id}`, ev.problems);}
  const out = mapping.output;
  let text: string;
  let problems: string[];
  if (out.format === 'hl7v2') {
    // Control characters take the form they travel in (hl7-control-characters.ts) before writing and checking.
    const segments = carryControlCharacters(out, segmentsToWrite(out, ev.segments, opts.now, opts.controlId));
    try {
      text = writeHl7(out, segments);
    } catch (err) {
      // hl7v2 validates data types as values are set; its messages quote the value, which may be patient data.
      const why = (err instanceof Error ? err.message : String(err)).replace(/"[^"]*"/g, '"…"').split('\n')[0];
      throw new MappingError(`Mapping ${mapping.id} produced a value HL7 v${out.version} refuses for message ${msg.id}`, [`${mapping.file}: data type: ${why}`]);
    }
    problems = validateHl7(out, text, segments);
  } else {
    text = writeCsv(out, mapping.columns, ev.rows);
    problems = validateCsv(out, mapping.columns, ev.rows, text);
  }
  if (problems.length > 0) {
    throw new MappingError(`Mapping ${mapping.id} produced output that fails its checks for message ${msg.id}`, problems.map((p) => `${mapping.file}: ${p}`));
  }
  return {
    output: {
      mappingId: mapping.id,
      destination: mapping.destination,
      format: out.format,
      contentType: out.format === 'hl7v2' ? HL7_CONTENT_TYPE : CSV_CONTENT_TYPE,
      controlId: opts.controlId,
      text,
    },
    trace: ev.trace,
  };
}

/**
 * Renders `msg` with `mapping`. Throws MappingError (permanent: dead-letter, do not retry) listing every problem:
 * a required rule that yields nothing, a code missing from a table, a value over its length limit, or output that
 * fails the HL7 structure/data-type or flat-file layout checks.
 */
export function renderMessage(mapping: CompiledMapping, msg: StoredMessage, opts: RenderOptions): RenderedOutput {
  return renderIn(mapping, msg, opts, buildEnvironment(msg, opts), false).output;
}

/**
 * For rendering one message with several mappings (the inbound processor: ADT^A05 and REF^I12 for a 111→ED
 * referral): the returned function is `renderMessage` for `msg`, but the mappings share one environment (Bundle
 * index, context records) and the results of the expressions they have in common (evaluate.ts `run`), so an
 * expression of a shared include runs once per message. Same output, same errors as `renderMessage`.
 */
export function messageRenderer(msg: StoredMessage): (mapping: CompiledMapping, opts: RenderOptions) => RenderedOutput {
  let base: Environment | undefined;
  return (mapping, opts) => {
    base ??= buildEnvironment(msg, opts);
    // Spreading keeps the Symbol-keyed index and results table; only the per-render variables change.
    const env: Environment = { ...base, now: opts.now.toISOString(), controlId: opts.controlId };
    return renderIn(mapping, msg, opts, env, false).output;
  };
}
