/*
 * Watches a directory tree for any change, in a way that survives every kind of save. Node 20's `fs.watch(dir,
 * { recursive: true })` on Linux watches each FILE it found: once a file is replaced by rename (`sed -i`, `git pull`,
 * editors that write a temporary file and rename it) the watch stays on the old inode and later saves are never seen.
 * Watching each DIRECTORY instead (one non-recursive inotify watch per directory) sees creates, writes and renames of
 * any entry in it, whatever the inode. Directories are listed again after every event, so new subdirectories are
 * watched too. A slow poll backs this up for file systems that deliver no events (network mounts, some container
 * bind mounts) or drop them (inotify queue overflow); the caller compares content hashes, so extra calls cost a hash.
 */
import { readdirSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

export interface WatchOptions {
  /** Quiet time after the last event before `onChange` runs (a save is several events). */
  readonly debounceMs: number;
  /** Also call `onChange` this often regardless of events; 0 = never. */
  readonly pollMs: number;
}

function directories(root: string): string[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const e of readdirSync(out[i], { withFileTypes: true })) {
        if (e.isDirectory() && !e.name.startsWith('.')) {out.push(path.join(out[i], e.name));}
      }
    } catch {
      // Removed while listing.
    }
  }
  return out;
}

/** Calls `onChange` (debounced) after anything under `root` changes, and every `pollMs`. Returns a stop function. */
export function watchTree(root: string, onChange: () => void, opts: WatchOptions): () => void {
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const fire = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (stopped) {return;}
      sync();
      onChange();
    }, opts.debounceMs);
  };
  const sync = (): void => {
    const now = new Set(directories(root));
    for (const [dir, w] of watchers) {
      if (!now.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of now) {
      if (watchers.has(dir)) {continue;}
      try {
        const w = watch(dir, { persistent: false }, fire);
        // A watched directory that is removed errors on some platforms; the next sync drops it.
        w.on('error', () => {
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch {
        // Gone already.
      }
    }
  };
  sync();
  const poll = opts.pollMs > 0 ? setInterval(fire, opts.pollMs) : undefined;
  poll?.unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearInterval(poll);
    for (const w of watchers.values()) {w.close();}
    watchers.clear();
  };
}
