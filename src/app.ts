import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyServerOptions, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv, type Options as AjvOptions } from 'ajv';
import ajvFormats from 'ajv-formats';
import type { Tracer } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import pino from 'pino';
import type { Config } from './config.js';
import { bookingObservers, queueStoreMetrics, registerAppGauges } from './app.metrics.js';
import type { InvalidationBus } from './cache/invalidation.js';
import { createCatalogCaches } from './modules/catalog/catalog.cache.js';
import { rankingsRoutes } from './modules/rankings/rankings.routes.js';
import { createRankingsService } from './modules/rankings/rankings.service.js';
import { createMemoryRankingsStore } from './modules/rankings/rankings.store.memory.js';
import type { RankingsStore } from './modules/rankings/rankings.store.js';
import type { Broker } from './modules/events/broker.js';
import { outboxRoutes } from './modules/events/outbox.routes.js';
import { pageAssets } from './modules/page/page.assets.js';
import { pageRoutes } from './modules/page/page.routes.js';
import { systemClock, type Clock } from './platform/clock.js';
import { poolStats, type Database } from './platform/db.js';
import { createMetrics, registerHttpMetrics, type Metrics } from './platform/metrics.js';
import { withPlainIntegers } from './platform/plain-integers.js';
import { problem, registerProblemHandlers, sendProblem } from './platform/problem.js';
import { registerRateLimits } from './platform/rate-limit.js';
import { registerShedding } from './platform/shedding.js';
import { registerHttpTracing } from './platform/tracing.http.js';
import { catalogRoutes } from './modules/catalog/catalog.routes.js';
import { createCatalogService } from './modules/catalog/catalog.service.js';
import { createIdempotencyService } from './modules/idempotency/idempotency.service.js';
import { healthRoutes } from './modules/operator/health.routes.js';
import { paymentRoutes } from './modules/payments/payments.routes.js';
import { createPaymentService } from './modules/payments/payments.service.js';
import { queueAdminRoutes } from './modules/queue/queue.admin.routes.js';
import { createQueueGate, queueTokenVoucher } from './modules/queue/queue.gate.js';
import { createLongPolls } from './modules/queue/queue.longpoll.js';
import { queueRoutes } from './modules/queue/queue.routes.js';
import { createQueueService } from './modules/queue/queue.service.js';
import { createMemoryQueueStore } from './modules/queue/queue.store.memory.js';
import type { QueueStore } from './modules/queue/queue.store.js';
import { createQueueTokens } from './modules/queue/queue.token.js';
import { requestQueueTokens } from './modules/queue/queue.token.request.js';
import { reservationRoutes } from './modules/reservations/reservations.routes.js';
import { createReservationService } from './modules/reservations/reservations.service.js';
import { createAuth } from './modules/users/users.auth.js';
import { usersRoutes } from './modules/users/users.routes.js';
import { createUsersService } from './modules/users/users.service.js';
import { createWalletService } from './modules/wallet/wallet.service.js';

export interface AppDeps {
  config: Config;
  db: Database;
  /** A pool apart from the requests' (main.ts's background pool): idempotency leases are renewed on it. */
  backgroundDb?: Database;
  adminToken: string;
  /** Signs queue tokens; previous secrets still verify during a rotation. */
  tokenSecret: string;
  previousTokenSecrets?: string[];
  /** The waiting room's store; in-process unless given (main.ts passes Redis when REDIS_URL is set). */
  queueStore?: QueueStore;
  /** When set: the waiting room's store is passed separately; caches use it as L2 and for leases; /health/ready checks it as `cache`. */
  redis?: Redis;
  /** Carries cache invalidations to other instances (Redis pub/sub); local when absent. */
  cacheBus?: InvalidationBus;
  /** Rankings in Redis when given; in process otherwise. */
  rankingsStore?: RankingsStore;
  /** When set, /health/ready checks it as `broker`. */
  broker?: Broker;
  clock?: Clock;
  metrics?: Metrics;
  /** A pino logger to share; otherwise one at LOG_LEVEL is made. */
  logger?: FastifyBaseLogger;
  /** When tracing is on: every request gets a span (platform/tracing.http.ts). */
  tracer?: Tracer;
}

const addFormats = ajvFormats as unknown as (ajv: Ajv) => Ajv;

/**
 * RFC 3339 allows a leap second (`23:59:60Z`) that JavaScript cannot read (Invalid Date): a
 * `date-time` must also be one `new Date()` reads.
 */
function withReadableDates(ajv: Ajv): Ajv {
  const rfc3339 = ajv.formats['date-time'] as { validate: (value: string) => boolean; compare?: (a: string, b: string) => number };
  return ajv.addFormat('date-time', { ...rfc3339, validate: (value: string) => rfc3339.validate(value) && !Number.isNaN(Date.parse(value)) });
}

