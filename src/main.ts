// First: tracing, when the OTEL_* variables ask for it, must be in place before pg and ioredis load.
import { tracing } from './platform/tracing.start.js';
import pino, { type Logger } from 'pino';
import { buildApp, createServices } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDb, migrateToLatest } from './platform/db.js';
import { startEmbeddedPostgres } from './platform/embedded-postgres.js';
import { createResources, StartAborted, type Resources } from './platform/lifecycle.js';
import { createMetrics, registerOutboxGauges } from './platform/metrics.js';
import { consumerMetrics, dataPlatformMetrics, queueStoreMetrics, sweeperMetrics } from './app.metrics.js';
import { loadOrCreateSecrets } from './platform/secrets.js';
import { seedDemoConcerts } from './modules/catalog/catalog.demo.js';
import { startSweeper } from './modules/reservations/reservations.sweeper.js';
import { startQueueTicker } from './modules/queue/queue.ticker.js';
import { createRedisQueueStore } from './modules/queue/queue.store.redis.js';
import { createRedis } from './platform/redis.js';
import { watchEvictionPolicy } from './platform/redis.policy.js';
import { createRedisBus } from './cache/invalidation.js';
import type { Broker } from './modules/events/broker.js';
import { createKafkaBroker } from './modules/events/broker.kafka.js';
import { createMemoryBroker } from './modules/events/broker.memory.js';
import { createRedisBroker } from './modules/events/broker.redis.js';
import { CircuitBreaker, cacheInvalidator, dataPlatformExporter, rankingsUpdater, startConsumers } from './modules/events/consumers.js';
import { outboxHealth } from './modules/events/outbox.health.js';
import { startRelay } from './modules/events/outbox.relay.js';
import { startRankingsGuard } from './modules/rankings/rankings.guard.js';
import { createRedisRankingsStore } from './modules/rankings/rankings.store.redis.js';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { pingDatabase } from './platform/db.js';
import { watchReadiness } from './platform/readiness.js';
import { traceLogFields } from './platform/tracing.log.js';

/**
 * Starts the service. Every resource is registered with `own` as soon as it exists, so a start
 * that fails half-way (the port taken, a failed migration) is undone by stopping `resources`.
 */
