import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Every environment variable the service reads, with its default. Validated once at start. */
const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATA_DIR: Type.String({ minLength: 1, default: '.data' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 32 }),
  EMBEDDED_PG_PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 54329 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  KAFKA_BROKERS: Type.Optional(Type.String({ minLength: 1 })),
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  TOKEN_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  /** Comma-separated secrets that still verify queue tokens after a rotation. */
  TOKEN_SECRET_PREVIOUS: Type.Optional(Type.String({ minLength: 32 })),
  HOLD_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  HOLD_LIMIT_PER_SCHEDULE: Type.Integer({ minimum: 1, maximum: 100, default: 4 }),
  HOLD_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 500 }),
  /** Holds (and payments) arriving together are written by one statement: at most this many (1 turns it off)... */
  BOOKING_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 1_000, default: 64 }),
  /** ...and at most this many such statements at once per instance, for holds and for payments each. */
  BOOKING_BATCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 100, default: 4 }),
  QUEUE_MAX_ACTIVE: Type.Integer({ minimum: 1, default: 1000 }),
  QUEUE_ADMIT_PER_SECOND: Type.Integer({ minimum: 1, default: 50 }),
  QUEUE_ACTIVE_TTL_SECONDS: Type.Integer({ minimum: 1, default: 600 }),
  QUEUE_TICK_MS: Type.Integer({ minimum: 10, maximum: 1_000, default: 100 }),
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
  /** Rate limits (429 RATE_LIMITED): per client address on every route but health, metrics and docs... */
  RATE_LIMIT_ENABLED: Type.Boolean({ default: true }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1_000, maximum: 3_600_000, default: 60_000 }),
  RATE_LIMIT_PER_IP: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 6_000 }),
  /** ...and per user (per window): joins, polls of one concert's line, holds, payments. */
  RATE_LIMIT_JOIN: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30 }),
  RATE_LIMIT_POLL: Type.Integer({ minimum: 2, maximum: 1_000_000, default: 120 }),
  RATE_LIMIT_HOLD: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 60 }),
  RATE_LIMIT_PAY: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30 }),
  DEMO_DATA: Type.Boolean({ default: true }),
  DATA_PLATFORM_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
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

/** Reads the configuration from an environment; empty strings count as unset. Throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim();
  }
  const withDefaults = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw));
  const problems = [...Value.Errors(ConfigSchema, withDefaults)].map(
    (e) => `${e.path.slice(1) || '(root)'}: ${e.message} (got ${JSON.stringify(e.value)})`,
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(withDefaults as ParsedConfig);
}
