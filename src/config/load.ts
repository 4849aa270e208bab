/*
 * Loads configuration from the environment and the optional BARS_CONFIG YAML file, fills the dev defaults in one
 * place, validates everything at once and freezes the result. A bad value stops start-up with every problem listed.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.js';
import { unknownVariables, VARIABLES, type Variable } from './variables.js';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

/** The modes NODE_ENV may name; anything else refuses to start (issue 14: the admin plane fails closed). */
export const MODES = ['production', 'development', 'test'] as const;

/** Our identity in development and tests; production refuses to start with any of it (see loadConfig). */
export const DEVELOPMENT_IDENTITY = {
  ids: ['2000072489'],
  odsCode: 'X26',
  name: 'bars-bridge (development)',
  referenceSystem: 'https://bars-bridge.local/Id/reference',
} as const;

/** Configuration keys only a variable sets: the mode is never taken from a file. */
export const VARIABLE_ONLY_KEYS: readonly string[] = ['env'];

/** `slots[0].hours` rather than `slots.0.hours`: the path as it reads in the YAML. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  }
  return out || '(root)';
}

function readConfigFile(file: string | undefined, problems: string[]): Record<string, unknown> {
  if (!file) {
    return {};
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    problems.push(`BARS_CONFIG ${file}: ${(err as Error).message}`);
    return {};
  }
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`BARS_CONFIG ${file}: must be a mapping of configuration keys`);
    return {};
  }
  const content = { ...(parsed as Record<string, unknown>) };
  for (const key of VARIABLE_ONLY_KEYS.filter((k) => k in content)) {
    problems.push(`${key}: unknown key (set by ${VARIABLES.find((v) => v.key === key)?.name ?? 'a variable'}, never by the file)`);
    delete content[key];
  }
  return content;
}

const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

/** The value of one variable as its configuration key expects it; a wrong one is a problem, not a silent default. */
function parseVariable(variable: Variable, text: string, problems: string[]): unknown {
  const where = `${variable.key} (${variable.name})`;
  switch (variable.type) {
    case 'integer':
    case 'number': {
      if (text.trim() === '') {
        return undefined;
      }
      const n = Number(text);
      if (!Number.isFinite(n) || (variable.type === 'integer' && !Number.isInteger(n))) {
        problems.push(`${where}: must be ${variable.type === 'integer' ? 'an integer' : 'a number'}, not "${text}"`);
        return undefined;
      }
      return n;
    }
    case 'boolean':
      if (text.trim() === '') {
        return undefined;
      }
      if (TRUE.test(text.trim()) || FALSE.test(text.trim())) {
        return TRUE.test(text.trim());
      }
      problems.push(`${where}: must be true or false (also 1/0, yes/no, on/off), not "${text}"`);
      return undefined;
    case 'list':
      return text.split(',').map((s) => s.trim()).filter(Boolean);
    default:
      return text;
  }
}

/** The configuration the environment sets, from the variables table (variables.ts), as a partial tree. */
function variablesToConfig(env: Env, problems: string[]): DeepPartial<Config> {
  const out: Record<string, unknown> = {};
  const set = (key: string, value: unknown): void => {
    const parts = key.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) {
      node = (node[part] ??= {}) as Record<string, unknown>;
    }
    node[parts.at(-1)!] = value;
  };
  for (const variable of VARIABLES) {
    const text = env[variable.name];
    if (!variable.key || VARIABLE_ONLY_KEYS.includes(variable.key) || text === undefined) {
      continue;
    }
    const value = parseVariable(variable, text, problems);
    if (value !== undefined) {
      set(variable.key, value);
    }
  }
  // A named Redis or PAS is the one meant: never replaced by a private redis-server child or the PAS simulator.
  if (env.REDIS_URL) {
    set('redis.embedded', false);
  }
  if (env.PAS_MLLP_HOST) {
    set('pas.simulator', false);
  }
  return out as DeepPartial<Config>;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) {
      deepFreeze(child);
    }
    Object.freeze(value);
  }
  return value;
}

/**
 * Builds the configuration.
 * @param env - environment variables (process.env in production; a plain object in tests).
 * @param overrides - values that win over both (tests, CLI flags).
 */
