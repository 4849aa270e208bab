/*
 * The content hash of a mappings directory: what a hot reload compares, so that a reload happens exactly when a file
 * of the set changed (whatever the editor or `git pull` did to the inode), and the log can name the files and the set.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Files that make up a set: rules, fragments, tables, PAS event and response rules, golden cases. */
const SET_FILE = /\.(?:ya?ml|json|hl7|csv|error)$/;

/** Content hashes of every file of the set, by path relative to the directory (`/`-separated), and of the whole set. */
export interface SetHash {
  /** sha256 of the sorted (path, file hash) list; the first 12 hex digits are what the log shows. */
  readonly hash: string;
  readonly files: ReadonlyMap<string, string>;
}

function walk(dir: string, rel: string, out: Map<string, string>): void {
  let entries;
  try {
    entries = readdirSync(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return; // removed while we read: the next event reads again
  }
  for (const e of entries) {
    // Editor swap and backup files (.x.swp, x~) and hidden entries are not part of the set.
    if (e.name.startsWith('.') || e.name.endsWith('~')) {continue;}
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {walk(dir, r, out);}
    else if (SET_FILE.test(e.name)) {
      try {
        out.set(r, createHash('sha256').update(readFileSync(path.join(dir, r))).digest('hex'));
      } catch {
        // Removed between listing and reading.
      }
    }
  }
}

/** Hashes the set under `dir` (missing directory: an empty set). */
export function hashSet(dir: string): SetHash {
  const files = new Map<string, string>();
  walk(dir, '', files);
  const h = createHash('sha256');
  for (const name of [...files.keys()].sort()) {h.update(`${name}\0${files.get(name)}\n`);}
  return { hash: h.digest('hex'), files };
}

/** Files added, changed or removed between two hashes of a set, sorted, e.g. `_shared/pid.yaml (changed)`. */
export function changedFiles(before: SetHash, after: SetHash): string[] {
  const out: string[] = [];
  for (const [name, h] of after.files) {
    const was = before.files.get(name);
    if (was === undefined) {out.push(`${name} (added)`);}
    else if (was !== h) {out.push(`${name} (changed)`);}
  }
  for (const name of before.files.keys()) {if (!after.files.has(name)) {out.push(`${name} (removed)`);}}
  return out.sort();
}
