/*
 * One pino root logger per process. Log lines carry ids, codes, counts and durations — never bundle content, HL7
 * text, NHS numbers or names (ARCHITECTURE invariant 4). Redaction is a second line of defence for headers that
 * identify people or carry secrets; the first is that no code passes PHI to the logger at all.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'bars-bridge'): Logger {
  return pino({
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
  });
}