async function start(config: Config, log: Logger, resources: Resources) {
  const { own } = resources;
  const secrets = loadOrCreateSecrets(config.DATA_DIR);
  const adminToken = config.ADMIN_TOKEN ?? secrets.adminToken;

  let connectionString = config.DATABASE_URL;
  if (!connectionString) {
    log.info({ dataDir: config.DATA_DIR }, 'DATABASE_URL is unset: starting embedded PostgreSQL');
    const embedded = own(
      'embedded PostgreSQL',
      await startEmbeddedPostgres({
        dataDir: config.DATA_DIR,
        port: config.EMBEDDED_PG_PORT,
        password: secrets.databasePassword,
        settings: config.EMBEDDED_PG_SETTINGS?.split(';'),
      }),
      (e) => e.stop(),
    );
    connectionString = embedded.connectionString;
  }

  const dbOptions = {
    connectionString,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
    idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
  };
  const db = own('database pool', createDb({ ...dbOptions, poolSize: config.DATABASE_POOL_SIZE }), (d) => d.destroy());
  await migrateToLatest(db);
  // Background work (relay, consumers, sweeper) has connections of its own, so a saturated request
  // pool can delay it only through the database itself, never by queueing it behind requests.
  const backgroundDb = own('background database pool', createDb({ ...dbOptions, poolSize: 4 }), (d) => d.destroy());

  /** A Redis client whose connection errors are logged as `what` (repeats within 5 s are not). */
  const redisClient = (url: string, what: string) =>
    createRedis(url, {
      commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
      onError: (err) => log.warn({ err }, `${what} connection error (repeats within 5 s not logged)`),
    });
  const redis = config.REDIS_URL ? own('redis', redisClient(config.REDIS_URL, 'redis'), (r) => r.quit()) : undefined;
  // A Redis that may evict keys can drop people from a line: said at start and after every reconnection.
  if (redis) own('redis eviction policy check', watchEvictionPolicy(redis, log), (w) => w.stop());
  // The bus's subscriber is a connection of its own, with its own error listener: a duplicate has
  // none, and ioredis prints every failed reconnection of such a client as "Unhandled error event".
  const cacheBus = redis && config.REDIS_URL
    ? own('cache bus', await createRedisBus(redis, redisClient(config.REDIS_URL, 'redis subscriber')), (b) => b.close())
    : undefined;
  // The event streams on a Redis of their own when EVENTS_REDIS_URL is set, else on REDIS_URL's.
  const eventsRedis = config.EVENTS_REDIS_URL
    ? own('events redis', redisClient(config.EVENTS_REDIS_URL, 'events redis'), (r) => r.quit())
    : redis;
  if (config.EVENTS_REDIS_URL && eventsRedis) {
    own('events redis eviction policy check', watchEvictionPolicy(eventsRedis, log, {
      redis: 'EVENTS_REDIS_URL',
      loses: 'unread events from the streams',
    }), (w) => w.stop());
  }
  const metrics = createMetrics();
  // Events go to Kafka when configured, else Redis Streams, else an in-process broker.
  const broker: Broker = own(
    'broker',
    config.KAFKA_BROKERS
      ? createKafkaBroker({ brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()) })
      : eventsRedis
        ? createRedisBroker(eventsRedis, { maxMessageBytes: config.EVENT_MAX_BYTES })
        : createMemoryBroker({ maxMessageBytes: config.EVENT_MAX_BYTES }),
    (b) => b.close(),
  );
  const deps = {
    config,
    db,
    backgroundDb,
    adminToken,
    tokenSecret: config.TOKEN_SECRET ?? secrets.tokenSecret,
    previousTokenSecrets: config.TOKEN_SECRET_PREVIOUS,
    queueStore: redis ? createRedisQueueStore(redis, queueStoreMetrics(metrics)) : undefined,
    redis,
    cacheBus,
    broker,
    rankingsStore: redis ? createRedisRankingsStore(redis) : undefined,
    metrics,
    logger: log,
    tracer: tracing?.tracer,
  };
  const services = createServices(deps);
  if (config.DEMO_DATA && (await seedDemoConcerts(services.catalog, services.clock.now()))) {
    log.info('empty database: created demo concerts (DEMO_DATA=false to skip)');
  }

  const app = await buildApp(deps, services);
  own(
    'hold sweeper',
    startSweeper({
      db: backgroundDb,
      clock: services.clock,
      intervalMs: config.HOLD_SWEEP_INTERVAL_MS,
      log,
      tracer: tracing?.tracer,
      ...sweeperMetrics(metrics),
      onSeatsFreed: (seats) => services.catalog.seatsChanged(seats),
      housekeeping: () => services.idempotency.purgeExpired(),
    }),
    (s) => s.stop(),
  );
  registerOutboxGauges(metrics, () => outboxHealth(db));
  // Without Redis the rankings live in this process: start them from what PostgreSQL knows, before
  // the consumers start, so no live update is overwritten by a rebuild that read the rows earlier.
  if (!redis) await services.rankings.rebuild();
  // With Redis, the rankings are shared: rebuilt by whichever instance first finds them lost.
  else own('rankings guard', startRankingsGuard({ redis, rankings: services.rankings, intervalMs: 5_000, log }), (g) => g.stop());
  if (config.OUTBOX_RELAY_ENABLED) {
    own(
      'outbox relay',
      startRelay({
        db: backgroundDb,
        broker,
        tracer: tracing?.tracer,
        clock: services.clock,
        log,
        maxBackoffMs: config.OUTBOX_RETRY_MAX_MS,
        purge: {
          outboxRetentionMs: config.OUTBOX_RETENTION_HOURS * 3_600_000,
          processedEventsRetentionMs: config.PROCESSED_EVENTS_RETENTION_HOURS * 3_600_000,
        },
        onPublished: (n) => metrics.eventsPublished.inc(n),
        onFailed: (n) => metrics.eventPublishFailures.inc(n),
      }),
      (r) => r.stop(),
    );
    const consumers = await startConsumers({
      broker,
      tracer: tracing?.tracer,
      instanceId: `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
      log,
      ...consumerMetrics(metrics),
      consumers: {
        rankings: rankingsUpdater({ db: backgroundDb, rankings: services.rankings }),
        'cache-invalidation': cacheInvalidator({ catalog: services.catalog }),
        ...(config.DATA_PLATFORM_URL
          ? {
              'data-platform': dataPlatformExporter({
                db: backgroundDb,
                url: config.DATA_PLATFORM_URL,
                ...dataPlatformMetrics(metrics, new CircuitBreaker()),
              }),
            }
          : {}),
      },
    });
    own('event consumers', consumers, (cs) => Promise.all(cs.map((c) => c.close())));
  }
  // Admission pauses while the database is down, not while it is busy: the probe waits its turn on
  // the background pool, and only no answer within the connect timeout counts as down.
  const databaseWatch = own(
    'database watch',
    watchReadiness(() => pingDatabase(backgroundDb), {
      everyMs: 1_000,
      timeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    }),
    (w) => w.stop(),
  );
  own(
    'queue ticker',
    startQueueTicker({
      queue: services.queue,
      intervalMs: config.QUEUE_TICK_MS,
      databaseReady: () => databaseWatch.ready,
      log,
    }),
    (t) => t.stop(),
  );

  // Closed first on the way down: no new requests, in-flight ones finish.
  own('http server', app, (a) => a.close());
  const address = await app.listen({ port: config.PORT, host: config.HOST, backlog: config.HTTP_LISTEN_BACKLOG });
  log.info(
    { address, page: `${address}/`, docs: `${address}/docs`, database: config.DATABASE_URL ? 'DATABASE_URL' : 'embedded', stores: redis ? 'redis' : 'in-process' },
    'ticketing service ready',
  );
  // Printed so a newcomer can book at once, and create concerts (set ADMIN_TOKEN in production).
  const adminLine = config.ADMIN_TOKEN ? '' : `  Admin token (from ${config.DATA_DIR}/secrets.json): ${adminToken}\n`;
  console.log(`\n  Booking page: ${address}/\n${adminLine}  API explorer: ${address}/docs\n`);
}

/**
 * Runs the service until SIGINT or SIGTERM. The exit code tells how it ended: 0 after a clean
 * stop, 1 when the start failed or something failed to stop (whatever the start did is undone
 * either way), 2 for a configuration error (nothing was started).
 */
async function main() {
  const config = loadConfig();
  const log = pino({ level: config.LOG_LEVEL, ...(tracing ? { mixin: traceLogFields } : {}) });
  const resources = createResources();
  // Released last: the spans of the shutdown itself are exported too.
  if (tracing) resources.own('tracing', tracing, (t) => t.shutdown());

  const stopAll = async (): Promise<number> => {
    const force = setTimeout(() => {
      log.error('shutdown took longer than 15 s: exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    const failures = await resources.stop();
    for (const { name, error } of failures) log.error({ err: error, resource: name }, 'error during shutdown');
    return failures.length === 0 ? 0 : 1;
  };
  const shutdown = async (signal: string) => {
    if (resources.stopping) return;
    log.info({ signal }, 'shutting down');
    process.exit(await stopAll());
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    await start(config, log, resources);
  } catch (err) {
    // A signal arrived during the start: the shutdown it began undoes the start and exits.
    if (err instanceof StartAborted || resources.stopping) return;
    log.fatal({ err }, 'start failed: undoing it');
    await stopAll();
    process.exit(1);
  }
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
