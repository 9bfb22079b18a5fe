import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/platform/metrics.js';
import { createConcert, createTestApp, type TestApp } from '../support/harness.js';
import { scrape } from '../support/metrics.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({}, { metrics: createMetrics(), poolSize: 7 });
});
afterAll(() => t.close());

describe('process, database and cache metrics', () => {
  it('says which build runs', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const m = await scrape(t.app);
    expect(m.series('ticketing_build_info')).toEqual([{ version, node: process.version }]);
    expect(m.value('ticketing_build_info', { version, node: process.version })).toBe(1);
  });

  it('has the default collectors: event-loop lag, GC and the process', async () => {
    const m = await scrape(t.app);
    for (const name of ['nodejs_eventloop_lag_seconds', 'process_cpu_user_seconds_total', 'process_resident_memory_bytes']) {
      expect(m.value(name), name).toBeGreaterThanOrEqual(0);
    }
    expect(m.text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
  });

  it('shows the request pool: its size limit and its open, idle and waiting connections', async () => {
    await Promise.all(Array.from({ length: 20 }, () => t.app.inject({ url: '/concerts' })));
    const m = await scrape(t.app);
    expect(m.value('db_pool_max_connections')).toBe(7);
    const total = m.value('db_pool_connections', { state: 'total' })!;
    expect(total).toBeGreaterThanOrEqual(1);
    expect(total).toBeLessThanOrEqual(7);
    expect(m.value('db_pool_connections', { state: 'idle' })).toBeLessThanOrEqual(total);
    expect(m.value('db_pool_connections', { state: 'waiting' })).toBe(0);
  });

  it('counts cache hits and misses per cache, so a hit ratio can be computed', async () => {
    const concert = await createConcert(t);
    const before = await scrape(t.app);
    for (let i = 0; i < 4; i++) expect((await t.app.inject({ url: `/concerts/${concert.id}` })).statusCode).toBe(200);
    const after = await scrape(t.app);
    const moved = (event: string) => (after.value('cache_events_total', { cache: 'concert', event }) ?? 0) - (before.value('cache_events_total', { cache: 'concert', event }) ?? 0);
    expect(moved('misses')).toBe(1);
    expect(moved('hits')).toBe(3);
    expect(moved('hits') / (moved('hits') + moved('misses') + moved('staleServed'))).toBe(0.75);
  });

  it('labels requests by route template, never by the raw path', async () => {
    const concert = await createConcert(t);
    await t.app.inject({ url: `/concerts/${concert.id}` });
    await t.app.inject({ url: '/no/such/path/12345' });
    const m = await scrape(t.app);
    const routes = m.series('http_requests_total').map((labels) => labels.route);
    expect(routes).toContain('/concerts/:concertId');
    expect(routes).toContain('unmatched');
    expect(routes.some((route) => route?.includes(concert.id) || route?.includes('12345'))).toBe(false);
  });
});
