/*
 * A small pool of worker threads for FHIR XML conversion of large bodies (fhir-xml.ts), so that they cost the event
 * loop nothing but a string copy: eight concurrent 1 MB XML bodies on the event loop stalled every other request, the
 * admin plane's /healthz and a worker's lane lease for seconds. Workers start on the first XML request and stop after
 * a minute without one (a JSON-only deployment never loads the converter); a task whose request has already been
 * answered (408) or abandoned is dropped before it starts.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { XmlAnswer, XmlTask } from './xml-worker.js';
import { XmlRefusal } from './fhir-xml.js';

export interface XmlPoolOptions {
  readonly size?: number;
  readonly idleMs?: number;
}

interface Pending {
  readonly task: XmlTask;
  readonly stale: () => boolean;
  readonly resolve: (text: string) => void;
  readonly reject: (err: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  current?: Pending;
  idle?: NodeJS.Timeout;
}

// The worker runs the same build as this module: `.ts` under tsx (tests), `.js` when compiled.
const here = fileURLToPath(import.meta.url);
const WORKER_FILE = path.join(path.dirname(here), `xml-worker${path.extname(here)}`);

export class XmlPool {
  private readonly size: number;
  private readonly idleMs: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;

  constructor(options: XmlPoolOptions = {}) {
    // Two at most: the web process shares its cores with Redis and the acknowledgement path.
    this.size = options.size ?? Math.max(1, Math.min(2, availableParallelism() - 1));
    this.idleMs = options.idleMs ?? 60_000;
  }

  /**
   * Converts on a worker. Rejects with XmlRefusal for input that is not FHIR XML (the caller's 400), or Error when
   * the task was dropped or a worker failed.
   */
  run(op: XmlTask['op'], text: string, stale: () => boolean = () => false): Promise<string> {
    return new Promise((resolve, reject) => {
      this.queue.push({ task: { id: this.nextId++, op, text }, stale, resolve, reject });
      this.dispatch();
    });
  }

  /** Workers running now (tests). */
  get running(): number {
    return this.slots.length;
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    for (;;) {
      const next = this.queue[0];
      if (!next) {
        return;
      }
      if (next.stale()) {
        this.queue.shift();
        next.reject(new Error('XML conversion dropped: the request was already answered'));
        continue;
      }
      const slot = this.slots.find((s) => !s.current) ?? (this.slots.length < this.size ? this.spawn() : undefined);
      if (!slot) {
        return;
      }
      this.queue.shift();
      clearTimeout(slot.idle);
      slot.current = next;
      slot.worker.postMessage(next.task);
    }
  }

  private spawn(): Slot {
    const worker = WORKER_FILE.endsWith('.ts')
      ? // Under tsx (tests) the worker registers the TypeScript loader first: Node does not pass loader hooks to workers.
        new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(WORKER_FILE).href)}); })`, { eval: true })
      : new Worker(WORKER_FILE);
    // Idle workers never keep the process alive.
    worker.unref();
    const slot: Slot = { worker };
    worker.on('message', (answer: XmlAnswer) => {
      const done = slot.current;
      slot.current = undefined;
      if (done && done.task.id === answer.id) {
        if ('text' in answer) {
          done.resolve(answer.text);
        } else if ('refusal' in answer) {
          done.reject(new XmlRefusal(answer.refusal));
        } else {
          done.reject(new Error(`XML conversion failed: ${answer.failure}`));
        }
      }
      slot.idle = setTimeout(() => this.retire(slot), this.idleMs).unref();
      this.dispatch();
    });
    const gone = (err: Error): void => {
      this.retire(slot);
      slot.current?.reject(err);
      slot.current = undefined;
      this.dispatch();
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`XML worker exited (${code})`)));
    this.slots.push(slot);
    return slot;
  }

  private retire(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) {
      this.slots.splice(i, 1);
      clearTimeout(slot.idle);
      void slot.worker.terminate();
    }
  }
}
