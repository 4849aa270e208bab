/*
 * The configuration of one bars-bridge instance. Environment first (12-factor, Procfile); the optional YAML file named
 * by BARS_CONFIG holds what does not fit in variables (slots, access policy lists, destinations). Validated once, all
 * problems reported together, then frozen (see load.ts). Every object is strict: a key it does not have is refused
 * with its path, since a misspelt key would otherwise leave the default silently in force. README "Configuration"
 * documents every key (test/unit/config-reference.test.ts keeps it in step).
 */
import { z } from 'zod';
import { USE_CASE_CODES } from '../protocol/bars/codes.js';
import { destinationsSchema } from './destinations.js';

const port = z.number().int().min(0).max(65535);

export const slotScheduleSchema = z.strictObject({
  /** HealthcareService id (path of Schedule.actor:HealthcareService) this schedule belongs to. */
  healthcareService: z.string().min(1),
  healthcareServiceName: z.string().default('Emergency Department'),
  /** DoS service id of the HealthcareService (identifier https://fhir.nhs.uk/Id/dos-service-id). */
  dosServiceId: z.string().optional(),
  locationName: z.string().default('Main site'),
  locationPostcode: z.string().optional(),
  practitionerRole: z.string().optional(),
  /** IANA zone whose wall clock the opening hours are in (slots are served with their UTC offset, spec §5.5). */
  timeZone: z.string().default('Europe/London'),
  /** Opening hours per weekday (0 = Sunday), "HH:MM-HH:MM". */
  hours: z.record(z.string(), z.string()).default({ '0': '08:00-20:00', '1': '08:00-20:00', '2': '08:00-20:00', '3': '08:00-20:00', '4': '08:00-20:00', '5': '08:00-20:00', '6': '08:00-20:00' }),
  slotMinutes: z.number().int().min(5).max(480).default(30),
  /** Free appointments per slot (Slot.status busy once that many are booked). */
  capacity: z.number().int().min(1).default(1),
  /** BaRS: "Booking Receivers must not default the Delivery Channel value"; we publish the one the trust configures. */
  deliveryChannel: z.enum(['in-person', 'telephone', 'video']).optional(),
  useCases: z.array(z.string()).default([]),
});
export type SlotSchedule = z.infer<typeof slotScheduleSchema>;

/** An ADMIN_TOKENS entry, `name:role:token` (ops/admin-auth.ts); the token may itself contain colons. */
export const ADMIN_TOKEN_ENTRY = /^([A-Za-z0-9._@-]{1,64}):(viewer|operator|admin):(\S{16,})$/;

