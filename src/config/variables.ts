/*
 * Every environment variable bars-bridge reads, in one table: the configuration loader reads its variables from here
 * (load.ts), and the same table is the list of known names against which the environment is checked at start-up, so
 * a misspelt `BARS_TSL_CERT` is reported instead of silently leaving the default in place. README "Configuration"
 * documents each row (test/unit/config-reference.test.ts keeps the two in step, and checks that nothing in src/,
 * bin/, bench/ or test/ reads a variable missing here).
 */

/** How a variable's text becomes a configuration value. `list` is comma-separated, blanks dropped. */
export type VariableType = 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'enum';

export interface Variable {
  readonly name: string;
  readonly type: VariableType;
  /** The configuration key (schema path, e.g. `http.port`) the loader sets from it. */
  readonly key?: string;
  /** Where it is read when the loader does not put it in the configuration. */
  readonly readBy?: string;
}

/** Prefixes that mark a variable as ours: an unknown name with one of them is a mistake worth reporting. */
export const OUR_PREFIXES = ['BARS_', 'PAS_', 'ADMIN_', 'REDIS_'] as const;

export const VARIABLES: readonly Variable[] = [
  // Read by the loader itself (they choose the mode and the file rather than one key).
  { name: 'NODE_ENV', type: 'enum', key: 'env' },
  { name: 'BARS_CONFIG', type: 'string', readBy: 'src/config/load.ts (the YAML file)' },
  { name: 'LOG_LEVEL', type: 'enum', key: 'logLevel' },

  { name: 'BARS_HOST', type: 'string', key: 'http.host' },
  { name: 'BARS_PORT', type: 'integer', key: 'http.port' },
  { name: 'BARS_REQUEST_TIMEOUT_MS', type: 'integer', key: 'http.requestTimeoutMs' },
  { name: 'BARS_TLS_HANDSHAKE_TIMEOUT_MS', type: 'integer', key: 'http.handshakeTimeoutMs' },
  { name: 'BARS_MAX_CONNECTIONS', type: 'integer', key: 'http.maxConnections' },
  { name: 'BARS_XML_LIMIT_BYTES', type: 'integer', key: 'http.xmlLimitBytes' },
  { name: 'BARS_TLS_CERT', type: 'string', key: 'tls.cert' },
  { name: 'BARS_TLS_KEY', type: 'string', key: 'tls.key' },
  { name: 'BARS_TLS_CA', type: 'string', key: 'tls.ca' },
  { name: 'BARS_TLS_ALLOW', type: 'list', key: 'tls.allow' },
  { name: 'BARS_TLS_ALLOW_ANY_CLIENT', type: 'boolean', key: 'tls.allowAnyClient' },

  { name: 'REDIS_URL', type: 'string', key: 'redis.url' },
  { name: 'REDIS_PREFIX', type: 'string', key: 'redis.prefix' },
  { name: 'BARS_EMBEDDED_REDIS', type: 'boolean', key: 'redis.embedded' },
  { name: 'REDIS_CLUSTER', type: 'boolean', key: 'redis.cluster' },

  { name: 'ADMIN_HOST', type: 'string', key: 'admin.host' },
  { name: 'ADMIN_PORT', type: 'integer', key: 'admin.port' },
  { name: 'ADMIN_TOKEN', type: 'string', key: 'admin.token' },
  { name: 'ADMIN_TOKENS', type: 'list', key: 'admin.tokens' },
  { name: 'ADMIN_ALLOWED_HOSTS', type: 'list', key: 'admin.allowedHosts' },

  { name: 'BARS_SERVICE_ID', type: 'list', key: 'service.ids' },
  { name: 'BARS_ODS_CODE', type: 'string', key: 'service.odsCode' },
  { name: 'BARS_SERVICE_NAME', type: 'string', key: 'service.name' },
  { name: 'BARS_REFERENCE_SYSTEM', type: 'string', key: 'service.referenceSystem' },
  { name: 'BARS_BASE_URL', type: 'string', key: 'service.baseUrl' },
  { name: 'BARS_ALLOWED_ODS', type: 'list', key: 'access.odsCodes' },
  { name: 'BARS_ALLOWED_SOFTWARE', type: 'list', key: 'access.softwareIds' },
  { name: 'BARS_ERROR_CODE_SYSTEM', type: 'enum', key: 'bars.errorCodeSystem' },

  { name: 'PAS_MLLP_HOST', type: 'string', key: 'pas.host' },
  { name: 'PAS_MLLP_PORT', type: 'integer', key: 'pas.port' },
  { name: 'PAS_SIMULATOR', type: 'boolean', key: 'pas.simulator' },
  { name: 'PAS_EVENTS', type: 'boolean', key: 'pasEvents.enabled' },
  { name: 'PAS_EVENTS_HOST', type: 'string', key: 'pasEvents.host' },
  { name: 'PAS_EVENTS_PORT', type: 'integer', key: 'pasEvents.port' },
  { name: 'PAS_EVENTS_TLS_CERT', type: 'string', key: 'pasEvents.tls.cert' },
  { name: 'PAS_EVENTS_TLS_KEY', type: 'string', key: 'pasEvents.tls.key' },
  { name: 'PAS_EVENTS_TLS_CA', type: 'string', key: 'pasEvents.tls.ca' },
  { name: 'PAS_EVENTS_ALLOW', type: 'list', key: 'pasEvents.allow' },
  { name: 'PAS_EVENTS_MAX_FRAME_BYTES', type: 'integer', key: 'pasEvents.maxFrameBytes' },
  { name: 'PAS_EVENTS_IDLE_TIMEOUT_MS', type: 'integer', key: 'pasEvents.idleTimeoutMs' },
  { name: 'PAS_EVENTS_MAX_CONNECTIONS', type: 'integer', key: 'pasEvents.maxConnections' },
  { name: 'PAS_EVENTS_RETENTION_DAYS', type: 'number', key: 'pasEvents.retentionDays' },

  { name: 'BARS_PROXY_URL', type: 'string', key: 'proxy.url' },
  { name: 'BARS_TOKEN_URL', type: 'string', key: 'proxy.tokenUrl' },
  { name: 'BARS_CLIENT_ID', type: 'string', key: 'proxy.clientId' },
  { name: 'BARS_KID', type: 'string', key: 'proxy.kid' },
  { name: 'BARS_PRIVATE_KEY', type: 'string', key: 'proxy.privateKey' },
  { name: 'BARS_PROXY_CA', type: 'string', key: 'proxy.ca' },
  { name: 'BARS_PROXY_CLIENT_CERT', type: 'string', key: 'proxy.clientCert' },
  { name: 'BARS_PROXY_CLIENT_KEY', type: 'string', key: 'proxy.clientKey' },
  { name: 'BARS_PROXY_ACCEPT_VERSION', type: 'string', key: 'proxy.acceptVersion' },

  { name: 'BARS_MAPPINGS_DIR', type: 'string', key: 'mappingsDir' },
  { name: 'BARS_MAPPINGS_POLL_SECONDS', type: 'integer', key: 'mappingsPollSeconds' },
  { name: 'BARS_QUEUES_DIR', type: 'string', key: 'queuesDir' },
  { name: 'BARS_ALERTS', type: 'boolean', key: 'alerts.enabled' },
  { name: 'ALERT_WEBHOOK_URL', type: 'string', key: 'alerts.webhookUrl' },
  { name: 'BARS_RETENTION', type: 'boolean', key: 'retention.enabled' },
  { name: 'BARS_RETENTION_DAYS', type: 'number', key: 'retention.messagesDays' },

  // Read outside the configuration.
  { name: 'LOG_FORMAT', type: 'enum', readBy: 'src/logging.ts' },
  { name: 'BARS_ACTOR', type: 'string', readBy: 'src/cli/context.ts (--actor default: audit actor of CLI look-ups and dead-letter actions)' },
  { name: 'BARS_MAX_OLD_SPACE_MB', type: 'integer', readBy: 'bin/bars-node' },
  { name: 'MALLOC_MMAP_THRESHOLD_', type: 'integer', readBy: 'bin/bars-node (glibc)' },
  { name: 'NODE', type: 'string', readBy: 'bin/bars-node (node binary)' },

  // Test and benchmark tooling (never read by the service). A test's own plumbing to its child process (CHILD_*, LANE_*)
  // is not listed: it never carries one of our prefixes.
  { name: 'TEST_REDIS_URL', type: 'string', readBy: 'test/setup.ts' },
  { name: 'RELIABILITY_LONG', type: 'boolean', readBy: 'test/reliability' },
  { name: 'RETENTION_TEST_RECORDS', type: 'integer', readBy: 'test/integration/ops/retention.test.ts' },
  { name: 'BENCH_SECONDS', type: 'number', readBy: 'bench/mapping.ts' },
  { name: 'BENCH_ROUNDS', type: 'integer', readBy: 'bench/render-cpu.ts' },
  { name: 'BENCH_MESSAGES', type: 'integer', readBy: 'bench/render-cpu.ts' },
  { name: 'BENCH_BASELINE', type: 'string', readBy: 'bench/render-cpu.ts' },
  { name: 'BENCH_PROFILE', type: 'string', readBy: 'bench/ack.ts' },
  { name: 'BENCH_DEBUG', type: 'boolean', readBy: 'bench/lib.ts' },
  { name: 'BENCH_COMPILED', type: 'boolean', readBy: 'bench/lib.ts (set by bench/run.ts)' },
  { name: 'BENCH_ROLE', type: 'string', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'BENCH_DATA_DIR', type: 'string', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'BENCH_LOG_LEVEL', type: 'enum', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'BENCH_PORT', type: 'integer', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'BENCH_PAS_PORT', type: 'integer', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'BENCH_REDIS_URL', type: 'string', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'BENCH_REDIS_CLUSTER', type: 'boolean', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'BENCH_PREFIX', type: 'string', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'BENCH_QUEUES_DIR', type: 'string', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'BENCH_ACK_TIMEOUT_MS', type: 'integer', readBy: 'bench/proc.ts (set by bench/lib.ts)' },
  { name: 'SIM_PORT', type: 'integer', readBy: 'bench/sim-proc.ts (set by bench/lib.ts)' },
];

const KNOWN = new Set(VARIABLES.map((v) => v.name));

/**
 * Variables a platform injects for a neighbouring service named like one of our prefixes, e.g. Kubernetes service
 * links for a Service `redis` (REDIS_SERVICE_HOST, REDIS_PORT=tcp://…, REDIS_PORT_6379_TCP_ADDR) or Docker links:
 * not typos of ours, so never reported.
 */
const SERVICE_LINK = /_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)(_(ADDR|PORT|PROTO))?)$/;
const SERVICE_LINK_VALUE = /^(tcp|udp|sctp):\/\//;

/** Variables in `env` that carry one of our prefixes but are not in the table, sorted (names only: values may be secrets). */
export function unknownVariables(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.entries(env)
    .filter(([name]) => OUR_PREFIXES.some((p) => name.startsWith(p)) && !KNOWN.has(name))
    .filter(([name, value]) => !SERVICE_LINK.test(name) && !(name.endsWith('_PORT') && SERVICE_LINK_VALUE.test(value ?? '')))
    .map(([name]) => name)
    .sort();
}
