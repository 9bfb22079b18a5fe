import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, type Tracing } from '../../src/platform/tracing.js';
import type { TestApp } from '../support/harness.js';
import { descendants, traceparentOf } from './spans.js';

// Tracing starts before anything loads pg or ioredis (see tracing.test.ts): everything that does is
// imported dynamically, afterwards.
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let harness: typeof import('../support/harness.js');
let sweeper: typeof import('../../src/modules/reservations/reservations.sweeper.js');
let t: TestApp;

beforeAll(async () => {
  tracing = startTracing({}, { spanProcessors: [new SimpleSpanProcessor(exporter)] })!;
  harness = await import('../support/harness.js');
  sweeper = await import('../../src/modules/reservations/reservations.sweeper.js');
  const { createTestAppOnOwnDatabase } = await import('../support/own-database.js');
  // A database of its own: a sweep expires every due hold in it, and the test counts them.
  t = await createTestAppOnOwnDatabase('tracing_sweeper', { HOLD_TTL_SECONDS: '1' }, { tracer: tracing.tracer });
});
afterAll(async () => {
  await t?.close();
  await tracing?.shutdown();
});

const PG = '@opentelemetry/instrumentation-pg';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sweep = () => sweeper.sweepPass({ db: t.db, clock: t.services.clock, tracer: tracing.tracer, onSeatsFreed: (seats) => t.services.catalog.seatsChanged(seats) });
const sweepSpans = () => exporter.getFinishedSpans().filter((s) => s.name === 'sweep expired holds');

describe('tracing the hold sweeper', () => {
  it('a pass that expires holds is one trace: its span counts the holds and holds the statements; the events carry it', async () => {
    const { createConcert, createUser, hold } = harness;
    const schedule = (await createConcert(t)).schedules[0]!;
    const user = await createUser(t.app);
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await hold(t, user, schedule.id, n)).json().id);
    await sleep(1_050);
    exporter.reset();

    expect(await sweep()).toBe(3);
    const [span, ...more] = sweepSpans();
    expect(more).toHaveLength(0);
    expect(span!.parentSpanContext).toBeUndefined();
    expect(span!.attributes['holds.expired']).toBe(3);
    const trace = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === span!.spanContext().traceId);
    const statements = trace.filter((s) => s.instrumentationScope.name === PG);
    expect(statements.length).toBeGreaterThan(0);
    expect(descendants(trace, span!)).toHaveLength(trace.length - 1);
    expect(statements.some((s) => String(s.attributes['db.statement'] ?? s.attributes['db.query.text']).includes("SET status = 'EXPIRED'"))).toBe(true);

    // The expiry events carry the sweep's context to the relay and the consumers.
    const events = await t.db.selectFrom('outbox').select('trace_context').where('type', '=', 'reservation.expired').where('aggregate_id', 'in', ids).execute();
    expect(events.map((e) => e.trace_context)).toEqual(ids.map(() => traceparentOf(span!.spanContext())));
  });

  it('a pass with nothing due makes no span and exports nothing', async () => {
    await sweep(); // whatever an earlier test left due
    exporter.reset();
    expect(await sweep()).toBe(0);
    expect(await sweep()).toBe(0);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });
});
