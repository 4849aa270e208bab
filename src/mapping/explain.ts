/*
 * `--explain` output: for every position written, the value, the rule (file:line) and the expression that produced
 * it; then every rule that produced nothing for this message (its `when` failed, its expression or `foreach` yielded
 * nothing), so a missing field can be traced to its rule. For people writing and debugging rule files; it prints
 * message content, so it is a local tool, never a log.
 */
import type { TraceEntry } from './evaluate.js';

/** Formats the trace as aligned text, one position per line, then the rules that produced nothing and why. */
export function formatExplain(trace: readonly TraceEntry[]): string {
  const written = trace.filter((t) => t.nothing === undefined);
  const silent = trace.filter((t) => t.nothing !== undefined);
  const width = Math.max(8, ...trace.map((t) => t.target.length));
  const lines = written.map((t) => `${t.target.padEnd(width)}  ${JSON.stringify(t.value)}\n${' '.repeat(width)}    ← ${t.where}  ${t.source}`);
  if (silent.length > 0) {
    lines.push(`\n# rules that produced nothing (${silent.length})`);
    for (const t of silent) {lines.push(`${t.target.padEnd(width)}  ${t.nothing}\n${' '.repeat(width)}    ← ${t.where}  ${t.source}`.trimEnd());}
  }
  return lines.join('\n');
}
