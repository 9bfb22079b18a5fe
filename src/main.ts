import pino from 'pino';
import { buildApp, createServices } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createDb, migrateToLatest } from './platform/db.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './platform/embedded-postgres.js';
import { createMetrics, registerOutboxGauges } from './platform/metrics.js';
import { loadOrCreateSecrets } from './platform/secrets.js';
import { seedDemoConcerts } from './modules/catalog/catalog.demo.js';
import { startSweeper } from './modules/reservations/reservations.sweeper.js';
import { startQueueTicker } from './modules/queue/queue.ticker.js';
import { createRedisQueueStore } from './modules/queue/queue.store.redis.js';
import { createRedis } from './platform/redis.js';
import { createRedisBus } from './cache/invalidation.js';
import type { Broker } from './modules/events/broker.js';
import { createKafkaBroker } from './modules/events/broker.kafka.js';
import { createMemoryBroker } from './modules/events/broker.memory.js';
import { createRedisBroker } from './modules/events/broker.redis.js';
import { cacheInvalidator, dataPlatformExporter, rankingsUpdater, startConsumers } from './modules/events/consumers.js';
import { outboxHealth, startRelay } from './modules/events/outbox.relay.js';
import { createRedisRankingsStore } from './modules/rankings/rankings.store.js';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { databaseReady } from './platform/db.js';

async function main() {
  const config = loadConfig();
  const log = pino({ level: config.LOG_LEVEL });
  const secrets = loadOrCreateSecrets(config.DATA_DIR);
  const adminToken = config.ADMIN_TOKEN ?? secrets.adminToken;

  let embedded: EmbeddedDatabase | undefined;
  let connectionString = config.DATABASE_URL;
  if (!connectionString) {
    log.info({ dataDir: config.DATA_DIR }, 'DATABASE_URL is unset: starting embedded PostgreSQL');
    embedded = await startEmbeddedPostgres({
      dataDir: config.DATA_DIR,
      port: config.EMBEDDED_PG_PORT,
      password: secrets.databasePassword,
    });
    connectionString = embedded.connectionString;
  }

  const dbOptions = {
    connectionString,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
    idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  };
  const db = createDb({ ...dbOptions, poolSize: config.DATABASE_POOL_SIZE });
  await migrateToLatest(db);
  // Background work (relay, consumers, sweeper) has connections of its own, so a saturated request
  // pool can delay it only through the database itself, never by queueing it behind requests.
  const backgroundDb = createDb({ ...dbOptions, poolSize: 4 });

  const redis = config.REDIS_URL ? createRedis(config.REDIS_URL, { commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS }) : undefined;
  const cacheBus = redis ? await createRedisBus(redis, redis.duplicate()) : undefined;
  const metrics = createMetrics();
  // Events go to Kafka when configured, else Redis Streams, else an in-process broker.
  const broker: Broker = config.KAFKA_BROKERS
    ? createKafkaBroker({ brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()) })
    : redis
      ? createRedisBroker(redis)
      : createMemoryBroker();
  const deps = {
    config,
    db,
    adminToken,
    tokenSecret: config.TOKEN_SECRET ?? secrets.tokenSecret,
    previousTokenSecrets: config.TOKEN_SECRET_PREVIOUS,
    queueStore: redis ? createRedisQueueStore(redis) : undefined,
    redis,
    cacheBus,
    broker,
    rankingsStore: redis ? createRedisRankingsStore(redis) : undefined,
    metrics,
    logger: log,
  };
  const services = createServices(deps);
  if (config.DEMO_DATA && (await seedDemoConcerts(services.catalog, services.clock.now()))) {
    log.info('empty database: created demo concerts (DEMO_DATA=false to skip)');
  }

  const app = await buildApp(deps, services);
  const sweeper = startSweeper({
    db: backgroundDb,
    clock: services.clock,
    intervalMs: config.HOLD_SWEEP_INTERVAL_MS,
    log,
    onExpired: (n) => metrics.holdsExpired.inc(n),
    onSeatsFreed: (seats) => services.catalog.seatsChanged(seats),
    housekeeping: () => services.idempotency.purgeExpired(),
  });
  registerOutboxGauges(metrics, () => outboxHealth(db));
  const relay = config.OUTBOX_RELAY_ENABLED ? startRelay({
    db: backgroundDb,
    broker,
    clock: services.clock,
    log,
    onPublished: (n) => metrics.eventsPublished.inc(n),
    onFailed: (n) => metrics.eventPublishFailures.inc(n),
  }) : undefined;
  const consumers = !config.OUTBOX_RELAY_ENABLED ? [] : await startConsumers({
    broker,
    instanceId: `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    log,
    consumers: {
      rankings: rankingsUpdater({ db: backgroundDb, rankings: services.rankings }),
      'cache-invalidation': cacheInvalidator({ catalog: services.catalog }),
      ...(config.DATA_PLATFORM_URL ? { 'data-platform': dataPlatformExporter({ db: backgroundDb, url: config.DATA_PLATFORM_URL }) } : {}),
    },
  });
  // Without Redis the rankings live in this process: start them from what PostgreSQL knows.
  if (!redis) await services.rankings.rebuild();
  const ticker = startQueueTicker({
    queue: services.queue,
    intervalMs: config.QUEUE_TICK_MS,
    databaseReady: () => databaseReady(backgroundDb),
    log,
    onAdmitted: (n) => metrics.queueAdmitted.inc(n),
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    try {
      await app.close();
      await Promise.all([sweeper.stop(), ticker.stop(), relay?.stop(), ...consumers.map((c) => c.close())]);
      await broker.close();
      await cacheBus?.close();
      await redis?.quit();
      await Promise.all([db.destroy(), backgroundDb.destroy()]);
      await embedded?.stop();
    } catch (err) {
      log.error({ err }, 'error during shutdown');
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  const address = await app.listen({ port: config.PORT, host: config.HOST });
  log.info(
    { address, docs: `${address}/docs`, database: embedded ? 'embedded' : 'DATABASE_URL', stores: redis ? 'redis' : 'in-process' },
    'ticketing service ready',
  );
  if (!config.ADMIN_TOKEN) {
    // Printed so a newcomer can create concerts at once; set ADMIN_TOKEN in production.
    console.log(`\n  Admin token (from ${config.DATA_DIR}/secrets.json): ${adminToken}\n  API explorer: ${address}/docs\n`);
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