/**
 * Bodies are validated strictly ("5" is not a number); query strings, params and headers are text
 * on the wire, so they are coerced (integers only from plain decimal digits). Unknown body properties are dropped.
 */
function validatorCompiler() {
  const base: AjvOptions = { allErrors: true, useDefaults: true, removeAdditional: true, strict: false };
  const strictAjv = withReadableDates(addFormats(new Ajv({ ...base, coerceTypes: false })));
  const coercingAjv = withReadableDates(addFormats(new Ajv({ ...base, coerceTypes: 'array' })));
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    httpPart === 'body' ? strictAjv.compile(schema) : withPlainIntegers(schema, coercingAjv.compile(schema));
}

/** Counts every failed lease renewal and logs one per 5 s at most (a busy database fails many at once). */
function renewalFailureReporter(log: { warn(obj: object, msg: string): void }, metrics: Metrics | undefined) {
  let lastLogged = -Infinity;
  return (err: unknown) => {
    metrics?.leaseRenewalFailures.inc();
    if (Date.now() - lastLogged < 5_000) return;
    lastLogged = Date.now();
    log.warn({ err }, 'idempotency lease renewal failed; retried in 1 s (repeats within 5 s not logged)');
  };
}

export function createServices(deps: AppDeps) {
  const { config, db } = deps;
  const clock = deps.clock ?? systemClock;
  // Steps after a commit log here (see platform/after-commit.ts): the app's logger when one is given.
  const log = deps.logger ?? pino({ level: config.LOG_LEVEL });
  const observe = deps.metrics && bookingObservers(deps.metrics);
  const users = createUsersService({ db });
  const caches = config.CACHE_ENABLED
    ? createCatalogCaches(config, {
        clock,
        redis: deps.redis,
        bus: deps.cacheBus,
        onEvent: deps.metrics ? (cache, event) => deps.metrics!.cacheEvents.inc({ cache, event }) : undefined,
      })
    : undefined;
  const catalog = createCatalogService({ db, clock, caches });
  const longPolls = createLongPolls({ max: config.QUEUE_LONG_POLL_MAX });
  const queueTokens = createQueueTokens({ secret: deps.tokenSecret, previousSecrets: deps.previousTokenSecrets });
  const queue = createQueueService({
    store: deps.queueStore ?? createMemoryQueueStore(deps.metrics && queueStoreMetrics(deps.metrics)),
    tokens: queueTokens,
    clock,
    limits: {
      maxActive: config.QUEUE_MAX_ACTIVE,
      perSecond: config.QUEUE_ADMIT_PER_SECOND,
      activeTtlMs: config.QUEUE_ACTIVE_TTL_SECONDS * 1000,
    },
    assertConcertExists: async (concertId) => {
      await catalog.concert(concertId);
    },
    observe: observe?.queue,
    longPolls,
    soldOut: (concertId) => catalog.soldOut(concertId),
  });
  const rankings = createRankingsService({ db, store: deps.rankingsStore ?? createMemoryRankingsStore(), catalog, clock });
  const batch = { maxBatch: config.BOOKING_BATCH_SIZE, maxInFlight: config.BOOKING_BATCH_CONCURRENCY };
  const idempotency = createIdempotencyService({
    db,
    clock,
    retentionHours: config.IDEMPOTENCY_RETENTION_HOURS,
    leaseMs: config.IDEMPOTENCY_LEASE_MS,
    renewDb: deps.backgroundDb,
    onRenewalFailed: renewalFailureReporter(log, deps.metrics),
    batch,
  });
  // Every step of a request that needs its Queue-Token asks this: the signature is checked once.
  const requestTokens = requestQueueTokens(queueTokens);
  return {
    clock,
    users,
    catalog,
    queue,
    queueTokens,
    requestQueueTokens: requestTokens,
    longPolls,
    idempotency,
    rankings,
    gate: createQueueGate({ queue, catalog, db, idempotency, requestTokens }),
    auth: createAuth(users, deps.adminToken, queueTokenVoucher(queue, requestTokens)),
    wallet: createWalletService({ db, clock }),
    reservations: createReservationService({
      db,
      clock,
      catalog,
      log,
      holdTtlSeconds: config.HOLD_TTL_SECONDS,
      holdLimit: config.HOLD_LIMIT_PER_SCHEDULE,
      batch,
      observe: observe?.reservations,
    }),
    payments: createPaymentService({ clock, db, catalog, queue, log, batch, observe: observe?.payments }),
  };
}

export type Services = ReturnType<typeof createServices>;

