/** Commit-to-consumer lag through the outbox relay and Redis Streams at 1,000 payments/s. */
import { Redis } from 'ioredis';
import { createRedisBroker } from '../../src/modules/events/broker.redis.js';
import { EVENTS_TOPIC } from '../../src/modules/events/outbox.event.js';
import type { Instance } from '../processes.js';
import type { ScenarioContext } from './context.js';
import type { Held } from './holds.js';
import { payOn } from './payments.js';

export interface EventLag {
  events: number;
  p50Ms: number;
  p99Ms: number;
  eventsPerSecond: number;
}

/**
 * Pays up to 1,000 × `duration` of `holds` on the Redis instance at 1,000/s while a consumer group
 * reads the events stream, and returns how long each confirmation took from commit to consumer.
 */
export async function eventLagScenario(
  context: ScenarioContext,
  redisUrl: string,
  instance: Instance,
  holds: Held[],
  duration: number,
): Promise<EventLag> {
  const lagRedis = new Redis(redisUrl);
  const broker = createRedisBroker(lagRedis);
  const lags: number[] = [];
  let first = Infinity;
  let last = 0;
  const startedAt = Date.now();
  // A group that starts at the stream's end ('$'): the backlog of earlier scenarios is not lag.
  const group = `bench-lag-${startedAt}`;
  await lagRedis.xgroup('CREATE', `events:${EVENTS_TOPIC}`, group, '$', 'MKSTREAM');
  const sub = await broker.subscribe(EVENTS_TOPIC, { group, consumer: 'bench', concurrency: 64 }, async (m) => {
    const event = JSON.parse(m.value) as { type: string; occurredAt: string };
    const now = Date.now();
    if (event.type !== 'reservation.confirmed' || Date.parse(event.occurredAt) < startedAt) return;
    lags.push(now - Date.parse(event.occurredAt));
    first = Math.min(first, now);
    last = Math.max(last, now);
  });
  const paid = holds.slice(0, 1_000 * duration);
  context.add(await payOn(context, `payments @1000/s, Redis relay (${paid.length})`, instance, paid, { rate: 1_000 }));
  const deadline = Date.now() + 10_000;
  while (lags.length < paid.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await sub.close();
  await broker.close();
  await lagRedis.quit();
  lags.sort((a, b) => a - b);
  const pct = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? NaN;
  const eventLag = {
    events: lags.length,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    eventsPerSecond: Math.round(lags.length / Math.max(0.001, (last - first) / 1000)),
  };
  console.log(`  event lag, commit to consumer: ${JSON.stringify(eventLag)}`);
  return eventLag;
}
