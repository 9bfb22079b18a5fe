import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, bearer, createConcert, createTestApp, createUser, expectProblem, hold, type TestApp, seatMap } from '../support/harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();

describe('admin concerts', () => {
  it('creates a concert with schedules and numbered seats', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/admin/concerts',
      headers: bearer(ADMIN_TOKEN),
      payload: {
        title: 'Spring Tour',
        artist: 'Aurora Lane',
        venue: 'Hall A',
        schedules: [{ startsAt: inDays(10), seatCount: 12, price: 77_000 }],
      },
    });
    expect(res.statusCode).toBe(201);
    const concert = res.json();
    expect(concert).toMatchObject({ id: expect.any(String), title: 'Spring Tour', artist: 'Aurora Lane', venue: 'Hall A' });
    expect(concert.schedules).toHaveLength(1);
    expect(concert.schedules[0]).toMatchObject({ concertId: concert.id, seatCount: 12, availableSeats: 12, price: 77_000 });
    expect(new Date(concert.schedules[0].bookingOpensAt).getTime()).toBeLessThanOrEqual(Date.now());

    t.concertOf.set(concert.schedules[0].id, concert.id);
    const seats = { seats: await seatMap(t, concert.schedules[0].id) };
    expect(seats.seats.map((s: { number: number }) => s.number)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(seats.seats.every((s: { status: string; price: number }) => s.status === 'AVAILABLE' && s.price === 77_000)).toBe(true);
  });

  it('needs the admin token: none is 401, a user token is 403', async () => {
    const payload = { title: 'x', artist: 'y', venue: 'z', schedules: [{ startsAt: inDays(3), seatCount: 1, price: 0 }] };
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/concerts', payload }), 401, 'UNAUTHENTICATED');
    const user = await createUser(t.app);
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/concerts', headers: bearer(user.token), payload }), 403, 'FORBIDDEN');
  });

  it.each([
    { seatCount: 0 },
    { seatCount: 5001 },
    { price: -1 },
    { price: 10_000_001 },
    { startsAt: 'tomorrow' },
    { startsAt: inDays(1), bookingOpensAt: inDays(2) },
  ])('refuses schedule %j', async (override) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/admin/concerts',
      headers: bearer(ADMIN_TOKEN),
      payload: { title: 'x', artist: 'y', venue: 'z', schedules: [{ startsAt: inDays(3), seatCount: 5, price: 10, ...override }] },
    });
    expectProblem(res, 400, 'VALIDATION_FAILED');
  });
});

describe('public catalog', () => {
  it('lists concerts newest first with paging', async () => {
    const a = await createConcert(t);
    const b = await createConcert(t);
    const first = (await t.app.inject({ url: '/concerts?limit=1' })).json();
    expect(first.items[0].id).toBe(b.id);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = (await t.app.inject({ url: `/concerts?limit=1&cursor=${first.nextCursor}` })).json();
    expect(second.items[0].id).toBe(a.id);
  });

  it('shows a concert with its schedules and 404s unknown ones', async () => {
    const concert = await createConcert(t, [{ seatCount: 3 }, { seatCount: 4 }]);
    const res = await t.app.inject({ url: `/concerts/${concert.id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json().schedules.map((s: { seatCount: number }) => s.seatCount).sort()).toEqual([3, 4]);
    expectProblem(await t.app.inject({ url: '/concerts/01890a5d-ac96-774b-bcce-b302099a8057' }), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ url: '/concerts/not-an-id' }), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ url: '/schedules/not-an-id/seats' }), 401, 'QUEUE_TOKEN_INVALID');
  });

  it('available=true keeps only future, open dates with a seat left', async () => {
    const concert = await createConcert(t, [
      { startsAt: inDays(5), seatCount: 1 }, // will sell out
      { startsAt: inDays(6), seatCount: 2 }, // bookable
      { startsAt: inDays(7), bookingOpensAt: inDays(3), seatCount: 2 }, // not open yet
    ]);
    const [soldOut, open] = concert.schedules.sort((x, y) => x.startsAt.localeCompare(y.startsAt));
    const user = await createUser(t.app);
    expect((await hold(t, user, soldOut!.id, 1)).statusCode).toBe(201);

    const all = (await t.app.inject({ url: `/concerts/${concert.id}/schedules` })).json();
    expect(all.items).toHaveLength(3);
    expect(all.items.find((s: { id: string }) => s.id === soldOut!.id).availableSeats).toBe(0);

    const available = (await t.app.inject({ url: `/concerts/${concert.id}/schedules?available=true` })).json();
    expect(available.items.map((s: { id: string }) => s.id)).toEqual([open!.id]);
    expect(available.items[0].availableSeats).toBe(2);
  });
});