/** TRUST_PROXY as Fastify's trustProxy: a boolean, a hop count, or the proxies' addresses. */
export function trustProxyOf(value: string | undefined): FastifyServerOptions['trustProxy'] {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^[0-9]+$/.test(value)) {
    const hops = Number(value);
    return (_address: string, hop: number) => hop < hops; // the nearest `hops` proxies are ours
  }
  return value.split(',').map((x) => x.trim());
}

/**
 * Every wait of the HTTP server has an end (Fastify's defaults have none for requests and
 * connections): a request must arrive whole within HTTP_REQUEST_TIMEOUT_MS (its headers within
 * min(60 s, that)), checked every second; a silent socket is closed after HTTP_CONNECTION_TIMEOUT_MS.
 */
function httpServerOptions(config: Config) {
  return {
    trustProxy: trustProxyOf(config.TRUST_PROXY),
    requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
    connectionTimeout: config.HTTP_CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    bodyLimit: config.HTTP_BODY_LIMIT_BYTES,
    http: { requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000 },
  };
}

/** Builds the HTTP application: plugins, error mapping and every module's routes. No I/O of its own. */
export async function buildApp(deps: AppDeps, services: Services = createServices(deps)): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: { level: deps.config.LOG_LEVEL } }),
    // A client's X-Request-Id is kept when it is a plain token; anything else (control characters,
    // a kilobyte of text) would be echoed into a response header and the logs, so it is replaced.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\x21-\x7e]{1,128}$/.test(given) ? given : randomUUID();
    },
    // A path that is not a valid URL component, or a parameter past its length, is a malformed request.
    frameworkErrors: (err, request, reply) => {
      const instance = request.url.split('?')[0] ?? request.url;
      sendProblem(reply, problem('VALIDATION_FAILED', err.message, instance, { errors: [{ path: '/url', message: err.message }] }));
    },
    ...httpServerOptions(deps.config),
    // Per-request access logs only at debug: on sale day they would cost more than the requests.
    logController: new LogController({
      disableRequestLogging: deps.config.LOG_LEVEL !== 'debug' && deps.config.LOG_LEVEL !== 'trace',
    }),
  }).withTypeProvider<TypeBoxTypeProvider>();

  // First, so every later hook runs inside the request's span.
  if (deps.tracer) registerHttpTracing(app, deps.tracer);
  app.setValidatorCompiler(validatorCompiler());
  // An empty body sent as JSON is no body (many clients add the header to every POST); routes that
  // need a body still refuse it through their schema. Anything else goes to the default parser.
  const parseJson = app.getDefaultJsonParser('error', 'ignore');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text.trim() === '') return done(null, undefined);
    return parseJson(request, text, done);
  });
  app.decorateRequest('user', null);
  app.decorateRequest('queueAdmission', null);
  app.decorateRequest('queueTokenCheck', null);
  // Held line polls are answered at once when the server closes, not after their wait.
  app.addHook('preClose', async () => services.longPolls.wakeAll());
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  registerProblemHandlers(app);
  const metrics = deps.metrics ?? createMetrics();
  registerHttpMetrics(app, metrics);
  registerAppGauges(metrics, { db: deps.db, lines: () => services.queue.lines(), heldPolls: () => services.longPolls.held(), broker: deps.broker });
  // The claims of the request's Queue-Token (user, concert), undefined when it does not verify: an
  // HMAC, no I/O, done once per request whoever asks first (the gate and the line's routes reuse it).
  const genuineQueueToken = (request: FastifyRequest) => services.requestQueueTokens.genuine(request);
  // Before the rate limits: a shed request costs no Redis round trip.
  await registerShedding(app, deps.config, metrics, {
    genuineQueueToken: (request) => genuineQueueToken(request) !== undefined,
    databaseWaitMs: () => poolStats(deps.db)?.oldestWaitMs ?? 0,
    operator: (request) => services.auth.isOperator(request),
  });
  await registerRateLimits(app, deps.config, deps.redis, genuineQueueToken);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Concert ticketing API',
        version: '1.0.0',
        description: 'Waiting room, seat holds and payments. Errors are application/problem+json (RFC 9457) with a stable `code`.',
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'User token from POST /users, or ADMIN_TOKEN' },
          queueToken: { type: 'apiKey', in: 'header', name: 'Queue-Token' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes({ db: deps.db, redis: deps.redis, broker: deps.broker }));
  await app.register(usersRoutes(services));
  await app.register(catalogRoutes(services));
  await app.register(queueRoutes(services));
  await app.register(queueAdminRoutes(services));
  await app.register(reservationRoutes(services));
  await app.register(paymentRoutes(services));
  await app.register(rankingsRoutes(services));
  await app.register(outboxRoutes({ db: deps.db, auth: services.auth }));
  await app.register(pageRoutes(pageAssets()));
  return app;
}
