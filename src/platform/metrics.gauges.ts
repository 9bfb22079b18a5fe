import { Gauge, type Registry } from 'prom-client';
import type { PoolStats } from './db.js';

/**
 * Gauges read at scrape time from what other parts hold (stores, the pool, the broker). Each takes
 * a read function, so this file knows no module; app.ts and main.ts wire them.
 */

/**
 * `read` shared by the scrapes of about one second: one read serves every gauge it feeds and every
 * scrape that arrives meanwhile (several Prometheus servers, a scrape storm).
 */
export function cachedRead<T>(read: () => Promise<T>, ttlMs = 1_000): () => Promise<T> {
  let last: Promise<T> | undefined;
  return () => (last ??= read().finally(() => setTimeout(() => (last = undefined), ttlMs).unref()));
}

/** The request pool's connections, read from the pool at each scrape (no I/O). */
export function registerPoolGauges(registry: Registry, stats: () => PoolStats | undefined): void {
  new Gauge({
    name: 'db_pool_connections',
    help: 'Connections of the request pool: total (open), idle, and waiting (callers waiting for a connection)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const s = stats();
      if (!s) return;
      this.set({ state: 'total' }, s.total);
      this.set({ state: 'idle' }, s.idle);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });
  new Gauge({
    name: 'db_pool_oldest_wait_seconds',
    help: 'How long the caller waiting longest for a connection of the request pool has waited so far (0: none waits); load shedding reads it',
    registers: [registry],
    collect() {
      const s = stats();
      if (s) this.set(s.oldestWaitMs / 1000);
    },
  });
  new Gauge({
    name: 'db_pool_max_connections',
    help: 'Size limit of the request pool (DATABASE_POOL_SIZE)',
    registers: [registry],
    collect() {
      const s = stats();
      if (s) this.set(s.max);
    },
  });
}

export interface LineGauge {
  concertId: string;
  waiting: number;
  active: number;
  headWaitSeconds: number;
}

const SHARED_LINE =
  'With a shared store (Redis) every instance reports the same line: use max() across instances, not sum().';

/**
 * The waiting room per concert, for concerts that have a line now (anyone waiting or active) only:
 * a concert whose line ends loses its series at the next scrape, so their number stays bounded.
 */
export function registerWaitingRoomGauges(registry: Registry, read: () => Promise<LineGauge[]>): void {
  const lines = cachedRead(read);
  const gauge = (name: string, help: string, pick: (line: LineGauge) => number) =>
    new Gauge({
      name,
      help: `${help}. ${SHARED_LINE}`,
      labelNames: ['concert_id'],
      registers: [registry],
      async collect() {
        const current = await lines().catch(() => []);
        this.reset();
        for (const line of current) this.set({ concert_id: line.concertId }, pick(line));
      },
    });
  gauge('queue_waiting_users', 'Users waiting in the line of a concert', (l) => l.waiting);
  gauge('queue_active_users', 'Users admitted (ACTIVE) for a concert', (l) => l.active);
  gauge('queue_head_wait_seconds', 'How long the first user in line has waited (0 when nobody waits)', (l) => l.headWaitSeconds);
}

/** Events each consumer group has not handled yet, as the broker reports them (about once a second). */
export function registerConsumerLagGauge(registry: Registry, read: () => Promise<Array<{ group: string; lag: number }>>): void {
  const lags = cachedRead(read);
  new Gauge({
    name: 'event_consumer_lag_events',
    help: `Events published and not yet handled by each consumer group (queued, or delivered and not acknowledged). The broker's view: ${SHARED_LINE}`,
    labelNames: ['group'],
    registers: [registry],
    async collect() {
      const current = await lags().catch(() => []);
      this.reset();
      for (const { group, lag } of current) this.set({ group }, lag);
    },
  });
}

const CIRCUIT_STATES = { closed: 0, 'half-open': 1, open: 2 } as const;

/** The data-platform exporter's circuit breaker: 0 closed, 1 half-open, 2 open. */
export function registerCircuitGauge(registry: Registry, state: () => keyof typeof CIRCUIT_STATES): void {
  new Gauge({
    name: 'data_platform_circuit_state',
    help: 'Circuit breaker of the data-platform export: 0 closed, 1 half-open (one attempt allowed), 2 open (failing fast)',
    registers: [registry],
    collect() {
      this.set(CIRCUIT_STATES[state()]);
    },
  });
}

/** Line polls (GET …/queue?wait=S) this instance holds open now, of at most QUEUE_LONG_POLL_MAX. */
export function registerHeldPollsGauge(registry: Registry, held: () => number): void {
  new Gauge({
    name: 'queue_long_polls_held',
    help: 'Line polls held open by this instance now (at most QUEUE_LONG_POLL_MAX; one per user and concert)',
    registers: [registry],
    collect() {
      this.set(held());
    },
  });
}
