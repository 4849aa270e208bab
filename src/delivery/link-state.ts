/*
 * Per-destination link state (issue 16 items 2 and 9). STUB with the agreed signature: the `metrics` branch writes the
 * real recorder (the lane writes its connection outcomes to Redis, this reads them); that version wins at merge.
 */
import type { Redis } from 'ioredis';

export type LinkState = 'connected' | 'refusing' | 'ack-timeouts' | 'rejecting' | 'idle' | 'unknown';

export interface LinkStatus {
  readonly destination: string;
  readonly state: LinkState;
  /** ISO time the state was entered. */
  readonly since?: string;
  readonly lastAck?: { readonly code: string; readonly text?: string; readonly at: string };
  /** No PHI. */
  readonly lastError?: string;
  readonly delivered5m: number;
  readonly delivered1h: number;
}

export async function readLinkStatuses(_redis: Redis, _prefix: string, destinations: readonly string[]): Promise<LinkStatus[]> {
  return destinations.map((destination) => ({ destination, state: 'unknown', delivered5m: 0, delivered1h: 0 }));
}
