import type { Broker } from './modules/events/broker.js';
import type { CircuitBreaker, HandledOutcome } from './modules/events/consumers.js';
import { EVENTS_TOPIC } from './modules/events/outbox.event.js';
import type { PaymentObserver } from './modules/payments/payments.service.js';
import type { QueueObserver } from './modules/queue/queue.service.js';
import type { ReservationObserver } from './modules/reservations/reservations.service.js';
import { poolStats, type Database } from './platform/db.js';
import type { Metrics } from './platform/metrics.js';
import {
  registerCircuitGauge,
  registerConsumerLagGauge,
  registerHeldPollsGauge,
  registerPoolGauges,
  registerWaitingRoomGauges,
  type LineGauge,
} from './platform/metrics.gauges.js';

/**
 * The modules report through narrow observers; here those reports become metrics. Each function
 * is used where its part is wired: the use cases in createServices, the gauges in buildApp, the
 * background loops in main.ts.
 */

/** The booking funnel's observers: a counter increment per request, nothing awaited. */
export function bookingObservers(metrics: Metrics): {
  reservations: ReservationObserver;
  payments: PaymentObserver;
  queue: QueueObserver;
} {
  const statement = (name: 'hold' | 'payment') => {
    const size = metrics.batchSize.labels(name);
    const duration = metrics.batchDuration.labels(name);
    return (requests: number, seconds: number) => {
      size.observe(requests);
      duration.observe(seconds);
    };
  };
  return {
    reservations: {
      hold: (outcome) => metrics.holds.inc({ outcome }),
      cancelled: (kind, refunded) => {
        metrics.cancellations.inc({ kind });
        if (refunded > 0) metrics.refundedAmount.inc(refunded);
      },
      statement: statement('hold'),
    },
    payments: {
      payment: (outcome) => metrics.payments.inc({ outcome }),
      statement: statement('payment'),
    },
    queue: { joined: () => metrics.queueJoins.inc() },
  };
}

/** The waiting room's store option that counts the entries this instance admitted. */
export const queueStoreMetrics = (metrics: Metrics) => ({ onAdmitted: (count: number) => metrics.queueAdmitted.inc(count) });

/** Scrape-time gauges of what the app holds: the request pool, the waiting room, the broker's groups. */
export function registerAppGauges(
  metrics: Metrics,
  from: { db: Database; lines: () => Promise<LineGauge[]>; heldPolls: () => number; broker?: Broker },
): void {
  registerPoolGauges(metrics.registry, () => poolStats(from.db));
  registerHeldPollsGauge(metrics.registry, from.heldPolls);
  registerWaitingRoomGauges(metrics.registry, from.lines);
  const { broker } = from;
  if (broker?.lag) registerConsumerLagGauge(metrics.registry, () => broker.lag!(EVENTS_TOPIC));
}

/** The hold sweeper's callbacks: its runs and the holds it expired. */
export const sweeperMetrics = (metrics: Metrics) => ({
  onSwept: (expired: number) => {
    metrics.sweeperRuns.inc();
    if (expired > 0) metrics.holdsExpired.inc(expired);
  },
});

/** The consumers' callback: events handled per group and outcome. */
export const consumerMetrics = (metrics: Metrics) => ({
  onHandled: (group: string, outcome: HandledOutcome) => metrics.consumerHandled.inc({ group, outcome }),
});

/** The data-platform exporter's calls, and its breaker's state read at each scrape. */
export function dataPlatformMetrics(metrics: Metrics, breaker: CircuitBreaker) {
  registerCircuitGauge(metrics.registry, () => breaker.state);
  return { breaker, onExport: (outcome: 'success' | 'failure') => metrics.dataPlatformExports.inc({ outcome }) };
}
