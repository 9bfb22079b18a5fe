import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { bearer, charge, createConcert, createTestApp, createUser, expectProblem, queueToken, type TestApp } from '../support/harness.js';
import { pressure } from '../support/pressure.js';
import { holdWith, payWith, seats, status } from '../support/queue-requests.js';
import { sleep, until } from '../support/wait.js';

const signUp = (t: TestApp, name: string) => t.app.inject({ method: 'POST', url: '/users', payload: { name } });
const usersNamed = async (t: TestApp, name: string) =>
  (await t.db.selectFrom('users').select('id').where('name', '=', name).execute()).length;

it('sheds by default only when the event loop lags 200 ms on average, and never on utilisation alone', () => {
  const config = loadConfig({});
  expect(config.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS).toBe(200);
  expect(config.OVERLOAD_MAX_EVENT_LOOP_UTILIZATION).toBe(0);
  expect(config.OVERLOAD_MAX_HEAP_USED_MB).toBe(0);
});

describe('an instance under pressure', () => {
  let t: TestApp;
  let release: (() => void) | undefined;
  beforeAll(async () => {
    t = await createTestApp({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '50', OVERLOAD_SAMPLE_INTERVAL_MS: '100', OVERLOAD_RETRY_AFTER_SECONDS: '3' });
    // Building the app (compiling schemas) held the loop long enough to count as pressure: a few
    // samples later it no longer does.
    await t.app.ready();
    await sleep(300);
    await until(() => !t.app.isUnderPressure(), 10_000, 20);
  });
  afterEach(() => release?.());
  afterAll(() => t.close());

  it('turns arrivals away at once with 503 and Retry-After, lets admitted users book, and serves again once the pressure ends', async () => {
    // Everything an admitted user needs, made before the pressure starts.
    const concert = await createConcert(t);
    const schedule = concert.schedules[0]!.id;
    const fan = await createUser(t.app);
    expect((await charge(t.app, fan, 1_000_000)).statusCode).toBe(201);
    const token = await queueToken(t.app, fan, concert.id);
    expect(t.app.isUnderPressure()).toBe(false);

    release = pressure();
    await until(() => t.app.isUnderPressure(), 10_000, 20);

    // A new user is refused before any work: no user row.
    const name = `shed-${randomUUID().slice(0, 8)}`;
    const refused = await signUp(t, name);
    const body = expectProblem(refused, 503, 'UNAVAILABLE');
    expect(body).toMatchObject({ shed: true, retryAfterSeconds: 3 });
    expect(refused.headers['retry-after']).toBe('3');
    expect(await usersNamed(t, name)).toBe(0);
    // So is a top-up (not behind the waiting room), and a booking request without a genuine Queue-Token.
    expectProblem(await charge(t.app, fan, 1_000), 503, 'UNAVAILABLE');
    expectProblem(await holdWith(t, fan, 'forged.token', schedule, 2), 503, 'UNAVAILABLE');
    expectProblem(await t.app.inject({ method: 'POST', url: `/concerts/${concert.id}/queue`, headers: bearer(fan.token) }), 503, 'UNAVAILABLE');

    // The admitted user's line poll, seat map, hold and payment go through.
    expect((await status(t, fan, concert.id, token)).json().status).toBe('ACTIVE');
    expect((await seats(t, schedule, token, fan)).statusCode).toBe(200);
    const held = await holdWith(t, fan, token, schedule, 1);
    expect(held.statusCode, held.body).toBe(201);
    const paid = await payWith(t, fan, token, held.json().id, randomUUID());
    expect(paid.statusCode, paid.body).toBe(201);

    // Probes and scrapes answer, and the scrape counts the refusals by route.
    expect((await t.app.inject({ url: '/health/live' })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/health/ready' })).statusCode).toBe(200);
    const metrics = await t.app.inject({ url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toMatch(/http_requests_shed_total\{method="POST",route="\/users",reason="eventLoopDelay"\} 1\b/);
    expect(metrics.body).toMatch(/http_requests_shed_total\{method="POST",route="\/reservations",reason="eventLoopDelay"\} 1\b/);

    release();
    await until(() => !t.app.isUnderPressure(), 10_000, 20);
    const again = await signUp(t, name);
    expect(again.statusCode, again.body).toBe(201);
    expect(await usersNamed(t, name)).toBe(1);
  });
});

describe('an instance not under pressure', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '200' });
  });
  afterAll(() => t.close());

  it('answers a burst of sign-ups without shedding any', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, () => signUp(t, `burst-${randomUUID().slice(0, 8)}`)));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(50).fill(201));
    expect((await t.app.inject({ url: '/metrics' })).body).not.toMatch(/^http_requests_shed_total\{/m);
  });
});
