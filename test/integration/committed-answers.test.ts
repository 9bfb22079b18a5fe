import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvalidationBus } from '../../src/cache/invalidation.js';
import {
  ADMIN_TOKEN,
  bearer,
  charge,
  createConcert,
  createTestApp,
  createUser,
  expectProblem,
  hold,
  queueToken,
  type TestApp,
} from '../support/harness.js';

/**
 * Work that committed is answered as done, whatever fails after the commit; only the outcome of
 * the work itself is stored under an Idempotency-Key; a cancel ends in a contract answer.
 */

/** A cache bus that cannot publish, as Redis pub/sub during a blip. */
const brokenBus: InvalidationBus = {
  subscribe() {},
  publish: async () => {
    throw new Error('Connection is closed.');
  },
  close: async () => {},
};

describe('when cache invalidation fails after the commit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({}, { cacheBus: brokenBus });
  });
  afterAll(() => t.close());

  it('DELETE /reservations/{id} answers 200 CANCELLED for the cancel that happened', async () => {
    const c = await createConcert(t);
    const user = await createUser(t.app);
    const r = (await hold(t, user, c.schedules[0]!.id, 2)).json();
    // a seat map is cached, so the cancel has something to invalidate
    await t.app.inject({ url: `/concerts/${c.id}` });
    const res = await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(user.token) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: r.id, status: 'CANCELLED' });
    const row = await t.db.selectFrom('reservations').select('status').where('id', '=', r.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('CANCELLED');
  });

  it('POST /admin/concerts answers 201 for the concert it created, so a client does not create it twice', async () => {
    await t.app.inject({ url: '/concerts' }); // a cached list page to invalidate
    const artist = `artist-${Math.random().toString(36).slice(2)}`;
    const res = await t.app.inject({
      method: 'POST',
      url: '/admin/concerts',
      headers: bearer(ADMIN_TOKEN),
      payload: { title: 'After commit', artist, venue: 'Hall', schedules: [{ startsAt: '2027-01-01T19:00:00Z', seatCount: 3, price: 10 }] },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      title: 'After commit',
      artist,
      schedules: [{ startsAt: '2027-01-01T19:00:00.000Z', seatCount: 3, availableSeats: 3, price: 10 }],
    });
    expect((await t.app.inject({ url: `/concerts/${res.json().id}` })).json()).toEqual(res.json());
    const rows = await t.db.selectFrom('concerts').select('id').where('artist', '=', artist).execute();
    expect(rows).toEqual([{ id: res.json().id }]);
  });

  it('holds and payments are answered 201 too', async () => {
    const c = await createConcert(t);
    const user = await createUser(t.app);
    await charge(t.app, user, 100_000);
    const held = await hold(t, user, c.schedules[0]!.id, 1);
    expect(held.statusCode).toBe(201);
    const headers = { ...bearer(user.token), 'queue-token': await queueToken(t.app, user, c.id) };
    const paid = await t.app.inject({ method: 'POST', url: '/payments', headers, payload: { reservationId: held.json().id } });
    expect(paid.statusCode).toBe(201);
  });
});

describe.each([
  ['batched', {}],
  ['one transaction per payment', { BOOKING_BATCH_SIZE: '1' }],
])('an Idempotency-Key refused at the gate (%s)', (_, env) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(env);
  });
  afterAll(() => t.close());

  it('is not answered forever: paying with another concert\'s token, then the right one, under one key pays', async () => {
    const [a, b] = [await createConcert(t), await createConcert(t)];
    const user = await createUser(t.app);
    await charge(t.app, user, 100_000);
    const r = (await hold(t, user, a.schedules[0]!.id, 3)).json();
    const key = `pay-${r.id}`;
    const payWith = async (concertId: string) =>
      t.app.inject({
        method: 'POST',
        url: '/payments',
        headers: { ...bearer(user.token), 'queue-token': await queueToken(t.app, user, concertId), 'idempotency-key': key },
        payload: { reservationId: r.id },
      });
    expectProblem(await payWith(b.id), 403, 'QUEUE_TOKEN_MISMATCH');
    const stored = await t.db.selectFrom('idempotency_keys').select('key').where('user_id', '=', user.id).execute();
    expect(stored).toEqual([]);
    const paid = await payWith(a.id);
    expect(paid.statusCode).toBe(201);
    expect(paid.json()).toMatchObject({ reservationId: r.id, status: 'PAID', balance: 50_000 });
    // the work's own outcome is kept: the retry replays it
    const again = await payWith(a.id);
    expect([again.statusCode, again.headers['idempotent-replayed']]).toEqual([201, 'true']);
    expect(again.json()).toEqual(paid.json());
  });
});

describe('a cancel that cannot take effect', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('ends in 409 RESERVATION_NOT_CANCELLABLE, not a 500, and changes nothing', async () => {
    const c = await createConcert(t);
    const user = await createUser(t.app);
    const r = (await hold(t, user, c.schedules[0]!.id, 4)).json();
    // The seat no longer agrees with the reservation (its hold ends earlier): every conditional
    // release finds nothing to change, however often the cancel reads the reservation again.
    await sql`UPDATE seats SET held_until = now() - interval '1 minute' WHERE reservation_id = ${r.id}`.execute(t.db);
    const res = await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(user.token) });
    const body = expectProblem(res, 409, 'RESERVATION_NOT_CANCELLABLE');
    expect(body.detail).toMatch(/read it again/);
    const row = await t.db.selectFrom('reservations').select('status').where('id', '=', r.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('HELD');
  });
});
