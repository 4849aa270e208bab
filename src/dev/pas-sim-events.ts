/*
 * PAS-originated messages for demos and tests: the PAS simulator can send these back to bars-bridge's PAS events
 * listener, as a real PAS would when a patient arrives (ADT^A04 register a patient / arrival). Synthetic data only.
 * The simulator's sender is `PAS^RXX` (MSH-3^MSH-4), the development default of PAS_EVENTS_ALLOW.
 */
import type tls from 'node:tls';
import { MllpClient, type AckResult } from '../protocol/hl7/mllp-client.js';
import { hl7Timestamp } from '../protocol/hl7/ack.js';

/** Fields of a synthetic arrival. */
export interface ArrivalSpec {
  readonly controlId: string;
  /** PID-3 identifier (a synthetic NHS number in tests). */
  readonly patientId: string;
  /** PV1-19 Visit Number, which bars-bridge sent to the PAS for the booking. */
  readonly visitNumber: string;
  readonly now?: Date;
  /** MSH-3 / MSH-4 (default PAS / RXX). */
  readonly sendingApplication?: string;
  readonly sendingFacility?: string;
  /** MSH-9 (default ADT^A04^ADT_A01), e.g. ADT^A03^ADT_A03 for a discharge with the same fields. */
  readonly messageType?: string;
}

/** Builds `NAME|f1|f2|…` with the given 1-based fields set and the rest empty. */
function segment(name: string, fields: Record<number, string>): string {
  const last = Math.max(...Object.keys(fields).map(Number));
  const parts = [name];
  for (let n = 1; n <= last; n += 1) {
    parts.push(fields[n] ?? '');
  }
  return parts.join('|');
}

/** Builds an ADT^A04 (register a patient: arrival) from the PAS to bars-bridge (or another ADT of the same shape). */
export function buildArrivalA04(spec: ArrivalSpec): string {
  const ts = hl7Timestamp(spec.now ?? new Date());
  return (
    [
      `MSH|^~\\&|${spec.sendingApplication ?? 'PAS'}|${spec.sendingFacility ?? 'RXX'}|BARS|RXX|${ts}||${spec.messageType ?? 'ADT^A04^ADT_A01'}|${spec.controlId}|P|2.4`,
      `EVN|${(spec.messageType ?? 'ADT^A04').split('^')[1] ?? ''}|${ts}`,
      `PID|1||${spec.patientId}^^^NHS^NH||TEST^PATIENT`,
      segment('PV1', { 1: '1', 2: 'E', 19: spec.visitNumber, 44: ts }),
    ].join('\r') + '\r'
  );
}

/**
 * Sends one PAS event to an MLLP listener and waits for its ACK.
 * @param target - host and port of the listener (bars-bridge `PAS_EVENTS_PORT`).
 * @param text - the HL7 message.
 * @param controlId - its MSH-10.
 */
export async function sendPasEvent(
  target: { host: string; port: number; tls?: tls.ConnectionOptions },
  text: string,
  controlId: string,
  ackTimeoutMs = 5000,
): Promise<AckResult> {
  const client = new MllpClient({
    host: target.host,
    port: target.port,
    ...(target.tls ? { tls: target.tls } : {}),
    connectTimeoutMs: 2000,
    ackTimeoutMs,
    keepAlive: false,
    reconnect: { initialMs: 100, maxMs: 1000 },
  });
  try {
    return await client.send(text, controlId);
  } finally {
    await client.close();
  }
}
