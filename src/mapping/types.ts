/*
 * Compiled forms of the rule files (mappings/README.md describes the YAML). Everything here is built once at load time
 * and read-only afterwards; rendering a message only calls the compiled FHIRPath functions.
 */
import type { Workflow } from '../protocol/bars/types.js';
import type { ValueTable } from './tables.js';

/** A FHIRPath expression compiled once, with where it came from (for errors and `--explain`). */
export interface CompiledExpression {
  readonly source: string;
  readonly where: string;
  readonly evaluate: (resource: unknown, env: Record<string | symbol, unknown>) => unknown[];
  /**
   * The `%names` the expression reads, when its result depends only on its focus and those variables (no clock, no
   * trace), so that one message may reuse it; undefined when it must run every time.
   */
  readonly reads?: readonly string[];
}

/** How a value is formatted before it is written. */
export type ValueFormat = 'text' | 'ts' | 'date';

/** What to do with a value longer than `maxLength`: fail the mapping, or continue the rest in NTE segments. */
export type Overflow = 'error' | 'nte';

/** Position of a value: field, component, sub-component (1-based like HL7 names: PID-3.1 → field 3, component 1). */
export interface Position {
  readonly field: number;
  readonly component: number;
  readonly subComponent: number;
}

/** One rule that writes at most one value. */
export interface ValueRule {
  readonly kind: 'value';
  /** Printable target, e.g. `PID-5.1` or `PID-13.4` (inside a repeating field). */
  readonly label: string;
  readonly position: Position;
  readonly expression: CompiledExpression | undefined;
  readonly constant: string | undefined;
  readonly when: CompiledExpression | undefined;
  readonly required: boolean;
  readonly table: ValueTable | undefined;
  readonly format: ValueFormat;
  readonly maxLength: number | undefined;
  readonly overflow: Overflow;
  readonly defaultValue: string | undefined;
  /** true: each item of the result becomes one repetition of the field (e.g. PID-32 Identity Reliability Code). */
  readonly repeat: boolean;
  readonly where: string;
}

/** A field written once per item of `foreach` (one repetition each), with component rules relative to the item. */
export interface RepeatingFieldRule {
  readonly kind: 'repeating';
  readonly label: string;
  readonly field: number;
  readonly foreach: CompiledExpression;
  readonly when: CompiledExpression | undefined;
  readonly required: boolean;
  readonly components: readonly ValueRule[];
  readonly where: string;
}

export type FieldRule = ValueRule | RepeatingFieldRule;

/** One segment rule: written once, or once per item of `foreach`, if `when` holds. */
export interface SegmentRule {
  readonly kind: 'segment';
  readonly segment: string;
  readonly when: CompiledExpression | undefined;
  readonly foreach: CompiledExpression | undefined;
  readonly required: boolean;
  readonly fields: readonly FieldRule[];
  readonly where: string;
}

/**
 * Rules for the segments of one HL7 group instance (e.g. REF_I12 OBSERVATION: OBR then its OBX), written together
 * once, once per item of `foreach`, or not at all when `when` fails. The load-time structure check
 * (structure-check.ts) then knows that the OBX can only come with their OBR, which it cannot read from two unrelated
 * conditions.
 */
export interface GroupRule {
  readonly kind: 'group';
  /** The HL7 group it builds (documentation; checked to be a group of the message structure). */
  readonly group: string;
  readonly when: CompiledExpression | undefined;
  readonly foreach: CompiledExpression | undefined;
  readonly segments: readonly SegmentItem[];
  readonly where: string;
}

/** One entry of a mapping's `segments:` list. */
export type SegmentItem = SegmentRule | GroupRule;

/** One CSV column of a flat-file layout. */
export interface ColumnRule {
  readonly name: string;
  readonly rule: ValueRule;
  readonly pattern: RegExp | undefined;
}

/** Output of an HL7 v2 mapping. */
export interface Hl7Output {
  readonly format: 'hl7v2';
  readonly version: string;
  /** MSH-9 Message Type as written, e.g. `REF^I12^REF_I12`. */
  readonly messageType: string;
  /** MSH-9.3 Message Structure: selects the abstract message definition checked before the message leaves. */
  readonly structure: string;
}

/** Output of a flat-file mapping (CSV). */
export interface FlatOutput {
  readonly format: 'flat';
  readonly delimiter: string;
  readonly header: boolean;
  readonly lineEnding: '\r\n' | '\n';
}

/** A mapping file after loading: selection criteria, output and compiled rules. */
export interface CompiledMapping {
  readonly id: string;
  readonly file: string;
  readonly description: string;
  readonly workflows: readonly Workflow[];
  /** Use-case codes (lower case; `a1t*` prefix patterns allowed); empty = every use case. */
  readonly useCases: readonly string[];
  readonly destination: string;
  readonly output: Hl7Output | FlatOutput;
  /** `let:` variables, evaluated in order against the Bundle before the segments. */
  readonly variables: ReadonlyArray<{ readonly name: string; readonly expression: CompiledExpression }>;
  readonly segments: readonly SegmentItem[];
  readonly columns: readonly ColumnRule[];
  /** Flat files: one row per item of this expression (default: one row per message). */
  readonly rows: CompiledExpression | undefined;
  /** Settings of the destination (mappings/destinations.yaml), readable in rules as `%destination`. */
  readonly destinationSettings: Readonly<Record<string, string>>;
}
