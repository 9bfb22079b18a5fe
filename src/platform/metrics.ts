import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { cachedRead } from './metrics.gauges.js';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  shed: Counter<'method' | 'route' | 'reason'>;
  longPollHeld: Histogram;
  holdsExpired: Counter;
  queueAdmitted: Counter;
  cacheEvents: Counter<'cache' | 'event'>;
  eventsPublished: Counter;
  eventPublishFailures: Counter;
  queueJoins: Counter;
  holds: Counter<'outcome'>;
  payments: Counter<'outcome'>;
  cancellations: Counter<'kind'>;
  refundedAmount: Counter;
  idempotentReplays: Counter<'route'>;
  leaseRenewalFailures: Counter;
  batchSize: Histogram<'statement'>;
  batchDuration: Histogram<'statement'>;
  sweeperRuns: Counter;
  consumerHandled: Counter<'group' | 'outcome'>;
  dataPlatformExports: Counter<'outcome'>;
}

/** The version in package.json (two levels up from src/platform and from dist/platform alike). */
function packageVersion(): string {
  try {
    return String(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

/** One registry per app instance, so tests can build many apps in one process. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency, by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    shed: new Counter({
      name: 'http_requests_shed_total',
      help: 'Requests refused at once with 503 while the instance was under pressure, by route template and the measure over its threshold',
      labelNames: ['method', 'route', 'reason'],
      registers: [registry],
    }),
    longPollHeld: new Histogram({
      name: 'queue_long_poll_held_seconds',
      help: 'How long line polls (GET …/queue?wait=S) were held before their answer; not in http_request_duration_seconds',
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 15, 20, 25, 30],
      registers: [registry],
    }),
    holdsExpired: new Counter({
      name: 'reservations_expired_total',
      help: 'Holds marked EXPIRED by the sweeper',
      registers: [registry],
    }),
    cacheEvents: new Counter({
      name: 'cache_events_total',
      help: 'Hot-read cache hits, misses, stale answers, recomputations (early ones too) and loader errors',
      labelNames: ['cache', 'event'],
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: 'outbox_events_published_total',
      help: 'Outbox events the relay published and the broker acknowledged',
      registers: [registry],
    }),
    eventPublishFailures: new Counter({
      name: 'outbox_publish_failures_total',
      help: 'Outbox events whose publish failed (retried with backoff, parked after too many)',
      registers: [registry],
    }),
    queueAdmitted: new Counter({
      name: 'queue_admitted_total',
      help: 'Waiting-room entries admitted to ACTIVE by this instance (at a join that finds room, or an admission pass)',
      registers: [registry],
    }),
    ...bookingMetrics(registry),
    ...eventMetrics(registry),
  };
}

/** The booking funnel: joins, holds, payments, cancellations, replays, and the batched statements. */
function bookingMetrics(registry: Registry) {
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  const statementHistogram = (name: string, help: string, buckets: number[]) =>
    new Histogram<'statement'>({ name, help, labelNames: ['statement'], buckets, registers: [registry] });
  return {
    queueJoins: counter('queue_joins_total', 'New entries in a waiting-room line (joining again while in line is not counted)'),
    holds: counter(
      'reservation_holds_total',
      'Hold requests by outcome: created, the refusal code (SEAT_UNAVAILABLE, HOLD_LIMIT_REACHED, ...), or error (no refusal: a failure)',
      ['outcome'],
    ),
    payments: counter(
      'payments_total',
      'Payments by outcome: paid, the refusal code (INSUFFICIENT_BALANCE, HOLD_EXPIRED, ...), or error (no refusal: a failure)',
      ['outcome'],
    ),
    cancellations: counter('reservation_cancellations_total', 'Cancellations: released (a hold) or refunded (a paid seat)', ['kind']),
    refundedAmount: counter('refunded_amount_won_total', 'Sum of refunds paid back to balances, in won'),
    idempotentReplays: counter('idempotent_replays_total', 'Answers replayed from a stored Idempotency-Key, by route template', ['route']),
    leaseRenewalFailures: counter(
      'idempotency_lease_renewal_failures_total',
      'Renewals of a held Idempotency-Key lease that failed (database busy or away); each is tried again after 1 s',
    ),
    batchSize: statementHistogram(
      'booking_batch_size',
      'Requests carried by one batched statement of holds or payments',
      [1, 2, 4, 8, 16, 32, 64, 128, 256],
    ),
    batchDuration: statementHistogram(
      'booking_batch_duration_seconds',
      'Time of one batched statement of holds or payments, until every request in it has its outcome',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
    sweeperRuns: counter('hold_sweeper_runs_total', 'Passes of the hold sweeper (each expires every due hold)'),
  };
}

/** Consumers and the data-platform export, and the process's build. */
function eventMetrics(registry: Registry) {
  new Gauge({
    name: 'ticketing_build_info',
    help: 'Always 1; the labels say which build runs',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version: packageVersion(), node: process.version }, 1);
  return {
    consumerHandled: new Counter<'group' | 'outcome'>({
      name: 'event_consumer_handled_total',
      help: 'Events handled per consumer group: applied, duplicate (applied before: redelivered), failed (will be delivered again)',
      labelNames: ['group', 'outcome'],
      registers: [registry],
    }),
    dataPlatformExports: new Counter<'outcome'>({
      name: 'data_platform_exports_total',
      help: 'Calls to the data platform: success or failure (refused, timed out, unreachable); none while the circuit is open',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}

/** The `held;dur=<ms>` a held line poll's answer carries in Server-Timing (queue.routes.ts), in seconds. */
function heldSeconds(serverTiming: unknown): number {
  const m = /(?:^|,)\s*held;dur=(\d+(?:\.\d+)?)/.exec(String(serverTiming ?? ''));
  return m ? Number(m[1]) / 1000 : 0;
}

export function registerHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    };
    metrics.httpRequests.inc(labels);
    // A held line poll's wait is not latency: the histogram gets the time spent answering it.
    const held = heldSeconds(reply.getHeader('server-timing'));
    metrics.httpDuration.observe(labels, Math.max(0, reply.elapsedTime / 1000 - held));
    if (held > 0) metrics.longPollHeld.observe(held);
    // sendIdempotent marks an answer replayed from a stored key.
    if (reply.getHeader('idempotent-replayed') === 'true') metrics.idempotentReplays.inc({ route: labels.route });
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

/** Gauges read at scrape time: the outbox backlog, its oldest unsent event and the parked ones. */
export function registerOutboxGauges(
  metrics: Metrics,
  read: () => Promise<{ unsent: number; parked: number; oldestUnsentAgeSeconds: number }>,
): void {
  // One query per scrape for the three gauges.
  const current = cachedRead(read);
  const gauge = (name: string, help: string, pick: (h: Awaited<ReturnType<typeof read>>) => number) =>
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      async collect() {
        this.set(pick(await current().catch(() => ({ unsent: NaN, parked: NaN, oldestUnsentAgeSeconds: NaN }))));
      },
    });
  gauge('outbox_unsent_events', 'Events committed but not yet published', (h) => h.unsent);
  gauge('outbox_parked_events', 'Events parked because the broker refuses them for good (too large, invalid): they need an operator', (h) => h.parked);
  gauge('outbox_oldest_unsent_age_seconds', 'Age of the oldest event not yet published', (h) => h.oldestUnsentAgeSeconds);
}
