/*
 * One pino root logger per process. Log lines carry ids, codes, counts and durations — never bundle content, HL7
 * text, NHS numbers or names (ARCHITECTURE invariant 4). Redaction is a second line of defence for headers that
 * identify people or carry secrets; the first is that no code passes PHI to the logger at all.
 *
 * Format: JSON lines wherever a machine reads them (files, journald, log shippers, pipes); pretty-printed with
 * pino-pretty when stdout is a terminal outside production, because that is a developer watching `npm start`.
 * LOG_FORMAT=json|pretty overrides. pino-pretty is a development dependency: a production install without it logs JSON.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

/** The format for this process: LOG_FORMAT when set, else pretty on a terminal outside production. */
export function logFormat(env: NodeJS.ProcessEnv = process.env, isTTY = process.stdout.isTTY === true): LogFormat {
  if (env.LOG_FORMAT === 'json' || env.LOG_FORMAT === 'pretty') {
    return env.LOG_FORMAT;
  }
  return isTTY && env.NODE_ENV !== 'production' ? 'pretty' : 'json';
}

/** A synchronous pino-pretty stream (no transport worker thread), or undefined when pino-pretty is not installed. */
function prettyStream(): DestinationStream | undefined {
  try {
    const pretty = createRequire(import.meta.url)('pino-pretty') as (options: object) => DestinationStream;
    return pretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  } catch {
    return undefined;
  }
}

/**
 * The test run routes every logger of its process into one sink (test/helpers/log-sink.ts sets this global) so that
 * its PHI check reads every line any component could log — a silent logger included, at debug level.
 */
const testCapture = (): DestinationStream | undefined => (globalThis as { __barsBridgeLogCapture?: DestinationStream }).__barsBridgeLogCapture;

export function createLogger(level: string, name = 'bars-bridge', format: LogFormat = logFormat()): Logger {
  const options = {
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["nhsd-end-user-organisation"]',
        'req.headers["nhsd-requesting-practitioner"]',
        'req.headers["nhsd-requesting-software"]',
        'req.headers["nhsd-target-identifier"]',
        'req.headers.cookie',
      ],
      censor: '[redacted]',
    },
  };
  const capture = testCapture();
  if (capture) {
    return pino({ ...options, level: level === 'silent' ? 'debug' : level }, capture);
  }
  const stream = format === 'pretty' ? prettyStream() : undefined;
  return stream ? pino(options, stream) : pino(options);
}
