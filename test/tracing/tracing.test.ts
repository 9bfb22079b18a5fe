import { Writable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, type Tracing } from '../../src/platform/tracing.js';
import { registerHttpTracing } from '../../src/platform/tracing.http.js';
import { traceLogFields } from '../../src/platform/tracing.log.js';
import type { TestApp } from '../support/harness.js';
import { descendants } from './spans.js';

// The instrumentations patch pg and ioredis as they are loaded, so tracing starts before anything
// imports them: the harness (and through it the app and pg) is imported dynamically, afterwards.
// Vitest runs each test file in a process of its own (pool: forks), where this file is the first
// to load pg.
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let harness: typeof import('../support/harness.js');
let t: TestApp;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  tracing = (startTracing({}, { spanProcessors: [new SimpleSpanProcessor(exporter)] }))!;
  harness = await import('../support/harness.js');
  t = await harness.createTestApp({}, { tracer: tracing.tracer });
});
afterAll(async () => {
  await t?.close();
  await tracing?.shutdown();
});

describe('tracing', () => {
  it('one payment is one trace: the HTTP span named by its route, its PostgreSQL queries below it', async () => {
    const { bookingHeaders, createConcert, createUser, charge, hold } = harness;
    const schedule = (await createConcert(t, [{ price: 1_000 }])).schedules[0]!;
    const user = await createUser(t.app);
    await charge(t.app, user, 5_000);
    const reservation = (await hold(t, user, schedule.id, 3)).json();
    const headers = await bookingHeaders(t, user, reservation.id);
    exporter.reset();

    const res = await t.app.inject({ method: 'POST', url: '/payments', headers, payload: { reservationId: reservation.id } });
    expect(res.statusCode).toBe(201);

    const spans = exporter.getFinishedSpans();
    const http = spans.filter((s) => s.kind === SpanKind.SERVER);
    expect(http.map((s) => s.name)).toEqual(['POST /payments']);
    const [request] = http as [ReadableSpan];
    expect(request.parentSpanContext).toBeUndefined();
    expect(request.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/payments',
      'url.path': '/payments',
      'http.response.status_code': 201,
    });
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([request.spanContext().traceId]));
    const queries = descendants(spans, request).filter((s) => s.instrumentationScope.name === '@opentelemetry/instrumentation-pg');
    expect(queries.filter((s) => s.name.startsWith('pg.query')).length).toBeGreaterThan(0);
    expect(queries.every((s) => s.attributes['db.system'] === 'postgresql' || s.attributes['db.system.name'] === 'postgresql')).toBe(true);
  });

  it('a log line written while handling a traced request carries its trace_id and span_id', async () => {
    // A route of its own that logs after its body was read (in a later event of the raw request).
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const logger: FastifyBaseLogger = pino({ level: 'info', mixin: traceLogFields }, sink);
    const app = Fastify({ loggerInstance: logger });
    registerHttpTracing(app, tracing.tracer);
    app.post('/echo/:id', async (request) => {
      await new Promise((done) => setTimeout(done, 1));
      request.log.info('inside the handler');
      return request.body;
    });
    exporter.reset();
    lines.length = 0;
    const res = await app.inject({ method: 'POST', url: '/echo/7', payload: { a: 1 } });
    expect(res.json()).toEqual({ a: 1 });
    const [span] = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    expect(span?.name).toBe('POST /echo/:id');
    const line = lines.find((l) => l.msg === 'inside the handler');
    expect(line).toMatchObject({ trace_id: span!.spanContext().traceId, span_id: span!.spanContext().spanId, trace_flags: '01' });
    app.log.info('outside any request');
    expect(lines.find((l) => l.msg === 'outside any request')).not.toHaveProperty('trace_id');
    await app.close();
  });
});
