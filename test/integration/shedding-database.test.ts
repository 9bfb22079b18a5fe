import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDb, poolStats, type Database } from '../../src/platform/db.js';
import { ADMIN_TOKEN, bearer, charge, createConcert, createTestApp, createUser, expectProblem, queueToken, type TestApp } from '../support/harness.js';
import { holdWith, join, status } from '../support/queue-requests.js';
import { until } from '../support/wait.js';

const signUp = (t: TestApp, name: string) => t.app.inject({ method: 'POST', url: '/users', payload: { name } });

it('sheds on the request pool\'s wait only when asked (off by default), and refuses a negative threshold', () => {
  expect(loadConfig({}).OVERLOAD_MAX_DATABASE_WAIT_MS).toBe(0);
  expect(() => loadConfig({ OVERLOAD_MAX_DATABASE_WAIT_MS: '-1' })).toThrow(/OVERLOAD_MAX_DATABASE_WAIT_MS/);
});

describe('an instance whose request pool has callers waiting', () => {
  let t: TestApp;
  /** Connections apart from the app's pool, to look at what the requests left behind. */
  let look: Database;
  beforeAll(async () => {
    // One connection, so one busy transaction makes every other caller wait.
    t = await createTestApp({ OVERLOAD_MAX_DATABASE_WAIT_MS: '50', OVERLOAD_RETRY_AFTER_SECONDS: '3' }, { poolSize: 1 });
    look = createDb({ connectionString: inject('databaseUrl'), poolSize: 1 });
  });
  afterAll(async () => {
    await t.close();
    await look.destroy();
  });

  const usersNamed = async (name: string) => (await look.selectFrom('users').select('id').where('name', '=', name).execute()).length;

  it('turns arrivals away at once with 503 and Retry-After, lets an admitted hold and the operator through, and serves sign-ups again once the waits end', async () => {
    // Everything an admitted user needs, made while nothing waits.
    const concert = await createConcert(t);
    const schedule = concert.schedules[0]!.id;
    const fan = await createUser(t.app);
    expect((await charge(t.app, fan, 1_000_000)).statusCode).toBe(201);
    const token = await queueToken(t.app, fan, concert.id);
    const late = await createUser(t.app);
    expect(poolStats(t.db)?.oldestWaitMs).toBe(0);

    // The pool's one connection held by a transaction, and a query waiting behind it.
    let finish!: () => void;
    const busy = t.db.transaction().execute(async (trx) => {
      await sql`SELECT 1`.execute(trx);
      await new Promise<void>((resolve) => (finish = resolve));
    });
    const queued = sql`SELECT 1`.execute(t.db);
    await until(() => (poolStats(t.db)?.oldestWaitMs ?? 0) > 50, 5_000, 10);

    // A sign-up is refused before any work: no user row.
    const name = `shed-${randomUUID().slice(0, 8)}`;
    const refused = await signUp(t, name);
    expect(expectProblem(refused, 503, 'UNAVAILABLE')).toMatchObject({ shed: true, retryAfterSeconds: 3 });
    expect(refused.headers['retry-after']).toBe('3');
    expect(await usersNamed(name)).toBe(0);
    // So are the crowd's other steps: a top-up, the concert list, a join.
    expectProblem(await charge(t.app, fan, 1_000), 503, 'UNAVAILABLE');
    expectProblem(await t.app.inject({ url: '/concerts' }), 503, 'UNAVAILABLE');
    expectProblem(await join(t, late, concert.id), 503, 'UNAVAILABLE');

    // The admitted user's line poll answers, and the hold waits its turn for the connection instead of being refused.
    expect((await status(t, fan, concert.id, token)).json().status).toBe('ACTIVE');
    const hold = holdWith(t, fan, token, schedule, 1);
    // So does the operator's look at the line (the step before pausing it).
    const line = t.app.inject({ url: `/admin/concerts/${concert.id}/queue`, headers: bearer(ADMIN_TOKEN) });
    finish();
    await Promise.all([busy, queued]);
    const held = await hold;
    expect(held.statusCode, held.body).toBe(201);
    expect((await line).statusCode).toBe(200);

    // The scrape counts the refusals by route and reason; the hold is not among them.
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/http_requests_shed_total\{method="POST",route="\/users",reason="databaseWait"\} 1\b/);
    expect(metrics).toMatch(/http_requests_shed_total\{method="GET",route="\/concerts",reason="databaseWait"\} 1\b/);
    expect(metrics).not.toMatch(/http_requests_shed_total\{method="POST",route="\/reservations"/);

    // Nothing waits any more: sign-ups are served again.
    await until(() => poolStats(t.db)?.oldestWaitMs === 0, 5_000, 10);
    const again = await signUp(t, name);
    expect(again.statusCode, again.body).toBe(201);
    expect(await usersNamed(name)).toBe(1);
  });
});