export function loadConfig(env: Env = process.env, overrides: DeepPartial<Config> = {}): Readonly<Config> {
  const problems: string[] = [];
  const file = readConfigFile(env.BARS_CONFIG, problems);
  const nodeEnv = env.NODE_ENV;
  const validMode = nodeEnv === undefined || (MODES as readonly string[]).includes(nodeEnv);
  if (!validMode) {
    // Fail closed: before this check any other value (`prod`, `Production`) ran the development mode, with no admin
    // token, the PAS simulator and the mock proxy. The rest is validated as production so every problem is listed.
    problems.push(`NODE_ENV: must be ${MODES.join(', ')} or unset (development), not "${nodeEnv}"; refusing to start`);
  }
  const mode: Config['env'] = !validMode ? 'production' : ((nodeEnv as Config['env'] | undefined) ?? 'development');
  const dev = mode !== 'production';

  const defaults: Config = {
    env: mode,
    logLevel: mode === 'test' ? 'silent' : 'info',
    dataDir: '.dev',
    http: {
      host: '0.0.0.0',
      port: 8443,
      requestTimeoutMs: 4500,
      bodyLimitBytes: 5 * 1024 * 1024,
      xmlLimitBytes: 1024 * 1024,
      keepAliveTimeoutMs: 65_000,
      handshakeTimeoutMs: 10_000,
      maxConnections: 512,
    },
    tls: { allow: [], allowAnyClient: false },
    redis: { url: 'redis://127.0.0.1:6379', prefix: '{bars}', embedded: dev, commandTimeoutMs: 800, cluster: false },
    admin: { port: 9090, host: '127.0.0.1', tokens: [], allowedHosts: [] },
    service: {
      ids: [...DEVELOPMENT_IDENTITY.ids],
      odsCode: DEVELOPMENT_IDENTITY.odsCode,
      name: DEVELOPMENT_IDENTITY.name,
      baseUrl: 'https://localhost:8443',
      referenceSystem: DEVELOPMENT_IDENTITY.referenceSystem,
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
    // No PAS in production until one is configured: the development address is the simulator's.
    pas: { host: dev ? '127.0.0.1' : '', port: 2576, simulator: dev },
    pasEvents: {
      enabled: true,
      host: '127.0.0.1',
      port: 2575,
      tls: {},
      // Development: the PAS simulator's event sender (src/dev/pas-sim-events.ts). Production names its PAS.
      allow: dev ? ['PAS^RXX'] : [],
      maxFrameBytes: 1024 * 1024,
      idleTimeoutMs: 60_000,
      maxConnections: 32,
      retentionDays: 30,
    },
    proxy: {},
    slots: [],
    destinations: [],
    mappingsDir: 'mappings',
    mappingsPollSeconds: 30,
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
    retention: { enabled: true, messagesDays: 90, batchSize: 100, tickMs: 250, passIntervalSeconds: 3600, keepBundleIds: true, auditDays: 365 },
  };

  const fromEnv = variablesToConfig(env, problems);
  if (mode === 'production') {
    const unknown = unknownVariables(env);
    if (unknown.length > 0) {
      problems.push(`unknown environment variables ${unknown.join(', ')}: bars-bridge reads no such variable (misspelt? README "Configuration" lists them); production refuses to start with them`);
    }
  }

  const merged = merge(merge(merge(defaults, file), fromEnv), overrides);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const setBy = new Map(VARIABLES.filter((v) => v.key && env[v.name] !== undefined).map((v) => [v.key!, v.name]));
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        problems.push(...issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`));
        continue;
      }
      const at = formatPath(issue.path);
      problems.push(`${at}${setBy.has(at) ? ` (${setBy.get(at)})` : ''}: ${issue.message}`);
    }
  }
  if (parsed.success && parsed.data.redis.cluster && !/\{[^}]+\}/.test(parsed.data.redis.prefix)) {
    problems.push('redis.prefix: with REDIS_CLUSTER the prefix must contain a hash tag such as {bars}, so every key of a message lands in one slot');
  }
  if (parsed.success) {
    const t = parsed.data.pasEvents.tls;
    if (Boolean(t.cert) !== Boolean(t.key) || (t.ca && !t.cert)) {
      problems.push('pasEvents.tls: PAS_EVENTS_TLS_CERT and PAS_EVENTS_TLS_KEY go together, and PAS_EVENTS_TLS_CA needs both');
    }
  }
  if (parsed.success && parsed.data.env === 'production') {
    const c = parsed.data;
    if (!c.tls.cert || !c.tls.key || !c.tls.ca) {
      problems.push('tls: BARS_TLS_CERT, BARS_TLS_KEY and BARS_TLS_CA are required in production');
    }
    if (!c.admin.token && c.admin.tokens.length === 0) {
      problems.push('admin.token: ADMIN_TOKEN (or named ADMIN_TOKENS) is required in production');
    }
    if (c.admin.token !== undefined && c.admin.token.length < 16) {
      problems.push('admin.token: ADMIN_TOKEN must be at least 16 characters in production');
    }
    // Who we are travels in every response and request we send (MessageHeader.source.name, the
    // NHSD-End-User-Organisation header, our Encounter identifier system, the DoS ids we answer for): a development
    // value there would tell a 111 service that a referral went to "bars-bridge (development)".
    const identity: Array<[boolean, string]> = [
      [c.service.name === DEVELOPMENT_IDENTITY.name, 'service.name (BARS_SERVICE_NAME): our service name, sent as MessageHeader.source.name and the NHSD-End-User-Organisation name'],
      [c.service.referenceSystem === DEVELOPMENT_IDENTITY.referenceSystem, 'service.referenceSystem (BARS_REFERENCE_SYSTEM): the identifier system of our reference on the planned Encounter, a URL of the trust'],
      [c.service.odsCode === DEVELOPMENT_IDENTITY.odsCode, 'service.odsCode (BARS_ODS_CODE): our ODS code'],
      [c.service.ids.length === 1 && c.service.ids[0] === DEVELOPMENT_IDENTITY.ids[0], 'service.ids (BARS_SERVICE_ID): our DoS service ids (2000072489 is the TKW test catch-all)'],
    ];
    for (const [isDefault, what] of identity) {
      if (isDefault) {
        problems.push(`${what} is required in production (still the development default)`);
      }
    }
    if (c.tls.allow.length === 0 && !c.tls.allowAnyClient) {
      problems.push('tls.allow: BARS_TLS_ALLOW is required in production (the proxy certificate CNs or fingerprints); any certificate of the CA would get in otherwise. BARS_TLS_ALLOW_ANY_CLIENT=true lets the CA alone decide, on purpose');
    }
    for (const [value, variable] of [[c.proxy.url, 'BARS_PROXY_URL'], [c.proxy.tokenUrl, 'BARS_TOKEN_URL']] as const) {
      if (value !== undefined && !value.startsWith('https://')) {
        problems.push(`${variable}: must be an https:// URL in production (the access token and patient data would travel in clear)`);
      }
    }
    if (c.alerts.webhookUrl !== undefined && !c.alerts.webhookUrl.startsWith('https://')) {
      // Alerts carry ids only, but a webhook URL is itself a credential (Slack, Teams) and ids are still operational data.
      problems.push('ALERT_WEBHOOK_URL: must be an https:// URL in production (the URL is a secret of its own and the alerts name messages)');
    }
    if (c.destinations.length === 0 && !c.pas.host) {
      problems.push('pas.host: PAS_MLLP_HOST (or a destinations: block) is required in production; the development default is the PAS simulator');
    }
    if (c.pasEvents.enabled && c.pasEvents.allow.length === 0) {
      problems.push('pasEvents.allow: PAS_EVENTS_ALLOW (SendingApplication^SendingFacility of the PAS) is required in production, or PAS_EVENTS=off');
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

/** Deep merge of plain objects (arrays and scalars replace); `undefined` leaves the base value. */
export function merge<T>(base: T, over: unknown): T {
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

/**
 * The configuration with some values replaced, validated again: the development wiring fills in what a fresh checkout
 * has not configured (a private Redis, certificates, slots, the mock proxy) and must get the same checks as a file.
 */
export function withOverrides(config: Readonly<Config>, over: DeepPartial<Config>): Readonly<Config> {
  return loadConfig({}, merge<DeepPartial<Config>>(structuredClone(config), over));
}
