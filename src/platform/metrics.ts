import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  holdsExpired: Counter;
  queueAdmitted: Counter;
  cacheEvents: Counter<'cache' | 'event'>;
  eventsPublished: Counter;
  eventPublishFailures: Counter;
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
      help: 'Waiting-room entries admitted to ACTIVE by this instance',
      registers: [registry],
    }),
  };
}

export function registerHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
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
  let last: Promise<{ unsent: number; parked: number; oldestUnsentAgeSeconds: number }> | undefined;
  // One query per scrape for the three gauges.
  const current = () => (last ??= read().finally(() => setTimeout(() => (last = undefined), 1_000).unref()));
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
  gauge('outbox_parked_events', 'Events parked after too many failed publishes (need an operator)', (h) => h.parked);
  gauge('outbox_oldest_unsent_age_seconds', 'Age of the oldest event not yet published', (h) => h.oldestUnsentAgeSeconds);
}
