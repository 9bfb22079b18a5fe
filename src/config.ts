import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * Marks a variable whose value may carry a secret (a key, a token, a URL with a password): a
 * config error names the variable and the rule it breaks, never the value.
 */
const secret = { secret: true } as const;

/** Every environment variable the service reads, with its default. Validated once at start. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATA_DIR: Type.String({ minLength: 1, default: '.data' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', url: true, ...secret })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 32 }),
  /** Longest a statement may run before PostgreSQL cancels it. */
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 15_000 }),
  /** Longest a connection may sit idle inside an open transaction before PostgreSQL ends it (and frees its locks). */
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  /**
   * Longest a request waits for a connection (a new one, or a free one of the pool): PostgreSQL
   * unreachable or the pool full, it answers 503 UNAVAILABLE then.
   */
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 5_000 }),
  EMBEDDED_PG_PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 54329 }),
  /**
   * Extra settings of the embedded PostgreSQL, `name=value` separated by `;` (passed as `-c`), e.g.
   * "shared_preload_libraries=pg_stat_statements,auto_explain;auto_explain.log_min_duration=200".
   */
  EMBEDDED_PG_SETTINGS: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_.]*=[^;]*(;[a-z_][a-z0-9_.]*=[^;]*)*$' })),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', url: true, ...secret })),
  /** Longest a Redis command may wait for its answer; then the request answers 503 UNAVAILABLE. */
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
  /** A Redis of its own for the event streams (Redis Streams broker); unset: REDIS_URL's. */
  EVENTS_REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', url: true, ...secret })),
  KAFKA_BROKERS: Type.Optional(Type.String({ minLength: 1, ...secret })),
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16, ...secret })),
  TOKEN_SECRET: Type.Optional(Type.String({ minLength: 32, ...secret })),
  /** Comma-separated secrets that still verify queue tokens after a rotation; each one at least 32 characters. */
  TOKEN_SECRET_PREVIOUS: Type.Array(Type.String({ minLength: 32 }), { default: [], ...secret }),
  /** The whole request (headers and body) must arrive within this; Node's headers timeout is min(60 s, this). */
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1_000, maximum: 600_000, default: 30_000 }),
  /** A socket silent this long is closed, also while its request is handled: above the slowest request. */
  HTTP_CONNECTION_TIMEOUT_MS: Type.Integer({ minimum: 1_000, maximum: 3_600_000, default: 120_000 }),
  /** An idle keep-alive connection is closed after this; above the usual 60 s idle of load balancers. */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 1_000, maximum: 3_600_000, default: 72_000 }),
  HTTP_BODY_LIMIT_BYTES: Type.Integer({ minimum: 1_024, maximum: 16 * 1_048_576, default: 1_048_576 }),
  /**
   * Connections the kernel keeps waiting to be accepted (capped by net.core.somaxconn). A crowd
   * opening connections faster than a busy event loop accepts them overflows a short queue, and
   * each dropped connection costs its client a SYN retry: 1 s, then 3 s, then 7 s (Node's default is 511).
   */
  HTTP_LISTEN_BACKLOG: Type.Integer({ minimum: 1, maximum: 65_535, default: 4_096 }),
  /**
   * Proxies whose X-Forwarded-For is believed (client addresses for rate limits and logs): unset or
   * `false` none, a number of hops, or comma-separated addresses/CIDRs of the proxies. `true`
   * believes any client's header, which lets anyone choose their address: never with direct clients.
   */
  TRUST_PROXY: Type.Optional(Type.String({ pattern: '^(true|false|[0-9]{1,2}|[0-9A-Fa-f:./]+(\\s*,\\s*[0-9A-Fa-f:./]+)*)$' })),
  HOLD_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  HOLD_LIMIT_PER_SCHEDULE: Type.Integer({ minimum: 1, maximum: 100, default: 4 }),
  HOLD_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 500 }),
  /** Holds, payments and Idempotency-Key claims arriving together are written by one statement of their kind: at most this many (1 turns it off)... */
  BOOKING_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 1_000, default: 64 }),
  /** ...and at most this many such statements at once per instance, for holds, payments and key claims each. */
  BOOKING_BATCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 100, default: 4 }),
  QUEUE_MAX_ACTIVE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
  QUEUE_ADMIT_PER_SECOND: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 50 }),
  QUEUE_ACTIVE_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 600 }),
  QUEUE_TICK_MS: Type.Integer({ minimum: 10, maximum: 1_000, default: 100 }),
  /** Line polls held open at once per instance (GET …/queue?wait=S); beyond it a poll answers at once. 0 turns holding off. */
  QUEUE_LONG_POLL_MAX: Type.Integer({ minimum: 0, maximum: 100_000, default: 5000 }),
  CACHE_ENABLED: Type.Boolean({ default: true }),
  CACHE_STRATEGY: Type.Union(['none', 'lock', 'singleflight', 'xfetch', 'swr'].map((x) => Type.Literal(x)), { default: 'swr' }),
  /** Per-cache overrides, e.g. "seats=lock,concert=xfetch" (caches: seats, concert, concerts). */
  CACHE_STRATEGIES: Type.Optional(Type.String({ pattern: '^(\\s*(seats|concert|concerts)=(none|lock|singleflight|xfetch|swr)\\s*,?)*$' })),
  CACHE_L1_POLICY: Type.Union(['lru', 'lfu', 'fifo', 'sieve', 's3fifo', 'wtinylfu'].map((x) => Type.Literal(x)), { default: 'sieve' }),
  CACHE_L1_CAPACITY: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 10_000 }),
  CACHE_SEATS_TTL_MS: Type.Integer({ minimum: 1, maximum: 60_000, default: 500 }),
  CACHE_CATALOG_TTL_MS: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 1_000 }),
  CACHE_XFETCH_BETA: Type.Number({ exclusiveMinimum: 0, maximum: 100, default: 1 }),
  OUTBOX_RELAY_ENABLED: Type.Boolean({ default: true }),
  OUTBOX_RETRY_MAX_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000 }),
  OUTBOX_RETENTION_HOURS: Type.Integer({ minimum: 1, maximum: 24 * 30, default: 24 }),
  PROCESSED_EVENTS_RETENTION_HOURS: Type.Integer({ minimum: 24 * 7, maximum: 24 * 365, default: 24 * 14 }),
  EVENT_MAX_BYTES: Type.Integer({ minimum: 1_024, maximum: 16_777_216, default: 1_048_576 }),
  IDEMPOTENCY_RETENTION_HOURS: Type.Integer({ minimum: 24, maximum: 24 * 30, default: 24 }),
  /**
   * How long a claimed Idempotency-Key is held for its request past the last renewal: the request
   * renews it every third of this while it works, so a retry meanwhile answers 409
   * IDEMPOTENCY_KEY_IN_USE however slow the work; once the process holding the key died, a retry
   * runs the work at most this long after. At least 2 × DATABASE_CONNECT_TIMEOUT_MS, the longest a
   * renewal may wait for a connection (checked by loadConfig).
   */
  IDEMPOTENCY_LEASE_MS: Type.Integer({ minimum: 1_000, maximum: 600_000, default: 10_000 }),
  /** Rate limits (429 RATE_LIMITED): per client address on every route but health, metrics and docs... */
  RATE_LIMIT_ENABLED: Type.Boolean({ default: true }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1_000, maximum: 3_600_000, default: 60_000 }),
  RATE_LIMIT_PER_IP: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 6_000 }),
  /** ...and per user (per window): joins, polls of one concert's line, holds, payments. */
  RATE_LIMIT_JOIN: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30 }),
  RATE_LIMIT_POLL: Type.Integer({ minimum: 2, maximum: 1_000_000, default: 120 }),
  RATE_LIMIT_HOLD: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 60 }),
  RATE_LIMIT_PAY: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30 }),
  /** Registrations (POST /users) per client address per window: new accounts are new per-user budgets. */
  RATE_LIMIT_SIGNUP: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 120 }),
  /**
   * Load shedding (503 UNAVAILABLE, `shed: true`, Retry-After) while the instance is under pressure,
   * except probes, /metrics and admitted users' booking work: the event loop's mean delay over a
   * sample above this (0 turns the check off)...
   */
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 200 }),
  /** ...or its utilisation over a sample above this (0 off; a saturated but healthy instance is near 1)... */
  OVERLOAD_MAX_EVENT_LOOP_UTILIZATION: Type.Number({ minimum: 0, maximum: 1, default: 0 }),
  /** ...or the V8 heap in use above this many MiB (0 off)... */
  OVERLOAD_MAX_HEAP_USED_MB: Type.Integer({ minimum: 0, maximum: 1_048_576, default: 0 }),
  /**
   * ...or a request waiting longer than this (ms) for a connection of the request pool, checked
   * on every request (0 off): the database, not the event loop, is the bottleneck.
   */
  OVERLOAD_MAX_DATABASE_WAIT_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 0 }),
  /**
   * The crowd's requests (all but probes, /metrics and admitted users' booking work) run at most
   * this many at once per instance, the rest waiting their turn in order (0: no limit). The limit
   * halves every 100 ms while the event loop's mean delay or a request's wait for a database
   * connection is above OVERLOAD_ARRIVAL_TARGET_DELAY_MS, and grows by one while neither is...
   */
  OVERLOAD_MAX_ARRIVALS_IN_FLIGHT: Type.Integer({ minimum: 0, maximum: 10_000, default: 0 }),
  OVERLOAD_ARRIVAL_TARGET_DELAY_MS: Type.Integer({ minimum: 1, maximum: 10_000, default: 20 }),
  /** ...and one that waited this long for its turn is refused as shed. */
  OVERLOAD_ARRIVAL_MAX_WAIT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 10_000 }),
  /** How often the event loop and heap are sampled; each sample covers the time since the last. */
  OVERLOAD_SAMPLE_INTERVAL_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 500 }),
  /** The Retry-After of a shed request. */
  OVERLOAD_RETRY_AFTER_SECONDS: Type.Integer({ minimum: 1, maximum: 600, default: 2 }),
  DEMO_DATA: Type.Boolean({ default: true }),
  DATA_PLATFORM_URL: Type.Optional(Type.String({ pattern: '^https?://', url: true, ...secret })),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
});

