/*
 * What a started part of the service gives back, and how the service stops: everything started is pushed on a stack
 * and stopped in reverse order, each step bounded by a timeout (style anchors §15: graceful shutdown in reverse order
 * of start-up). A part that does not stop in time is logged and skipped, so one stuck client cannot hold the rest.
 */
import type { Logger } from './logging.js';

/** A started part of the service. */
export interface Stoppable {
  stop(): Promise<unknown>;
}

interface Entry {
  readonly name: string;
  readonly stop: () => Promise<unknown>;
}

/** Things to stop, last started first. */
export class StopStack {
  private readonly entries: Entry[] = [];

  push(name: string, part: Stoppable | (() => Promise<unknown>)): void {
    this.entries.push({ name, stop: typeof part === 'function' ? part : () => part.stop() });
  }

  async stopAll(log: Logger, timeoutMs: number): Promise<void> {
    while (this.entries.length > 0) {
      const item = this.entries.pop()!;
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
      const result = await Promise.race([item.stop().then(() => 'ok' as const, () => 'error' as const), timer]);
      if (result !== 'ok') {
        log.warn({ component: item.name, result }, 'component did not stop cleanly');
      }
    }
  }
}

/**
 * SIGTERM/SIGINT handling of a long-running process (`bars-bridge start`, the shutdown test's child): stop in reverse
 * start-up order, bounded by `timeoutMs` overall; exit 0 when everything stopped, 1 when the bound was hit (the
 * platform would SIGKILL us next anyway, and a crash is safe: stalled lane jobs go back to the head of their lane).
 */
export function shutdownOnSignals(running: { readonly log: Logger; stop(): Promise<void> }, options: { timeoutMs?: number; exit?: (code: number) => void } = {}): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    const startedAt = Date.now();
    running.log.info({ signal }, 'shutdown started');
    const bound = setTimeout(() => {
      running.log.error({ signal, ms: Date.now() - startedAt }, 'shutdown timed out; exiting');
      exit(1);
    }, options.timeoutMs ?? 25_000);
    bound.unref();
    void running.stop().then(() => {
      clearTimeout(bound);
      running.log.info({ ms: Date.now() - startedAt }, 'shutdown complete');
      exit(0);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** Runs `handler` on SIGHUP until stopped (certificate and mapping reloads). */
export function onSighup(handler: () => void): Stoppable {
  process.on('SIGHUP', handler);
  return { stop: async () => void process.off('SIGHUP', handler) };
}
