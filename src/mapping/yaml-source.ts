/*
 * Reads a YAML rule file into plain values while remembering the line of every node, so that every problem the
 * loader finds can be reported as `file:line: what is wrong` (the `yaml` package's node ranges and LineCounter).
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

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
    for (const e of doc.errors) {
      const line = e.linePos?.[0]?.line ?? 1;
      problems.push(`${file}:${line}: ${e.message.split('\n')[0]}`);
    }
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
