import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { registerShedding, sheddingEnabled } from '../../src/platform/shedding.js';
import { until } from '../support/wait.js';

/** An app with a sign-up, a hold and a probe, shedding on the request pool's wait only; `waitMs` is that wait. */
async function appWaiting(waitMs: () => number): Promise<FastifyInstance> {
  const config = loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MAX_DATABASE_WAIT_MS: '100', OVERLOAD_MAX_ARRIVALS_IN_FLIGHT: '0' });
  const app = Fastify();
  await registerShedding(app, config, createMetrics(), {
    genuineQueueToken: (request) => request.headers['queue-token'] === 'genuine',
    databaseWaitMs: waitMs,
    operator: (request) => request.headers.authorization === 'Bearer operator',
  });
  app.post('/users', async (_request, reply) => reply.code(201).send({}));
  app.post('/reservations', async (_request, reply) => reply.code(201).send({}));
  app.get('/health/ready', async () => ({ status: 'ok' }));
  return app;
}

describe('shedding on the request pool wait', () => {
  let app: FastifyInstance | undefined;
  afterEach(() => app?.close());

  it("watches the pool's wait and runs the lane only when asked (the event loop alone by default); off when every threshold is 0", () => {
    expect(sheddingEnabled(loadConfig({}))).toBe(true);
    expect(sheddingEnabled(loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0' }))).toBe(false);
    expect(sheddingEnabled(loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MAX_DATABASE_WAIT_MS: '100' }))).toBe(true);
    expect(sheddingEnabled(loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MAX_ARRIVALS_IN_FLIGHT: '8' }))).toBe(true);
    expect(sheddingEnabled(loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MAX_DATABASE_WAIT_MS: '0', OVERLOAD_MAX_ARRIVALS_IN_FLIGHT: '0' }))).toBe(false);
  });

  it('refuses the crowd while the oldest wait is over the threshold, and lets probes, the operator and genuine booking work through', async () => {
    let wait = 101;
    app = await appWaiting(() => wait);
    const signUp = await app.inject({ method: 'POST', url: '/users' });
    expect(signUp.statusCode).toBe(503);
    expect(signUp.headers['retry-after']).toBe('2');
    expect(signUp.json()).toMatchObject({ code: 'UNAVAILABLE', shed: true, retryAfterSeconds: 2 });
    expect((await app.inject({ method: 'POST', url: '/reservations', headers: { 'queue-token': 'forged' } })).statusCode).toBe(503);
    expect((await app.inject({ method: 'POST', url: '/reservations', headers: { 'queue-token': 'genuine' } })).statusCode).toBe(201);
    expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(200);
    // The operator (pausing a line, say) gets through too.
    expect((await app.inject({ method: 'POST', url: '/users', headers: { authorization: 'Bearer operator' } })).statusCode).toBe(201);

    wait = 100;
    expect((await app.inject({ method: 'POST', url: '/users' })).statusCode).toBe(201);
  });
});

/** Only the lane, one place wide and never narrowing; an arrival waits at most `maxWaitMs`. */
const laneOfOne = (maxWaitMs: number) =>
  loadConfig({
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    OVERLOAD_MAX_DATABASE_WAIT_MS: '0',
    OVERLOAD_MAX_ARRIVALS_IN_FLIGHT: '1',
    OVERLOAD_ARRIVAL_TARGET_DELAY_MS: '10000',
    OVERLOAD_ARRIVAL_MAX_WAIT_MS: String(maxWaitMs),
  });

describe("the arrivals' lane", () => {
  let app: FastifyInstance | undefined;
  afterEach(() => app?.close());

  it('makes an arrival wait while another runs, refuses it once its wait runs out, and never holds back genuine booking work', async () => {
    const config = laneOfOne(300);
    app = Fastify();
    const metrics = createMetrics();
    await registerShedding(app, config, metrics, { genuineQueueToken: (request) => request.headers['queue-token'] === 'genuine', databaseWaitMs: () => 0 });
    let finish!: () => void;
    const slow = new Promise<void>((resolve) => (finish = resolve));
    const ran: string[] = [];
    app.post('/users', async (request, reply) => {
      const name = (request.body as { name: string }).name;
      ran.push(name);
      if (name === 'first') await slow;
      return reply.code(201).send({ name });
    });
    app.post('/reservations', async (_request, reply) => reply.code(201).send({}));

    const first = app.inject({ method: 'POST', url: '/users', payload: { name: 'first' } });
    await until(() => ran.includes('first'), 5_000, 5);
    const second = app.inject({ method: 'POST', url: '/users', payload: { name: 'second' } });
    // Booking work with a genuine Queue-Token passes the full lane.
    expect((await app.inject({ method: 'POST', url: '/reservations', headers: { 'queue-token': 'genuine' } })).statusCode).toBe(201);
    const refused = await second;
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ code: 'UNAVAILABLE', shed: true });
    expect(refused.headers['retry-after']).toBe('2');
    expect(ran).toEqual(['first']);
    expect(await metrics.registry.getSingleMetricAsString('http_requests_shed_total')).toMatch(/route="\/users",reason="arrivalWait"\} 1\b/);

    finish();
    expect((await first).statusCode).toBe(201);
    expect((await app.inject({ method: 'POST', url: '/users', payload: { name: 'third' } })).statusCode).toBe(201);
    expect(ran).toEqual(['first', 'third']);
  });

  it('gives back the place of an arrival whose client left while it waited, without serving it', async () => {
    const config = laneOfOne(2000);
    app = Fastify();
    await registerShedding(app, config, createMetrics(), { genuineQueueToken: () => false, databaseWaitMs: () => 0 });
    let finish!: () => void;
    const slow = new Promise<void>((resolve) => (finish = resolve));
    const ran: string[] = [];
    app.get('/concerts', async (request) => {
      const name = (request.query as { name: string }).name;
      ran.push(name);
      if (name === 'first') await slow;
      return { name };
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });

    const first = fetch(`${url}/concerts?name=first`);
    await until(() => ran.includes('first'), 5_000, 5);
    const leaving = new AbortController();
    const left = fetch(`${url}/concerts?name=left`, { signal: leaving.signal }).catch(() => 'aborted');
    await new Promise((resolve) => setTimeout(resolve, 100));
    leaving.abort();
    expect(await left).toBe('aborted');
    await new Promise((resolve) => setTimeout(resolve, 100));
    finish();
    expect((await first).status).toBe(200);
    // Had the leaver's turn kept the lane's one place, this would wait 2 s and be refused.
    const third = await fetch(`${url}/concerts?name=third`);
    expect(third.status).toBe(200);
    expect(ran).toEqual(['first', 'third']);
  });
});
