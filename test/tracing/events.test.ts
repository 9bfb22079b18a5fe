import { SpanKind, type SpanContext } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, type Tracing } from '../../src/platform/tracing.js';
import type { TestApp } from '../support/harness.js';
import { descendants, traceparentOf } from './spans.js';

// Tracing starts before anything loads pg or ioredis (see tracing.test.ts): everything that does is
// imported dynamically, afterwards.
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let harness: typeof import('../support/harness.js');
let t: TestApp;

beforeAll(async () => {
  tracing = startTracing({}, { spanProcessors: [new SimpleSpanProcessor(exporter)] })!;
  harness = await import('../support/harness.js');
  const { createTestAppOnOwnDatabase } = await import('../support/own-database.js');
  // A database of its own: the relay below claims every unsent event in it.
  t = await createTestAppOnOwnDatabase('tracing_events', {}, { tracer: tracing.tracer });
});
afterAll(async () => {
  await t?.close();
  await tracing?.shutdown();
});

const PG = '@opentelemetry/instrumentation-pg';
const sameSpan = (a: SpanContext | undefined, b: SpanContext) => a?.traceId === b.traceId && a?.spanId === b.spanId;

async function eventRow(aggregateId: string, type: string) {
  return t.db.selectFrom('outbox').select(['id', 'trace_context']).where('aggregate_id', '=', aggregateId).where('type', '=', type).executeTakeFirstOrThrow();
}

/** A user with money and a live hold on a new schedule. */
async function heldSeat() {
  const { createConcert, createUser, charge, hold } = harness;
  const schedule = (await createConcert(t, [{ price: 1_000 }])).schedules[0]!;
  const user = await createUser(t.app);
  await charge(t.app, user, 5_000);
  const reservation = (await hold(t, user, schedule.id, 1)).json();
  return { user, reservation };
}