type ParsedConfig = Static<typeof ConfigSchema>;
export type Config = Readonly<ParsedConfig>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Parsed = { ok: true; value: unknown } | { ok: false; rule: string };

const INTEGER = /^-?[0-9]+$/;
const DECIMAL = /^-?[0-9]+(\.[0-9]+)?$/;

function range(schema: TSchema): string {
  const low =
    schema.exclusiveMinimum !== undefined ? `above ${schema.exclusiveMinimum}` : `from ${schema.minimum as number}`;
  return `${low} to ${schema.maximum as number}`;
}

function inRange(n: number, schema: TSchema): boolean {
  return (
    (schema.minimum === undefined || n >= schema.minimum) &&
    (schema.exclusiveMinimum === undefined || n > schema.exclusiveMinimum) &&
    (schema.maximum === undefined || n <= schema.maximum)
  );
}

/**
 * Turns one variable's text into its value by the schema's kind, strictly: integers are plain
 * decimal digits (no `1e3`, `10.5`, `0x10`, `+5`), booleans `true`/`false` (any case) or `1`/`0`,
 * lists are comma-separated with every entry checked on its own.
 */
function parse(text: string, schema: TSchema): Parsed {
  switch (schema.type) {
    case 'integer': {
      const n = Number(text);
      return INTEGER.test(text) && Number.isSafeInteger(n) && inRange(n, schema)
        ? { ok: true, value: n }
        : { ok: false, rule: `must be a whole number (decimal digits only) ${range(schema)}` };
    }
    case 'number': {
      const n = Number(text);
      return DECIMAL.test(text) && inRange(n, schema)
        ? { ok: true, value: n }
        : { ok: false, rule: `must be a decimal number ${range(schema)}` };
    }
    case 'boolean': {
      const t = text.toLowerCase();
      if (t === 'true' || t === '1') return { ok: true, value: true };
      if (t === 'false' || t === '0') return { ok: true, value: false };
      return { ok: false, rule: 'must be true or false (or 1 or 0)' };
    }
    case 'array': {
      const entries = text.split(',').map((e) => e.trim());
      const values: unknown[] = [];
      for (const [i, entry] of entries.entries()) {
        if (entry === '') return { ok: false, rule: `is a comma-separated list: entry ${i + 1} is empty` };
        const item = parse(entry, schema.items as TSchema);
        if (!item.ok) return { ok: false, rule: `is a comma-separated list: entry ${i + 1} ${item.rule}` };
        values.push(item.value);
      }
      return { ok: true, value: values };
    }
    case 'string': {
      if (schema.minLength !== undefined && text.length < schema.minLength) {
        return { ok: false, rule: `must be at least ${schema.minLength as number} characters long` };
      }
      if (schema.pattern !== undefined && !new RegExp(schema.pattern as string).test(text)) {
        return { ok: false, rule: `must match /${schema.pattern as string}/` };
      }
      if (schema.url && !URL.canParse(text)) return { ok: false, rule: 'must be a well-formed URL' };
      return { ok: true, value: text };
    }
  }
  if (Array.isArray(schema.anyOf)) {
    const allowed = (schema.anyOf as TSchema[]).map((s) => s.const as string);
    return allowed.includes(text) ? { ok: true, value: text } : { ok: false, rule: `must be one of ${allowed.join(', ')}` };
  }
  throw new Error(`config: no parser for the schema of kind ${String(schema.type)}`);
}

