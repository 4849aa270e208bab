/*
 * The set of loaded mappings the inbound processor selects from. A reload swaps in a new set only when every file of
 * it loads cleanly; after a broken edit the previous good set stays in use and the problems are reported.
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import type { StoredMessage } from '../bars/types.js';
import { MappingError } from './errors.js';
import { loadMappingSet } from './load.js';
import type { CompiledMapping } from './types.js';

/** Outcome of a reload: the new set is in use, or the old one was kept because of `problems`. */
export type ReloadResult =
  | { readonly ok: true; readonly mappings: number }
  | { readonly ok: false; readonly problems: readonly string[] };

/** True when `useCase` is selected by the mapping's list (exact codes or `a1t*` prefixes; empty list = all). */
export function useCaseMatches(patterns: readonly string[], useCase: string | undefined): boolean {
  if (patterns.length === 0) {return true;}
  if (useCase === undefined) {return false;}
  const u = useCase.toLowerCase();
  return patterns.some((p) => (p.endsWith('*') ? u.startsWith(p.slice(0, -1)) : u === p));
}

/** Loaded mappings, with selection by workflow/use case and hot reload. */
export class MappingRegistry {
  private current: readonly CompiledMapping[];

  /** Use `loadMappings(dir)`; this constructor takes an already loaded, problem-free set. */
  constructor(
    readonly dir: string,
    mappings: readonly CompiledMapping[],
  ) {
    this.current = mappings;
  }

  /** Every mapping in use, ordered by id. */
  get mappings(): readonly CompiledMapping[] {
    return this.current;
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

  /** Reads the directory again; swaps in the new set only if it has no problems. */
  reload(): ReloadResult {
    const result = loadMappingSet(this.dir);
    if (result.problems.length > 0) {return { ok: false, problems: result.problems };}
    this.current = sortById(result.mappings);
    return { ok: true, mappings: this.current.length };
  }

  /**
   * Reloads whenever a file under the directory changes (debounced), reporting each result to `onReload`.
   * Returns a function that stops watching.
   */
  watch(onReload: (result: ReloadResult) => void, debounceMs = 200): () => void {
    let timer: NodeJS.Timeout | undefined;
    const watcher: FSWatcher = fsWatch(this.dir, { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => onReload(this.reload()), debounceMs);
    });
    return () => {
      clearTimeout(timer);
      watcher.close();
    };
  }
}

function sortById(ms: readonly CompiledMapping[]): CompiledMapping[] {
  return [...ms].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Loads and compiles every mapping under `dir`; throws MappingError listing every `file:line` problem. */
export function loadMappings(dir: string): MappingRegistry {
  const result = loadMappingSet(dir);
  if (result.problems.length > 0) {throw new MappingError(`Invalid mappings in ${dir}`, result.problems);}
  return new MappingRegistry(dir, sortById(result.mappings));
}
