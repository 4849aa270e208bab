/*
 * The one error type of the mapping engine. A mapping failure is permanent: the same Bundle and the same rule files
 * give the same failure every time, so the queue layer dead-letters it instead of retrying.
 */

/**
 * A mapping-file or rendering failure with every problem found, each as one line (`file:line: what is wrong` for rule
 * files; `file:line: TARGET: what is wrong` for rendering). Problems name rules, targets and codes, never patient data.
 */
export class MappingError extends Error {
  /** Every problem found, in the order found. */
  readonly problems: readonly string[];
  /** Always false: retrying cannot help (the inbound processor dead-letters on this). */
  readonly retryable = false;

  constructor(summary: string, problems: readonly string[]) {
    super(problems.length > 0 ? `${summary}:\n  ${problems.join('\n  ')}` : summary);
    this.name = 'MappingError';
    this.problems = [...problems];
  }
}