const shown = (text: string) => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);

/** Rules between variables, each problem naming every variable it involves. */
function crossRules(config: ParsedConfig): string[] {
  const problems: string[] = [];
  if (config.IDEMPOTENCY_LEASE_MS < 2 * config.DATABASE_CONNECT_TIMEOUT_MS) {
    problems.push(
      `IDEMPOTENCY_LEASE_MS: must be at least 2 × DATABASE_CONNECT_TIMEOUT_MS (got ${config.IDEMPOTENCY_LEASE_MS} and ` +
        `${config.DATABASE_CONNECT_TIMEOUT_MS}): a renewal that waits out the connect timeout and fails must be retried before the lease ends`,
    );
  }
  return problems;
}

/**
 * Reads the configuration from an environment; empty strings count as unset, values are trimmed.
 * Throws ConfigError listing every problem, each naming the variable and its rule; the value is
 * shown only for variables that cannot carry a secret.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, schema] of Object.entries(ConfigSchema.properties) as [string, TSchema][]) {
    const text = env[key]?.trim();
    if (text === undefined || text === '') continue;
    const parsed = parse(text, schema);
    if (parsed.ok) raw[key] = parsed.value;
    else problems.push(`${key}: ${parsed.rule}${schema.secret ? '' : ` (got ${shown(text)})`}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = Value.Default(ConfigSchema, raw) as ParsedConfig;
  // The parser above enforces every rule of the schema; this only guards against the two drifting apart.
  const left = [...Value.Errors(ConfigSchema, config)].map((e) => `${e.path.slice(1) || '(root)'}: ${e.message}`);
  if (left.length > 0) throw new ConfigError(left);
  const across = crossRules(config);
  if (across.length > 0) throw new ConfigError(across);
  Object.freeze(config.TOKEN_SECRET_PREVIOUS);
  return Object.freeze(config);
}
