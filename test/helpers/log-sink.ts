/*
 * Every log line written by a receiver started through the test harness is kept here, so the run can check at the
 * end that no line carries patient data from the fixtures (ARCHITECTURE invariant 4; issue 6: "a test greps every log
 * line of the whole test run for the fixtures' PHI values").
 */
import { Writable, type Readable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/logging.js';

// On globalThis: mocha loads the root hooks (test/setup.ts) through require and the tests through import, which can
// give this module two instances; the run-wide check must see every line.
const shared = globalThis as typeof globalThis & { __barsBridgeLogLines?: string[] };
export const logLines: string[] = (shared.__barsBridgeLogLines ??= []);

const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line) {
        logLines.push(line);
      }
    }
    done();
  },
});

// Every logger the code under test creates (src/logging.ts createLogger) writes here too.
(globalThis as { __barsBridgeLogCapture?: Writable }).__barsBridgeLogCapture = sink;

/** Keeps every line a child process prints (stdout and stderr), for the same check. */
export function captureChildOutput(child: { stdout?: Readable | null; stderr?: Readable | null }): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer | string) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      logLines.push(...lines.filter(Boolean));
    });
    stream?.on('end', () => rest && logLines.push(rest));
  }
}

/** A logger at debug level whose lines go to `logLines` (same redaction as production: built by createLogger's options). */
export function capturingLogger(): Logger {
  return pino({ level: 'debug', base: { pid: process.pid } }, sink);
}