export const configSchema = z.strictObject({
  env: z.enum(['development', 'production', 'test']),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  dataDir: z.string(),
  http: z.strictObject({
    host: z.string(),
    port,
    /** BaRS Processing-Times: all requests MUST take less than 5000 ms, else 408 REC_TIMEOUT. We answer before. */
    requestTimeoutMs: z.number().int().min(100).max(5000),
    bodyLimitBytes: z.number().int().min(1024),
    /** FHIR XML bodies above this are refused (413) before conversion, which costs ~25× the CPU of the same JSON. */
    xmlLimitBytes: z.number().int().min(1024),
    keepAliveTimeoutMs: z.number().int().min(1000),
    /** A connection that has not completed its TLS handshake by then is destroyed. */
    handshakeTimeoutMs: z.number().int().min(100),
    /** Connections the listener holds at once; more are closed as they arrive. */
    maxConnections: z.number().int().min(1),
  }),
  tls: z.strictObject({
    cert: z.string().optional(),
    key: z.string().optional(),
    ca: z.string().optional(),
    /** Optional allow-list: client certificate subject CNs or SHA-256 fingerprints (AA:BB:… or hex). Empty = any chain-valid cert. */
    allow: z.array(z.string()),
    /**
     * Production refuses an empty allow-list (any certificate the CA ever issued would get in: the NHS PKI issues to
     * every supplier) unless this says, on purpose, that the CA alone decides.
     */
    allowAnyClient: z.boolean(),
  }),
  redis: z.strictObject({
    url: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://'),
    /** Key prefix; braces make it a Redis Cluster hash tag so multi-key commands stay in one slot. */
    prefix: z.string().min(1),
    /** Dev only: start a private redis-server child when nothing answers at `url`. */
    embedded: z.boolean(),
    /** Answer 503 REC_UNAVAILABLE rather than wait longer than this for Redis. */
    commandTimeoutMs: z.number().int().min(50),
    /** REDIS_URL names one node of a Redis Cluster (keys share the prefix's hash tag, so one slot). */
    cluster: z.boolean(),
  }),
  admin: z.strictObject({
    port,
    host: z.string(),
    /** One operator credential named `admin`. */
    token: z.string().optional(),
    /** Named credentials `name:role:token` (role viewer, operator or admin; ops/admin-auth.ts). */
    tokens: z.array(z.string().regex(ADMIN_TOKEN_ENTRY, 'each entry is name:role:token, role viewer, operator or admin, token of at least 16 characters')),
    /** Host names requests may name besides loopback and IP literals (DNS-rebinding guard). */
    allowedHosts: z.array(z.string()),
  }),
  service: z.strictObject({
    /** DoS service ids this instance receives for (MessageHeader.destination.endpoint, NHSD-Target-Identifier). */
    ids: z.array(z.string().min(1)).min(1),
    odsCode: z.string().min(1),
    name: z.string().min(1),
    /** Public base URL of this receiver (used in CapabilityStatement.implementation.url and search links). */
    baseUrl: z.string().url(),
    /** System of our human-readable reference on the planned Encounter. */
    referenceSystem: z.string().url(),
    /** Prefix of that reference, e.g. `BB` → `BB-7Q3K9M`. */
    referencePrefix: z.string().regex(/^[A-Z0-9]{1,6}$/),
    /** Check that MessageHeader.destination.receiver is an Organization with our ODS code (off: TKW sends its own). */
    checkReceiverOds: z.boolean(),
  }),
  access: z.strictObject({
    /** NHSD-End-User-Organisation ODS codes allowed; empty = any. */
    odsCodes: z.array(z.string()),
    /** NHSD-Requesting-Software Device identifiers allowed; empty = any. */
    softwareIds: z.array(z.string()),
  }),
  bars: z.strictObject({
    /** Accepted major version of the Accept header's `version=` parameter (Versioning guide: majors are compatible). */
    apiMajor: z.number().int().min(1),
    /** Accepted major versions of Bundle.meta.versionId (the Application version the bundle complies with). */
    bundleMajors: z.array(z.number().int().min(0)).min(1),
    useCases: z.array(z.enum(USE_CASE_CODES)).min(1),
    /** `CodeSystem` (canonical) or `Codesystem` (the spelling of most published examples), spec §13.1. */
    errorCodeSystem: z.enum(['CodeSystem', 'Codesystem']),
    /** How long an X-Request-Id is remembered for duplicate detection (BaRS retries are within minutes). */
    idempotencyTtlSeconds: z.number().int().min(60),
  }),
  pas: z.strictObject({ host: z.string(), port, simulator: z.boolean() }),
  /** The MLLP listener for PAS-originated messages (src/flows/pas-events/listener.ts). */
  pasEvents: z.strictObject({
    /** false (PAS_EVENTS=off): no listener; then no sender list is needed in production. */
    enabled: z.boolean(),
    host: z.string().min(1),
    port,
    /** MLLP over TLS (PEM files); with `ca`, the PAS must present a client certificate that chains to it. */
    tls: z.strictObject({ cert: z.string().optional(), key: z.string().optional(), ca: z.string().optional() }),
    /** Accepted senders, `SendingApplication^SendingFacility` (first components of MSH-3 and MSH-4). */
    allow: z.array(z.string().regex(/^[^^\s][^^]*\^[^^]*$/, 'SendingApplication^SendingFacility, e.g. PAS^RXX')),
    /** A bigger frame is refused and its connection closed. */
    maxFrameBytes: z.number().int().min(1024),
    /** A connection with no traffic for this long is closed. */
    idleTimeoutMs: z.number().int().min(100),
    maxConnections: z.number().int().min(1),
    /** Events that changed nothing (no rule, no record of ours) and de-duplication markers are kept this long. */
    retentionDays: z.number().positive(),
  }),
  proxy: z.strictObject({
    url: z.string().url().optional(),
    tokenUrl: z.string().url().optional(),
    clientId: z.string().optional(),
    kid: z.string().optional(),
    /** PEM or a file path (RS512 signing key of the signed-JWT client assertion). */
    privateKey: z.string().optional(),
    /** Extra CA to trust for the proxy and token endpoint (PEM file), e.g. the NHS INT CA. */
    ca: z.string().optional(),
    /** Optional client certificate and key (PEM files) for the proxy. */
    clientCert: z.string().optional(),
    clientKey: z.string().optional(),
    /** Accept version= sent with responses. */
    acceptVersion: z.string().optional(),
  }),
  slots: z.array(slotScheduleSchema),
  /** Where mapped messages go (MLLP links, file drops); empty = one MLLP destination `pas` at pas.host:pas.port. */
  destinations: destinationsSchema,
  /** Mapping rule files (FHIRPath → HL7 v2 / flat file). */
  mappingsDir: z.string(),
  /**
   * Hot reload reads the mappings directory on every file event and also this often (0 = events only), for file
   * systems that deliver no events; a read that finds the same content hash does nothing.
   */
  mappingsPollSeconds: z.number().int().min(0),
  /** Queue policy files (delivery.yaml …). */
  queuesDir: z.string(),
  /**
   * Operational alerts (issue 6 §4): what ops watched in Mirth's dashboard, raised as log events and the
   * `bars_bridge_alert` gauge on change of state only. See src/ops/alerts.ts.
   */
  alerts: z.strictObject({
    enabled: z.boolean(),
    /** How often the rules are evaluated. */
    intervalSeconds: z.number().min(1),
    /** A lane's head message (oldest undelivered) older than this: the PAS is down or refusing. */
    laneHeadMaxAgeSeconds: z.number().int().min(1),
    /** Dead letters (delivery, responses, mapping failures) above this count fire. */
    deadLettersAbove: z.number().int().min(0),
    /** Response dead letters and mapping failures have no replay/drop tool yet: only those newer than this count. */
    deadLetterWindowHours: z.number().min(1),
    /** Share of listener answers that are 5xx (501 excluded) over the window above which the alert fires. */
    errorRate: z.number().min(0).max(1),
    errorWindowSeconds: z.number().int().min(15),
    /** Fewer answers than this in the window never fire (one 503 out of two requests is not an incident). */
    errorMinRequests: z.number().int().min(1),
    /** Fire when Redis is unreachable or not durable (AOF off or an eviction policy other than noeviction). */
    redisDurability: z.boolean(),
    /** Server (and proxy client) certificate expiring within this many days. */
    certExpiryDays: z.number().min(0),
    /**
     * Each change of alert state is also POSTed here as JSON (Alertmanager webhook shape plus a `text` line for
     * Slack/Teams gateways), with retries; see src/ops/alert-webhook.ts. https:// only in production.
     */
    webhookUrl: z.string().url().optional(),
  }),
  /**
   * Retention of stored messages (issue 6 §6). BaRS: every version of a booking or referral must be kept, including
   * cancellations, so only records that are no longer current and untouched for `messagesDays` are pruned.
   */
  retention: z.strictObject({
    enabled: z.boolean(),
    messagesDays: z.number().min(1),
    /** Stored messages examined per tick (small, so the listener never waits behind the pruner). */
    batchSize: z.number().int().min(1).max(1000),
    /** Pause between ticks while a pass is running. */
    tickMs: z.number().int().min(10),
    /** Pause between passes once every old message has been examined. */
    passIntervalSeconds: z.number().int().min(1),
    /** Keep `bundle:<Bundle.id>` markers of pruned messages so a reused Bundle.id is still refused (a few bytes each). */
    keepBundleIds: z.boolean(),
    /** Audit entries (trace look-ups, dead-letter replays and drops) older than this are removed by the retention pass. */
    auditDays: z.number().int().min(1),
  }),
});

export type Config = z.infer<typeof configSchema>;
