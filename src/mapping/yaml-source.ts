/*
 * Reads a YAML rule file into plain values while remembering the line of every node, so that every problem the
 * loader finds can be reported as `file:line: what is wrong` (the `yaml` package's node ranges and LineCounter).
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLError } from 'yaml';

/** The yaml package's lexer-level message, which quotes its token type and text (`map-value-ind token … ":"`). */
const TOKEN_DUMP = /^Unexpected (\S+) token in YAML stream: (.*)$/;

/**
 * Syntax errors as `file:line:column: message`. The first error is where the file breaks; the yaml parser then
 * reports what it could not make sense of after it as token dumps, which are left out (the first one is reworded).
 */
function syntaxProblems(file: string, errors: readonly YAMLError[], lineCounter: LineCounter): string[] {
  const out: string[] = [];
  const lines = new Set<number>();
  errors.forEach((e, i) => {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    const dump = TOKEN_DUMP.exec(e.message.split('\n')[0]);
    if (dump && i > 0) {return;}
    if (lines.has(line)) {return;}
    lines.add(line);
    const message = dump ? `unexpected ${dump[2]} here (check the indentation above)` : e.message.split('\n')[0];
    out.push(`${file}:${line}:${col}: ${message}`);
  });
  return out;
}

/** A parsed YAML file: the plain value and a way to find the line of any path in it. */
export interface SourceFile {
  readonly file: string;
  readonly value: unknown;
  /** `file:line` of the node at `path` (or of its nearest ancestor that has one). */
  at(path: ReadonlyArray<string | number>): string;
}

/** Parses YAML text; syntax errors (including duplicate keys) go to `problems` as `file:line: message`. */
export function parseYamlSource(file: string, text: string, problems: string[]): SourceFile | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const lines = new Map<string, number>();
  const lineOf = (node: { range?: [number, number, number] | null } | null | undefined): number | undefined =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;

  if (doc.errors.length > 0) {
    problems.push(...syntaxProblems(file, doc.errors, lineCounter));
    return undefined;
  }

  const walk = (node: unknown, path: Array<string | number>): unknown => {
    const key = path.join('/');
    const line = lineOf(node as Node);
    if (line !== undefined && !lines.has(key)) {lines.set(key, line);}
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        if (!isPair(pair)) {continue;}
        const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyLine = lineOf(pair.key as Node);
        if (keyLine !== undefined) {lines.set([...path, k].join('/'), keyLine);}
        out[k] = walk(pair.value, [...path, k]);
      }
      return out;
    }
    if (isSeq(node)) {return node.items.map((item, i) => walk(item, [...path, i]));}
    if (isScalar(node)) {return node.value;}
    return node ?? null;
  };
  const value = walk(doc.contents, []);
  return {
    file,
    value,
    at(path) {
      for (let n = path.length; n >= 0; n--) {
        const line = lines.get(path.slice(0, n).join('/'));
        if (line !== undefined) {return `${file}:${line}`;}
      }
      return `${file}:1`;
    },
  };
}
