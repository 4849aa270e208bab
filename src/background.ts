/*
 * The background loops the invariants rest on — the pending-enqueue sweeper and the sequencer flusher (nothing
 * acknowledged is lost, receipt order is kept), the response lane sweeper — run here. A failing pass is logged (its
 * error message and the loop's name, never message content) and counted in `bars_bridge_background_failures_total`,
 * so a sweeper that fails every time is visible on a dashboard and in the logs instead of silently doing nothing.
 * Passes never overlap: a slow pass delays the next instead of stacking up behind it.
 */
import type { Counter } from 'prom-client';
import type { Logger } from './logging.js';
import type { Stoppable } from './lifecycle.js';

export interface LoopDeps {
  readonly log: Logger;
  readonly failures?: Counter<'loop'>;
}

/** Reports a failed background pass (also used for one-off background work such as releasing a sequence number). */
export function reportFailure(deps: LoopDeps, loop: string, err: unknown): void {
  deps.failures?.inc({ loop });
  deps.log.error({ loop, err: { message: err instanceof Error ? err.message : String(err) } }, 'background work failed; it is retried on the next pass');
}

/** Runs `pass` every `intervalMs` (first after one interval) until stopped; a stop waits for the pass in flight. */
export function every(loop: string, intervalMs: number, pass: () => Promise<unknown>, deps: LoopDeps): Stoppable {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) {
      return;
    }
    running = pass()
      .catch((err: unknown) => reportFailure(deps, loop, err))
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  // The loop never keeps a process alive on its own: the process stops it (StopStack) or exits.
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
