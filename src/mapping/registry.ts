/*
 * The set of loaded mappings the inbound processor selects from. A reload swaps in a new set only when every file of
 * it loads cleanly (which includes the structure check) and every golden case under `tests/` renders as expected;
 * otherwise the previous set stays in use and the problems are reported. Reloads are decided by content: the set's
 * hash (set-hash.ts) is compared, so an event that changed nothing does nothing, and a log line names the files that
 * changed and the hash of the set in use.
 */
import type { StoredMessage } from '../protocol/bars/types.js';
import { MappingError } from './errors.js';
import { goldenProblems } from './golden.js';
import { loadMappingSet } from './load.js';
import { changedFiles, hashSet, type SetHash } from './set-hash.js';
import type { CompiledMapping } from './types.js';
import { watchTree } from './watch-dir.js';

/**
 * Outcome of a reload: `unchanged` (same content as the set in use), `reloaded` (the new set is in use) or `rejected`
 * (the previous set is kept because of `problems`). `hash` is always the set in use; `changed` lists the files that
 * differ from it (`_shared/pid.yaml (changed)`).
 */
export type ReloadResult =
  | { readonly ok: true; readonly outcome: 'unchanged' | 'reloaded'; readonly mappings: number; readonly hash: string; readonly changed: readonly string[] }
  | {
      readonly ok: false;
      readonly outcome: 'rejected';
      readonly problems: readonly string[];
      readonly hash: string;
      readonly candidate: string;
      readonly changed: readonly string[];
      /** The same content was refused by the reload before (the watcher does not report it again). */
      readonly again: boolean;
    };

/** True when `useCase` is selected by the mapping's list (exact codes or `a1t*` prefixes; empty list = all). */
export function useCaseMatches(patterns: readonly string[], useCase: string | undefined): boolean {
  if (patterns.length === 0) {return true;}
  if (useCase === undefined) {return false;}
  const u = useCase.toLowerCase();
  return patterns.some((p) => (p.endsWith('*') ? u.startsWith(p.slice(0, -1)) : u === p));
}

/** Options of `watch`: debounce after the last file event, and a poll that backs up the events (0 = none). */
export interface RegistryWatchOptions {
  readonly debounceMs?: number;
  readonly pollMs?: number;
}

/** Loaded mappings, with selection by workflow/use case and hot reload. */
export class MappingRegistry {
  private current: readonly CompiledMapping[];
  private active: SetHash;
  /** Hash of the last set refused, so that a broken edit left in place is reported once, not at every poll. */
  private refused: string | undefined;

  /** Use `loadMappings(dir)`; this constructor takes an already loaded, problem-free set and its hash. */
  constructor(
    readonly dir: string,
    mappings: readonly CompiledMapping[],
    active: SetHash = hashSet(dir),
  ) {
    this.current = mappings;
    this.active = active;
  }

  /** Every mapping in use, ordered by id. */
  get mappings(): readonly CompiledMapping[] {
    return this.current;
  }

  /** sha256 of the files of the set in use (set-hash.ts). */
  get hash(): string {
    return this.active.hash;
  }

  /** The mapping with this id, if loaded. */
  get(id: string): CompiledMapping | undefined {
    return this.current.find((m) => m.id === id);
  }

  /**
   * The mappings that apply to a message: those listing its workflow and (if they restrict it) its use case, ordered
   * by id. Empty for workflows with no PAS mapping (the `response-*` workflows).
   */
  select(msg: StoredMessage): CompiledMapping[] {
    return this.current.filter((m) => m.workflows.includes(msg.workflow) && useCaseMatches(m.useCases, msg.useCase));
  }

  /** Reads the directory again if its content changed; swaps in the new set only if it loads and passes its golden cases. */
  reload(): ReloadResult {
    const candidate = hashSet(this.dir);
    const changed = changedFiles(this.active, candidate);
    if (candidate.hash === this.active.hash) {return { ok: true, outcome: 'unchanged', mappings: this.current.length, hash: this.active.hash, changed };}
    const result = checkedSet(this.dir);
    if (result.problems.length > 0) {
      const again = this.refused === candidate.hash;
      this.refused = candidate.hash;
      return { ok: false, outcome: 'rejected', problems: result.problems, hash: this.active.hash, candidate: candidate.hash, changed, again };
    }
    this.refused = undefined;
    this.current = result.mappings;
    // The hash of what was read: a save during the load is seen as a change by the next event or poll.
    this.active = candidate;
    return { ok: true, outcome: 'reloaded', mappings: this.current.length, hash: this.active.hash, changed };
  }

  /**
   * Reloads whenever anything under the directory changes (watch-dir.ts: directory watches, so rename-saves and
   * in-place saves are both seen, plus a poll), reporting each reload that found a change to `onReload` (a refused
   * set once: the poll does not report the same broken content again).
   * Returns a function that stops watching.
   */
  watch(onReload: (result: ReloadResult) => void, opts: RegistryWatchOptions = {}): () => void {
    return watchTree(
      this.dir,
      () => {
        const r = this.reload();
        if (r.outcome !== 'unchanged' && !(r.outcome === 'rejected' && r.again)) {onReload(r);}
      },
      { debounceMs: opts.debounceMs ?? 200, pollMs: opts.pollMs ?? 0 },
    );
  }
}

function sortById(ms: readonly CompiledMapping[]): CompiledMapping[] {
  return [...ms].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Loads the set and, when it loads, runs its golden cases against it (before anything uses it). */
function checkedSet(dir: string): { mappings: CompiledMapping[]; problems: string[] } {
  const result = loadMappingSet(dir);
  if (result.problems.length > 0) {return { mappings: [], problems: [...result.problems] };}
  const mappings = sortById(result.mappings);
  const problems = goldenProblems({ get: (id) => mappings.find((m) => m.id === id) }, dir);
  return { mappings, problems };
}

/**
 * Loads and compiles every mapping under `dir`; throws MappingError listing every `file:line` problem. For tools
 * (`map`, `mappings test`), which must load a set whose golden cases fail in order to show why.
 */
export function loadMappings(dir: string): MappingRegistry {
  const result = loadMappingSet(dir);
  if (result.problems.length > 0) {throw new MappingError(`Invalid mappings in ${dir}`, result.problems);}
  return new MappingRegistry(dir, sortById(result.mappings));
}

/**
 * Loads the set a worker runs with: as `loadMappings`, and its golden cases must pass (the same rule as a hot
 * reload, so a set that would be refused on reload does not start either).
 */
export function loadLiveMappings(dir: string): MappingRegistry {
  const before = hashSet(dir);
  const result = checkedSet(dir);
  if (result.problems.length > 0) {throw new MappingError(`Invalid mappings in ${dir}`, result.problems);}
  return new MappingRegistry(dir, result.mappings, before);
}
