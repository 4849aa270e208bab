/*
 * The real-time path: one SQM^S25 schedule query to the PAS over MLLP, answered by SQR^S25, inside the GET /Slot time
 * budget (BaRS APP1: slots "real-time without caching by either Senders or Receivers"). One short-lived connection per
 * query with a hard deadline; any failure (refused, timeout, AE/AR, unreadable answer) is reported to the caller,
 * which falls back to the mirror and says so.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MllpClient } from '../../protocol/hl7/mllp-client.js';
import type { MllpDestination } from '../../config/destinations.js';
import { buildSlotQuery, readSlotAnswer, type DiaryAppointment, type DiaryReading } from './schedule-hl7.js';

export class SlotQueryError extends Error {
  constructor(readonly reason: 'timeout' | 'unreachable' | 'refused' | 'unreadable', message: string) {
    super(message);
    this.name = 'SlotQueryError';
  }
}

/** Asks the PAS which time of `clinic` is held in [fromMs, toMs]. Rejects with SlotQueryError. */
export async function querySlots(
  destination: MllpDestination,
  reading: DiaryReading,
  q: { clinic: string; fromMs: number; toMs: number; timeoutMs: number; limit: number },
): Promise<DiaryAppointment[]> {
  const controlId = `Q${randomUUID().replace(/-/g, '').slice(0, 19)}`;
  const t = destination.tls;
  const client = new MllpClient({
    host: destination.host,
    port: destination.port,
    ...(t
      ? {
          tls: {
            ...(t.ca ? { ca: readFileSync(t.ca) } : {}),
            ...(t.cert ? { cert: readFileSync(t.cert) } : {}),
            ...(t.key ? { key: readFileSync(t.key) } : {}),
            ...(t.servername ? { servername: t.servername } : {}),
            rejectUnauthorized: t.rejectUnauthorized,
          },
        }
      : {}),
    connectTimeoutMs: q.timeoutMs,
    ackTimeoutMs: q.timeoutMs,
    keepAlive: false,
    reconnect: { initialMs: q.timeoutMs, maxMs: q.timeoutMs },
    encoding: destination.encoding,
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SlotQueryError('timeout', `no answer within ${q.timeoutMs} ms`)), q.timeoutMs);
  });
  try {
    const text = buildSlotQuery({ controlId, clinic: q.clinic, fromMs: q.fromMs, toMs: q.toMs, now: Date.now(), limit: q.limit });
    const ack = await Promise.race([client.send(text, controlId), deadline]).catch((err: unknown) => {
      throw err instanceof SlotQueryError ? err : new SlotQueryError('unreachable', (err as Error).message);
    });
    if (ack.code !== 'AA' && ack.code !== 'CA') {
      throw new SlotQueryError('refused', `the PAS answered ${ack.code}`);
    }
    const answer = readSlotAnswer(ack.raw, reading, q.clinic);
    if (answer.status !== 'OK' && answer.status !== 'NF') {
      throw new SlotQueryError('refused', `query status ${answer.status.slice(0, 8)}`);
    }
    return [...answer.held];
  } finally {
    clearTimeout(timer);
    void client.close().catch(() => undefined);
  }
}
