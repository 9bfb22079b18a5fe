import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerMetrics, dataPlatformMetrics } from '../../src/app.metrics.js';
import type { Broker, Subscription } from '../../src/modules/events/broker.js';
import { createMemoryBroker } from '../../src/modules/events/broker.memory.js';
import { createRedisBroker } from '../../src/modules/events/broker.redis.js';
import { CircuitBreaker, dataPlatformExporter, startConsumers, type EventHandler } from '../../src/modules/events/consumers.js';
import { EVENTS_TOPIC, type OutgoingEvent } from '../../src/modules/events/outbox.event.js';
import { createMetrics, type Metrics } from '../../src/platform/metrics.js';
import { createTestApp, type TestApp } from '../support/harness.js';
import { scrape } from '../support/metrics.js';
import { log } from '../support/outbox.js';
import { deleteKeys } from '../support/redis-keys.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The lag gauge is read from the broker at most once a second. */
const GAUGE_CACHE_MS = 1_100;

const event = (type = 'reservation.confirmed'): OutgoingEvent => ({
  id: randomUUID(),
  type,
  version: 1,
  occurredAt: new Date().toISOString(),
  aggregateId: randomUUID(),
  payload: {},
});
const messageOf = (e: OutgoingEvent) => ({ id: e.id, key: e.aggregateId, value: JSON.stringify(e) });

/** Polls GET /metrics until `check` passes on a scrape (10 s at most). */
async function eventually(t: TestApp, check: (m: Awaited<ReturnType<typeof scrape>>) => boolean) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = await scrape(t.app);
    if (check(m)) return m;
    if (Date.now() > deadline) throw new Error(`metrics never matched:\n${m.text}`);
    await sleep(50);
  }
}

/** Consumers on `broker` counted into the app's metrics; `slow` holds every event until released. */
function describeConsumerMetrics(name: string, makeBroker: () => { broker: Broker; cleanup(): Promise<void> }) {
  describe(name, () => {
    const metrics: Metrics = createMetrics();
    let t: TestApp;
    let made: ReturnType<typeof makeBroker>;
    let subs: Subscription[] = [];
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));

    beforeAll(async () => {
      made = makeBroker();
      t = await createTestApp({}, { metrics, broker: made.broker });
      const consumers: Record<string, EventHandler> = {
        fresh: async () => {},
        seen: async () => false,
        broken: async () => {
          throw new Error('endpoint down');
        },
        slow: () => released,
      };
      subs = await startConsumers({ broker: made.broker, instanceId: 'metrics-test', log, redeliverAfterMs: 60_000, consumers, ...consumerMetrics(metrics) });
    });
    afterAll(async () => {
      release();
      await Promise.all(subs.map((s) => s.close()));
      await t.close();
      await made.cleanup();
    });

    it('counts each group’s handled events by outcome and shows what each group has not handled', async () => {
      await made.broker.publish(EVENTS_TOPIC, [event(), event(), event()].map(messageOf));
      const handled = (m: Awaited<ReturnType<typeof scrape>>, group: string, outcome: string) =>
        m.value('event_consumer_handled_total', { group, outcome });
      await eventually(t, (m) => handled(m, 'fresh', 'applied') === 3 && handled(m, 'seen', 'duplicate') === 3 && handled(m, 'broken', 'failed') === 3);

      await sleep(GAUGE_CACHE_MS);
      const held = await eventually(t, (m) => m.value('event_consumer_lag_events', { group: 'slow' }) === 3);
      expect(held.value('event_consumer_lag_events', { group: 'fresh' })).toBe(0);
      expect(held.value('event_consumer_lag_events', { group: 'broken' })).toBe(3); // pending, to be delivered again
      expect(handled(held, 'slow', 'applied')).toBeUndefined();

      release();
      await eventually(t, (m) => handled(m, 'slow', 'applied') === 3);
      await sleep(GAUGE_CACHE_MS);
      await eventually(t, (m) => m.value('event_consumer_lag_events', { group: 'slow' }) === 0);
    });
  });
}

describeConsumerMetrics('consumer metrics, in-process broker', () => {
  const broker = createMemoryBroker();
  return { broker, cleanup: () => broker.close() };
});

const redisUrl = process.env.REDIS_URL;
if (redisUrl) {
  describeConsumerMetrics('consumer metrics, Redis Streams broker', () => {
    const redis = new Redis(redisUrl);
    const keyPrefix = `test-events-metrics-${randomUUID()}`;
    const broker = createRedisBroker(redis, { keyPrefix, onError: () => {} });
    return {
      broker,
      async cleanup() {
        await broker.close();
        await deleteKeys(redis, keyPrefix);
        await redis.quit();
      },
    };
  });
}

describe('data-platform export metrics', () => {
  const metrics = createMetrics();
  let t: TestApp;
  let server: Server;
  let url = '';
  let up = true;

  beforeAll(async () => {
    t = await createTestApp({}, { metrics });
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(up ? 204 : 503).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await t.close();
  });

  it('counts calls that succeeded and failed, and shows the circuit closed, then open', async () => {
    const exporter = dataPlatformExporter({ db: t.db, url, retries: 0, ...dataPlatformMetrics(metrics, new CircuitBreaker(2, 60_000)) });
    const send = (e: OutgoingEvent) => exporter(e, JSON.stringify(e));

    await send(event());
    await send(event('reservation.held')); // not exported: no call
    let m = await scrape(t.app);
    expect(m.value('data_platform_exports_total', { outcome: 'success' })).toBe(1);
    expect(m.value('data_platform_exports_total', { outcome: 'failure' })).toBeUndefined();
    expect(m.value('data_platform_circuit_state')).toBe(0);

    up = false;
    await expect(send(event())).rejects.toThrow();
    await expect(send(event())).rejects.toThrow();
    await expect(send(event())).rejects.toThrow(/circuit open/); // failing fast: no call
    m = await scrape(t.app);
    expect(m.value('data_platform_exports_total', { outcome: 'success' })).toBe(1);
    expect(m.value('data_platform_exports_total', { outcome: 'failure' })).toBe(2);
    expect(m.value('data_platform_circuit_state')).toBe(2);
  });
});
