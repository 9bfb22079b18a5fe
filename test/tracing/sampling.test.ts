import { SpanKind, type Attributes, type Context, type Link } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTracing, type Tracing } from '../../src/platform/tracing.js';
import type { TestApp } from '../support/harness.js';
import { descendants, traceparentOf } from './spans.js';

// Tracing starts before anything loads pg (see tracing.test.ts): the rest is imported afterwards.
// The sampler is the Compose one at a ratio of 0: no trace starts here, a caller's sampled trace
// is followed. It also records the name of every span started, sampled or not: a span the sampler
// drops still costs its making, and the pg instrumentation makes one per query below any span.
const exporter = new InMemorySpanExporter();
const started: string[] = [];
const noNewTraces = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0) });
const sampler: Sampler = {
  shouldSample(context: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]) {
    started.push(name);
    return noNewTraces.shouldSample(context, traceId, name, kind, attributes, links);
  },
  toString: () => `recording ${noNewTraces.toString()}`,
};
let tracing: Tracing;
let harness: typeof import('../support/harness.js');
let t: TestApp;

beforeAll(async () => {
  tracing = startTracing({}, { spanProcessors: [new SimpleSpanProcessor(exporter)], sampler })!;
  harness = await import('../support/harness.js');
  const { createTestAppOnOwnDatabase } = await import('../support/own-database.js');
  // A database of its own: the relay below claims every unsent event in it.
  t = await createTestAppOnOwnDatabase('tracing_sampling', {}, { tracer: tracing.tracer });
});
afterAll(async () => {
  await t?.close();
  await tracing?.shutdown();
});
beforeEach(() => {
  exporter.reset();
  started.length = 0;
});

const PG = '@opentelemetry/instrumentation-pg';
const queries = (names: string[]) => names.filter((n) => n.startsWith('pg.') || n.startsWith('pg-pool.'));
const sampledCaller = () => ({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') });

describe('tracing a sample', () => {
  it('a request not sampled starts its own span and none for its queries; one whose caller was sampled is traced with them', async () => {
    const { bookingHeaders, createConcert, createUser, charge } = harness;
    const schedule = (await createConcert(t, [{ price: 1_000 }])).schedules[0]!;
    const user = await createUser(t.app);
    await charge(t.app, user, 5_000);
    const headers = await bookingHeaders(t, user, schedule.id);
    const hold = (seatNumber: number, extra: Record<string, string> = {}) =>
      t.app.inject({ method: 'POST', url: '/reservations', headers: { ...headers, ...extra }, payload: { scheduleId: schedule.id, seatNumber } });
    started.length = 0;

    expect((await hold(1)).statusCode).toBe(201);
    expect(started).toEqual(['POST /reservations']);
    expect(exporter.getFinishedSpans()).toEqual([]);

    const caller = sampledCaller();
    expect((await hold(2, { traceparent: traceparentOf(caller) })).statusCode).toBe(201);
    const spans = exporter.getFinishedSpans();
    const [request, ...others] = spans.filter((s) => s.kind === SpanKind.SERVER);
    expect(others).toEqual([]);
    expect(request!.name).toBe('POST /reservations');
    expect(request!.parentSpanContext).toMatchObject({ traceId: caller.traceId, spanId: caller.spanId });
    const pg = descendants(spans, request!).filter((s) => s.instrumentationScope.name === PG);
    expect(pg.length).toBeGreaterThan(0);
    // Its queries, and no span for taking a connection from the pool.
    expect(pg.filter((s) => !s.name.startsWith('pg.query'))).toEqual([]);
  });

  it("an event's handling: not sampled, no span for its queries; below a sampled request, a span with its queries below it", async () => {
    const { withHandlingSpans } = await import('../../src/modules/events/events.tracing.js');
    const { applyOnce } = await import('../../src/modules/events/consumers.js');
    const applied: string[] = [];
    const handle = withHandlingSpans(tracing.tracer, 'sampling-test', async (message) => {
      if (await applyOnce(t.db, 'sampling-test', message.id, async () => {})) applied.push(message.id);
    });
    const message = (headers?: Record<string, string>) => ({ id: randomUUID(), key: 'k', value: '{}', ...(headers && { headers }) });

    const untraced = message();
    await handle(untraced);
    expect(applied).toEqual([untraced.id]);
    expect(started).toEqual(['process ticketing.events sampling-test']);
    expect(exporter.getFinishedSpans()).toEqual([]);

    const caller = sampledCaller();
    const traced = message({ traceparent: traceparentOf(caller) });
    await handle(traced);
    expect(applied).toEqual([untraced.id, traced.id]);
    const spans = exporter.getFinishedSpans();
    const consumer = spans.find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(consumer.parentSpanContext).toMatchObject({ traceId: caller.traceId, spanId: caller.spanId });
    expect(queries(descendants(spans, consumer).map((s) => s.name)).length).toBeGreaterThan(0);
  });

  it("the relay's publish, not sampled, starts no span for the queries that mark its events sent", async () => {
    const { createMemoryBroker } = await import('../../src/modules/events/broker.memory.js');
    const { insertEvent, passes, rowsOf } = await import('../support/outbox.js');
    // A broker that takes messages for good: the relay marks them sent in the publish's span.
    const broker = { ...createMemoryBroker(), durable: true, acknowledged: undefined };
    const aggregate = randomUUID();
    await insertEvent(t, aggregate);
    started.length = 0;

    await passes({ db: t.db, broker, clock: t.services.clock, tracer: tracing.tracer });
    expect((await rowsOf(t, [aggregate]))[0]!.published_at).not.toBeNull();
    expect(started).toContain('send ticketing.events');
    expect(queries(started)).toEqual([]);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
