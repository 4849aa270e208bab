/*
 * Where delivery sends mapped messages: an HL7 v2 PAS link over MLLP, or a directory a legacy system polls (file
 * drop). One destination = one ordered lane (see lanes.ts).
 *
 * Default ACK policy (HL7 table 0008), agreed per PAS with its interface team and overridable per destination:
 *   AE → retry        application error: often transient on the PAS side (record locked, service restarting)
 *   AR → dead-letter  application reject: the PAS refuses this message; resending the same bytes cannot help
 *   CE → retry        enhanced-mode commit error: the PAS could not store it yet
 *   CR → dead-letter  enhanced-mode commit reject
 * 'hold' keeps the message at the head of its lane and retries it forever (Mirth's "queue always, never rotate"),
 * ignoring the policy file's maxAttempts: for PASs where skipping a message would corrupt later ones.
 * AA and CA are success. ACK timeouts, lost connections and mismatched ACKs are retried with the SAME MSH-10.
 */
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { z } from 'zod';
import type { MllpClientOptions } from '../protocol/hl7/mllp-client.js';

/** What a negative acknowledgement does to the head message of a lane. */
export const ackActionSchema = z.enum(['retry', 'dead-letter', 'hold']);
/** One of retry / dead-letter / hold. */
export type AckAction = z.infer<typeof ackActionSchema>;

/** The default ACK policy (see the file header for why). */
export const DEFAULT_ACK_POLICY = { AE: 'retry', AR: 'dead-letter', CE: 'retry', CR: 'dead-letter' } as const;

/** Destination names become part of Redis keys and BullMQ queue names: no ':' and nothing exotic. */
const nameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, - and _ only');

const tlsSchema = z
  .object({
    /** PEM file paths. */
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    servername: z.string().optional(),
    rejectUnauthorized: z.boolean().default(true),
  })
  .strict();

/** An HL7 v2 destination reached over MLLP. */
export const mllpDestinationSchema = z
  .object({
    name: nameSchema,
    kind: z.literal('mllp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    tls: tlsSchema.optional(),
    connectTimeoutMs: z.number().int().positive().default(5000),
    /** Mirth's responseTimeout default is 5000 ms; a PAS under load may need more. */
    ackTimeoutMs: z.number().int().positive().default(30000),
    keepAlive: z.boolean().default(true),
    reconnect: z
      .object({ initialMs: z.number().int().positive().default(500), maxMs: z.number().int().positive().default(30000) })
      .strict()
      .default({ initialMs: 500, maxMs: 30000 }),
    ackPolicy: z
      .object({
        AE: ackActionSchema.default(DEFAULT_ACK_POLICY.AE),
        AR: ackActionSchema.default(DEFAULT_ACK_POLICY.AR),
        CE: ackActionSchema.default(DEFAULT_ACK_POLICY.CE),
        CR: ackActionSchema.default(DEFAULT_ACK_POLICY.CR),
      })
      .strict()
      .default(DEFAULT_ACK_POLICY),
    encoding: z.enum(['utf8', 'latin1', 'ascii']).default('utf8'),
  })
  .strict();

/** A directory drop: each message becomes one file, written under a temporary name then renamed. */
export const fileDestinationSchema = z
  .object({
    name: nameSchema,
    kind: z.literal('file'),
    directory: z.string().min(1),
    /** `{controlId}`, `{messageId}`, `{destination}`, `{timestamp}` are replaced; e.g. `{controlId}.hl7`. */
    fileNamePattern: z.string().min(1).default('{controlId}.hl7'),
    /** fsync the file before the rename and the directory after it, so a power cut cannot lose an ACKed drop. */
    fsync: z.boolean().default(true),
  })
  .strict();

/** Any destination (discriminated on `kind`). */
export const destinationSchema = z.discriminatedUnion('kind', [mllpDestinationSchema, fileDestinationSchema]);
/** A list of destinations with unique names. */
export const destinationsSchema = z
  .array(destinationSchema)
  .refine((list) => new Set(list.map((d) => d.name)).size === list.length, 'destination names must be unique');

export type MllpDestination = z.infer<typeof mllpDestinationSchema>;
export type FileDestination = z.infer<typeof fileDestinationSchema>;
export type Destination = z.infer<typeof destinationSchema>;
/** What a destination's config file may say before defaults are applied. */
export type DestinationInput = z.input<typeof destinationSchema>;

/** Validates destination config, reporting every problem at once (throws ZodError). */
export function parseDestinations(input: unknown): Destination[] {
  return destinationsSchema.parse(input);
}

/** MLLP client options for a destination (reads TLS PEM files now, so a bad path fails at start-up). */
export function mllpClientOptions(destination: MllpDestination): MllpClientOptions {
  let tlsOptions: tls.ConnectionOptions | undefined;
  if (destination.tls) {
    const { ca, cert, key, servername, rejectUnauthorized } = destination.tls;
    tlsOptions = {
      ...(ca ? { ca: readFileSync(ca) } : {}),
      ...(cert ? { cert: readFileSync(cert) } : {}),
      ...(key ? { key: readFileSync(key) } : {}),
      ...(servername ? { servername } : {}),
      rejectUnauthorized,
    };
  }
  return {
    host: destination.host,
    port: destination.port,
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    connectTimeoutMs: destination.connectTimeoutMs,
    ackTimeoutMs: destination.ackTimeoutMs,
    keepAlive: destination.keepAlive,
    reconnect: destination.reconnect,
    encoding: destination.encoding,
  };
}

/** Configured destinations, or the one PAS link of PAS_MLLP_HOST/PAS_MLLP_PORT. */
export function destinationsOf(config: { readonly destinations: readonly Destination[]; readonly pas: { readonly host: string; readonly port: number } }): Destination[] {
  return config.destinations.length > 0
    ? [...config.destinations]
    : parseDestinations([{ name: 'pas', kind: 'mllp', host: config.pas.host, port: config.pas.port }]);
}
