/*
 * `--explain` output: for every position written, the value, the rule (file:line) and the expression that produced
 * it. For people writing and debugging rule files; it prints message content, so it is a local tool, never a log.
 */
import type { TraceEntry } from './evaluate.js';

/** Formats the trace as aligned text, one position per line. */
export function formatExplain(trace: readonly TraceEntry[]): string {
  const width = Math.max(8, ...trace.map((t) => t.target.length));
  return trace
    .map((t) => `${t.target.padEnd(width)}  ${JSON.stringify(t.value)}\n${' '.repeat(width)}    ← ${t.where}  ${t.source}`)
    .join('\n');
}
