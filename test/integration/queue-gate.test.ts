import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/platform/clock.js';
import { bearer, charge, createConcert, createTestApp, createUser, expectProblem, queueToken, type TestApp, type TestUser } from '../support/harness.js';
import { join, status, seats, holdWith, payWith } from '../support/queue-requests.js';

describe('the gate', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('refuses missing, forged and tampered tokens with 401 before anything else', async () => {
    const concert = await createConcert(t);
    const user = await createUser(t.app);
    const token = await queueToken(t.app, user, concert.id);
    const schedule = concert.schedules[0]!.id;
    expectProblem(await seats(t, schedule), 401, 'QUEUE_TOKEN_INVALID');
    expectProblem(await seats(t, schedule, 'nonsense'), 401, 'QUEUE_TOKEN_INVALID');
    const [v, kid, payload, sig] = token.split('.');
    const other = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), u: 'someone' })).toString('base64url');
    expectProblem(await seats(t, schedule, `${v}.${kid}.${other}.${sig}`), 401, 'QUEUE_TOKEN_INVALID');
    expectProblem(await seats(t, schedule, `${v}.ffffffff.${payload}.${sig}`), 401, 'QUEUE_TOKEN_INVALID');
    expectProblem(await holdWith(t, user, undefined, schedule, 1), 401, 'QUEUE_TOKEN_INVALID');
    // a bad token is 401 even for an unknown schedule: nothing is looked up first
    expectProblem(await seats(t, '01890a5d-ac96-774b-bcce-b302099a8057', 'nonsense'), 401, 'QUEUE_TOKEN_INVALID');
    expect((await seats(t, schedule, token)).statusCode).toBe(200);
  });

  it("refuses another user's or another concert's token with 403 QUEUE_TOKEN_MISMATCH", async () => {
    const [a, b] = await Promise.all([createConcert(t), createConcert(t)]);
    const [alice, bob] = await Promise.all([createUser(t.app), createUser(t.app)]);
    const aliceA = await queueToken(t.app, alice, a.id);
    const aliceB = await queueToken(t.app, alice, b.id);
    expectProblem(await seats(t, a.schedules[0]!.id, aliceB), 403, 'QUEUE_TOKEN_MISMATCH');
    expectProblem(await holdWith(t, bob, aliceA, a.schedules[0]!.id, 1), 403, 'QUEUE_TOKEN_MISMATCH');
    expectProblem(await holdWith(t, alice, aliceB, a.schedules[0]!.id, 1), 403, 'QUEUE_TOKEN_MISMATCH');
    const held = await holdWith(t, alice, aliceA, a.schedules[0]!.id, 1);
    expect(held.statusCode).toBe(201);
    await charge(t.app, alice, 100_000);
    expectProblem(await payWith(t, alice, aliceB, held.json().id), 403, 'QUEUE_TOKEN_MISMATCH');
    expectProblem(await payWith(t, bob, aliceA, held.json().id), 403, 'QUEUE_TOKEN_MISMATCH');
    expect((await status(t, bob, a.id, aliceA)).statusCode).toBe(403);
  });

  it('lets a paying user leave the line once nothing else is held, and still replays their retry', async () => {
    const concert = await createConcert(t);
    const user = await createUser(t.app);
    await charge(t.app, user, 1_000_000);
    const token = await queueToken(t.app, user, concert.id);
    const schedule = concert.schedules[0]!.id;
    const first = (await holdWith(t, user, token, schedule, 1)).json();
    const second = (await holdWith(t, user, token, schedule, 2)).json();
    expect((await payWith(t, user, token, first.id)).statusCode).toBe(201);
    expect((await status(t, user, concert.id, token)).json().status).toBe('ACTIVE'); // still holds seat 2
    const paid = await payWith(t, user, token, second.id, 'last-payment-key');
    expect(paid.statusCode).toBe(201);
    expect((await status(t, user, concert.id, token)).json().status).toBe('EXPIRED');
    expectProblem(await seats(t, schedule, token), 403, 'QUEUE_NOT_ACTIVE');
    const retry = await payWith(t, user, token, second.id, 'last-payment-key');
    expect(retry.statusCode).toBe(201);
    expect(retry.json()).toEqual(paid.json());
    // without a stored answer, the gate holds
    expectProblem(await payWith(t, user, token, second.id, 'another-key-000'), 403, 'QUEUE_NOT_ACTIVE');
    // joining again starts a new entry
    const rejoin = await join(t, user, concert.id);
    expect(rejoin.statusCode).toBe(201);
    expect(rejoin.json().token).not.toBe(token);
  });

  it('needs a bearer token to join and a real concert', async () => {
    const concert = await createConcert(t);
    expectProblem(await t.app.inject({ method: 'POST', url: `/concerts/${concert.id}/queue` }), 401, 'UNAUTHENTICATED');
    const user = await createUser(t.app);
    expectProblem(await join(t, user, '01890a5d-ac96-774b-bcce-b302099a8057'), 404, 'NOT_FOUND');
    expectProblem(await status(t, user, concert.id, 'nonsense'), 401, 'QUEUE_TOKEN_INVALID');
  });
});

describe('seat map with and without the bearer', () => {
  const TTL_MS = 600_000;
  const clock = manualClock(new Date());
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ QUEUE_ACTIVE_TTL_SECONDS: String(TTL_MS / 1000) }, { clock });
  });
  afterAll(() => t.close());

  /** The entry's activeUntil as joining again (which changes nothing) reports it. */
  const activeUntilOf = async (user: TestUser, concertId: string) => {
    const res = await join(t, user, concertId);
    expect(res.statusCode).toBe(200);
    return Date.parse(res.json().activeUntil);
  };

  it("refuses another user's bearer (403 QUEUE_TOKEN_MISMATCH) and an unknown one (401 UNAUTHENTICATED)", async () => {
    const concert = await createConcert(t);
    const [alice, bob] = [await createUser(t.app), await createUser(t.app)];
    const token = await queueToken(t.app, alice, concert.id);
    const schedule = concert.schedules[0]!.id;
    expectProblem(await seats(t, schedule, token, bob), 403, 'QUEUE_TOKEN_MISMATCH');
    const unknown = await t.app.inject({
      url: `/schedules/${schedule}/seats`,
      headers: { 'queue-token': token, ...bearer('tk_not-a-real-token') },
    });
    expectProblem(unknown, 401, 'UNAUTHENTICATED');
    expect((await seats(t, schedule, token, alice)).statusCode).toBe(200);
  });

  it('reads with the Queue-Token alone without sliding the active period; the owner\'s bearer slides it', async () => {
    const concert = await createConcert(t);
    const user = await createUser(t.app);
    const token = await queueToken(t.app, user, concert.id);
    const schedule = concert.schedules[0]!.id;
    const until = await activeUntilOf(user, concert.id);

    clock.advance(TTL_MS / 2);
    expect((await seats(t, schedule, token)).statusCode).toBe(200); // the token alone still reads...
    expect(await activeUntilOf(user, concert.id)).toBe(until); // ...but does not move activeUntil

    expect((await seats(t, schedule, token, user)).statusCode).toBe(200);
    const slid = await activeUntilOf(user, concert.id);
    expect(slid).toBe(clock.now().getTime() + TTL_MS);

    // A leaked token read again and again keeps nothing alive: past activeUntil it is refused.
    for (let i = 0; i < 5; i++) {
      clock.advance(TTL_MS / 5 - 1);
      expect((await seats(t, schedule, token)).statusCode).toBe(200);
    }
    clock.advance(5);
    expectProblem(await seats(t, schedule, token), 403, 'QUEUE_NOT_ACTIVE');
  });
});
