/*
 * Loads configuration from the environment and the optional BARS_CONFIG YAML file, fills the dev defaults in one
 * place, validates everything at once and freezes the result. A bad value stops start-up with every problem listed.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

const list = (v: string | undefined): string[] | undefined =>
  v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean);
const int = (v: string | undefined): number | undefined => (v === undefined || v === '' ? undefined : Number(v));
const bool = (v: string | undefined): boolean | undefined => (v === undefined ? undefined : /^(1|true|yes|on)$/i.test(v));

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) {
      deepFreeze(child);
    }
    Object.freeze(value);
  }
  return value;
}

/** Removes undefined leaves so that a missing variable never overrides a file value or default. */
function defined<T extends Record<string, unknown>>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Builds the configuration.
 * @param env - environment variables (process.env in production; a plain object in tests).
 * @param overrides - values that win over both (tests, CLI flags).
 */
export function loadConfig(env: Env = process.env, overrides: DeepPartial<Config> = {}): Readonly<Config> {
  const problems: string[] = [];
  let file: DeepPartial<Config> = {};
  if (env.BARS_CONFIG) {
    try {
      file = (parseYaml(readFileSync(env.BARS_CONFIG, 'utf8')) ?? {}) as DeepPartial<Config>;
    } catch (err) {
      problems.push(`BARS_CONFIG ${env.BARS_CONFIG}: ${(err as Error).message}`);
    }
  }
  const nodeEnv = (env.NODE_ENV === 'production' || env.NODE_ENV === 'test' ? env.NODE_ENV : 'development') as Config['env'];
  const dev = nodeEnv !== 'production';

  const defaults: Config = {
    env: nodeEnv,
    logLevel: nodeEnv === 'test' ? 'silent' : 'info',
    dataDir: '.dev',
    http: { host: '0.0.0.0', port: 8443, requestTimeoutMs: 4500, bodyLimitBytes: 5 * 1024 * 1024, keepAliveTimeoutMs: 65_000 },
    tls: { allow: [] },
    redis: { url: 'redis://127.0.0.1:6379', prefix: '{bars}', embedded: dev, commandTimeoutMs: 800, cluster: false },
    admin: { port: 9090, host: '127.0.0.1' },
    service: {
      ids: ['2000072489'],
      odsCode: 'X26',
      name: 'bars-bridge (development)',
      baseUrl: 'https://localhost:8443',
      referenceSystem: 'https://bars-bridge.local/Id/reference',
      referencePrefix: 'BB',
      checkReceiverOds: false,
    },
    access: { odsCodes: [], softwareIds: [] },
    bars: {
      apiMajor: 1,
      bundleMajors: [1],
      useCases: ['a1t1', 'a1t2', 'a1t3', 'a1t4', 'a1t5', 'a1t6', 'a1t7', 'a1t8', 'a1t9', 'a1t10', 'a1t11', 'a1t12',
        'a2t1', 'a2t2', 'a2t3', 'a2t4', 'a2t5', 'a2t6', 'a3t1', 'a4t1', 'a4t2', 'a4t3', 'a4t4', 'a5t1', 'a5t2', 'a5t3',
        'a6t1', 'a6t2', 'a6t3', 'a7t1'],
      errorCodeSystem: 'CodeSystem',
      idempotencyTtlSeconds: 7 * 24 * 3600,
    },
    pas: { host: '127.0.0.1', port: 2576, simulator: dev },
    pasEvents: { port: 2575 },
    proxy: {},
    slots: [],
    destinations: [],
    mappingsDir: 'mappings',
    queuesDir: 'queues',
    alerts: {
      enabled: true,
      intervalSeconds: 15,
      laneHeadMaxAgeSeconds: 300,
      deadLettersAbove: 0,
      deadLetterWindowHours: 24,
      errorRate: 0.05,
      errorWindowSeconds: 300,
      errorMinRequests: 20,
      redisDurability: true,
      certExpiryDays: 21,
    },
    retention: { enabled: true, messagesDays: 90, batchSize: 100, tickMs: 250, passIntervalSeconds: 3600, keepBundleIds: true },
  };

  const fromEnv: DeepPartial<Config> = {
    logLevel: env.LOG_LEVEL as Config['logLevel'] | undefined,
    http: defined({ host: env.BARS_HOST, port: int(env.BARS_PORT), requestTimeoutMs: int(env.BARS_REQUEST_TIMEOUT_MS) }),
    tls: defined({ cert: env.BARS_TLS_CERT, key: env.BARS_TLS_KEY, ca: env.BARS_TLS_CA, allow: list(env.BARS_TLS_ALLOW) }),
    redis: defined({ url: env.REDIS_URL, prefix: env.REDIS_PREFIX, embedded: env.REDIS_URL ? false : bool(env.BARS_EMBEDDED_REDIS), cluster: bool(env.REDIS_CLUSTER) }),
    admin: defined({ port: int(env.ADMIN_PORT), token: env.ADMIN_TOKEN, host: env.ADMIN_HOST }),
    service: defined({ ids: list(env.BARS_SERVICE_ID), odsCode: env.BARS_ODS_CODE, baseUrl: env.BARS_BASE_URL }),
    access: defined({ odsCodes: list(env.BARS_ALLOWED_ODS), softwareIds: list(env.BARS_ALLOWED_SOFTWARE) }),
    bars: defined({ errorCodeSystem: env.BARS_ERROR_CODE_SYSTEM as Config['bars']['errorCodeSystem'] | undefined }),
    pas: defined({
      host: env.PAS_MLLP_HOST,
      port: int(env.PAS_MLLP_PORT),
      simulator: env.PAS_MLLP_HOST ? false : bool(env.PAS_SIMULATOR),
    }),
    pasEvents: defined({ port: int(env.PAS_EVENTS_PORT) }),
    mappingsDir: env.BARS_MAPPINGS_DIR,
    queuesDir: env.BARS_QUEUES_DIR,
    alerts: defined({ enabled: bool(env.BARS_ALERTS) }),
    retention: defined({ enabled: bool(env.BARS_RETENTION), messagesDays: int(env.BARS_RETENTION_DAYS) }),
    proxy: defined({
      url: env.BARS_PROXY_URL,
      tokenUrl: env.BARS_TOKEN_URL,
      clientId: env.BARS_CLIENT_ID,
      kid: env.BARS_KID,
      privateKey: env.BARS_PRIVATE_KEY,
      ca: env.BARS_PROXY_CA,
      clientCert: env.BARS_PROXY_CLIENT_CERT,
      clientKey: env.BARS_PROXY_CLIENT_KEY,
      acceptVersion: env.BARS_PROXY_ACCEPT_VERSION,
    }),
  };

  const merged = merge(merge(merge(defaults, file), fromEnv), overrides);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
  }
  if (parsed.success && parsed.data.redis.cluster && !/\{[^}]+\}/.test(parsed.data.redis.prefix)) {
    problems.push('redis.prefix: with REDIS_CLUSTER the prefix must contain a hash tag such as {bars}, so every key of a message lands in one slot');
  }
  if (parsed.success && parsed.data.env === 'production') {
    const c = parsed.data;
    if (!c.tls.cert || !c.tls.key || !c.tls.ca) {
      problems.push('tls: BARS_TLS_CERT, BARS_TLS_KEY and BARS_TLS_CA are required in production');
    }
    if (!c.admin.token) {
      problems.push('admin.token: ADMIN_TOKEN is required in production');
    }
    const proxyParts = [c.proxy.url, c.proxy.tokenUrl, c.proxy.clientId, c.proxy.kid, c.proxy.privateKey];
    if (proxyParts.some(Boolean) && !proxyParts.every(Boolean)) {
      problems.push('proxy: BARS_PROXY_URL, BARS_TOKEN_URL, BARS_CLIENT_ID, BARS_KID and BARS_PRIVATE_KEY go together: set all or none');
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(problems);
  }
  return deepFreeze(parsed.data);
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer U)[] ? U[] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

function merge<T>(base: T, over: unknown): T {
  if (over === undefined || over === null) {
    return base;
  }
  if (Array.isArray(over) || typeof over !== 'object' || typeof base !== 'object' || base === null || Array.isArray(base)) {
    return over as T;
  }
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(over as Record<string, unknown>)) {
    if (value !== undefined) {
      out[key] = merge(out[key], value);
    }
  }
  return out as T;
}