describe('tracing the events', () => {
  it('a payment: its trace holds the HTTP span and its queries; the event carries it to the relay and a consumer, whose spans link to it', async () => {
    const { bookingHeaders } = harness;
    const { createMemoryBroker } = await import('../../src/modules/events/broker.memory.js');
    const { applyOnce, startConsumers } = await import('../../src/modules/events/consumers.js');
    const { passes, log } = await import('../support/outbox.js');
    const { until } = await import('../support/wait.js');
    const { user, reservation } = await heldSeat();
    const headers = await bookingHeaders(t, user, reservation.id);
    exporter.reset();

    const res = await t.app.inject({ method: 'POST', url: '/payments', headers, payload: { reservationId: reservation.id } });
    expect(res.statusCode).toBe(201);
    const [request] = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER) as [ReadableSpan];
    expect(request.name).toBe('POST /payments');
    const ids = request.spanContext();
    const inRequest = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === ids.traceId);
    expect(inRequest.filter((s) => s.instrumentationScope.name === PG).length).toBeGreaterThan(0);
    expect(descendants(inRequest, request)).toHaveLength(inRequest.length - 1);

    // The statement stored the request's context with the event it wrote.
    const confirmed = await eventRow(reservation.id, 'reservation.confirmed');
    expect(confirmed.trace_context).toBe(traceparentOf(ids));

    const broker = createMemoryBroker();
    const handled = new Set<string>();
    const consumers = await startConsumers({
      broker,
      tracer: tracing.tracer,
      instanceId: 'tracing-test',
      log,
      consumers: {
        ledger: async (event) => {
          await applyOnce(t.db, 'tracing-test', event.id, async () => {});
          handled.add(event.id);
        },
      },
    });
    await until(async () => {
      await passes({ db: t.db, broker, clock: t.services.clock, tracer: tracing.tracer });
      return handled.has(confirmed.id);
    });
    await consumers[0]!.close();

    const spans = exporter.getFinishedSpans();
    const publish = spans.find((s) => s.kind === SpanKind.PRODUCER && s.links.some((l) => sameSpan(l.context, ids)));
    expect(publish).toMatchObject({ name: 'send ticketing.events', parentSpanContext: undefined });
    expect(publish!.attributes).toMatchObject({ 'messaging.destination.name': 'ticketing.events', 'messaging.system': 'memory' });
    const [consumer, ...more] = spans.filter((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.message.id'] === confirmed.id);
    expect(more).toEqual([]);
    // Handling the event is part of the request's trace: a child of its span, and linked to it.
    expect(consumer!.name).toBe('process ticketing.events ledger');
    expect(sameSpan(consumer!.parentSpanContext, ids)).toBe(true);
    // The publish is a trace of its own (it carries many requests' events): only the consumer's spans joined the request's.
    const joined = spans.filter((s) => s.spanContext().traceId === ids.traceId && !inRequest.includes(s));
    expect(new Set(joined)).toEqual(new Set([consumer!, ...descendants(spans, consumer!)]));
    expect(consumer!.attributes['messaging.consumer.group.name']).toBe('ledger');
    expect(consumer!.links.map((l) => l.context)).toEqual([expect.objectContaining({ traceId: ids.traceId, spanId: ids.spanId })]);
    // The consumer's own queries are its children.
    expect(descendants(spans, consumer!).filter((s) => s.instrumentationScope.name === PG).length).toBeGreaterThan(0);
  });

  it('a batched statement: each event stores its own request context; one span, a child of one request, linked to the others', async () => {
    const { newId } = await import('../../src/platform/ids.js');
    const [a, b] = [await heldSeat(), await heldSeat()];
    const callers = [tracing.tracer.startSpan('caller a'), tracing.tracer.startSpan('caller b')];
    const [tpA, tpB] = callers.map((s) => traceparentOf(s.spanContext())) as [string, string];
    exporter.reset();

    const request = (s: typeof a, traceContext: string) => ({
      reservationId: s.reservation.id,
      userId: s.user.id,
      concertId: s.reservation.concertId,
      paymentId: newId(),
      ledgerId: newId(),
      traceContext,
    });
    const outcomes = await t.services.payments.payBatch([request(a, tpA), request(b, tpB)]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
    callers.forEach((s) => s.end());

    expect((await eventRow(a.reservation.id, 'reservation.confirmed')).trace_context).toBe(tpA);
    expect((await eventRow(b.reservation.id, 'reservation.confirmed')).trace_context).toBe(tpB);
    const spans = exporter.getFinishedSpans();
    const [batch, ...others] = spans.filter((s) => s.name === 'payment batch');
    expect(others).toEqual([]);
    expect(sameSpan(batch!.parentSpanContext, callers[0]!.spanContext())).toBe(true);
    expect(batch!.links.map((l) => l.context)).toEqual([expect.objectContaining({ spanId: callers[1]!.spanContext().spanId })]);
    expect(batch!.attributes).toMatchObject({ 'batch.size': 2, 'batch.traced': 2 });
    expect(descendants(spans, batch!).filter((s) => s.name.startsWith('pg.query'))).toHaveLength(1);
  });

  it('a hold and a charge store the context of the request that wrote their events', async () => {
    const { createConcert, createUser, charge, hold } = harness;
    const schedule = (await createConcert(t, [{ price: 1_000 }])).schedules[0]!;
    const user = await createUser(t.app);
    exporter.reset();
    await charge(t.app, user, 5_000, randomUUID());
    const reservation = (await hold(t, user, schedule.id, 2)).json();
    const server = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    const byRoute = (route: string) => traceparentOf(server.find((s) => s.name === route)!.spanContext());
    expect((await eventRow(user.id, 'balance.charged')).trace_context).toBe(byRoute('POST /users/me/balance/charges'));
    expect((await eventRow(reservation.id, 'reservation.held')).trace_context).toBe(byRoute('POST /reservations'));
  });
});

const redisUrl = process.env.REDIS_URL;

describe.skipIf(!redisUrl)(`tracing Redis${redisUrl ? '' : ' (REDIS_URL unset: skipped)'}`, () => {
  it('a join of the waiting room on Redis: each command is a span below the request', async () => {
    const { createRedis } = await import('../../src/platform/redis.js');
    const { createRedisQueueStore } = await import('../../src/modules/queue/queue.store.redis.js');
    const redis = createRedis(redisUrl!);
    const r = await harness.createTestApp({}, { tracer: tracing.tracer, queueStore: createRedisQueueStore(redis, { keyPrefix: `tracing-${randomUUID().slice(0, 8)}` }) });
    try {
      const concert = await harness.createConcert(r);
      const user = await harness.createUser(r.app);
      exporter.reset();
      await harness.queueToken(r.app, user, concert.id);
      const spans = exporter.getFinishedSpans();
      const [join] = spans.filter((s) => s.kind === SpanKind.SERVER) as [ReadableSpan];
      expect(join.name).toBe('POST /concerts/:concertId/queue');
      const commands = descendants(spans, join).filter((s) => s.instrumentationScope.name === '@opentelemetry/instrumentation-ioredis');
      expect(commands.length).toBeGreaterThan(0);
      expect(commands.every((s) => s.kind === SpanKind.CLIENT && (s.attributes['db.system'] ?? s.attributes['db.system.name']) === 'redis')).toBe(true);
    } finally {
      await r.close();
      await redis.quit();
    }
  });
});
