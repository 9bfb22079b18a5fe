import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearer,
  charge,
  createConcert,
  createTestApp,
  createUser,
  expectProblem,
  queueToken,
  type TestApp,
  type TestUser,
} from '../support/harness.js';
import { manualClock } from '../../src/platform/clock.js';

const join = (t: TestApp, user: TestUser, concertId: string) =>
  t.app.inject({ method: 'POST', url: `/concerts/${concertId}/queue`, headers: bearer(user.token) });
const status = (t: TestApp, user: TestUser, concertId: string, token: string) =>
  t.app.inject({ url: `/concerts/${concertId}/queue`, headers: { ...bearer(user.token), 'queue-token': token } });
/** The seat map with a Queue-Token, and the bearer of `as` when given. */
const seats = (t: TestApp, scheduleId: string, token?: string, as?: TestUser) =>
  t.app.inject({
    url: `/schedules/${scheduleId}/seats`,
    headers: { ...(token ? { 'queue-token': token } : {}), ...(as ? bearer(as.token) : {}) },
  });
const holdWith = (t: TestApp, user: TestUser, token: string | undefined, scheduleId: string, seatNumber: number, key?: string) =>
  t.app.inject({
    method: 'POST',
    url: '/reservations',
    headers: { ...bearer(user.token), ...(token ? { 'queue-token': token } : {}), ...(key ? { 'idempotency-key': key } : {}) },
    payload: { scheduleId, seatNumber },
  });
const payWith = (t: TestApp, user: TestUser, token: string, reservationId: string, key?: string) =>
  t.app.inject({
    method: 'POST',
    url: '/payments',
    headers: { ...bearer(user.token), 'queue-token': token, ...(key ? { 'idempotency-key': key } : {}) },
    payload: { reservationId },
  });

describe('waiting room with room for two', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ QUEUE_MAX_ACTIVE: '2', QUEUE_ADMIT_PER_SECOND: '1000' });
  });
  afterAll(() => t.close());

  it('admits first come, first served and tells the rest their place', async () => {
    const concert = await createConcert(t);
    const users = await Promise.all([1, 2, 3, 4].map(() => createUser(t.app)));
    const answers = [];
    for (const u of users) answers.push(await join(t, u, concert.id));
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 201, 201]);
    const bodies = answers.map((a) => a.json());
    expect(bodies.map((b) => b.status)).toEqual(['ACTIVE', 'ACTIVE', 'WAITING', 'WAITING']);
    expect(bodies.map((b) => b.position)).toEqual([null, null, 1, 2]);
    expect(bodies[0].activeUntil).toEqual(expect.any(String));
    expect(bodies[2]).toMatchObject({ estimatedWaitSeconds: expect.any(Number), refreshAfterSeconds: expect.any(Number), activeUntil: null });
    expect(bodies[3].estimatedWaitSeconds).toBeGreaterThanOrEqual(bodies[2].estimatedWaitSeconds);

    // joining again returns the same entry and place
    const again = await join(t, users[3]!, concert.id);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ status: 'WAITING', position: 2 });

    // a waiting user is refused by the gate, with their place
    const waitingToken = bodies[2].token;
    const refused = expectProblem(await seats(t, concert.schedules[0]!.id, waitingToken), 403, 'QUEUE_NOT_ACTIVE');
    expect(refused.position).toBe(1);
    expectProblem(await holdWith(t, users[2]!, waitingToken, concert.schedules[0]!.id, 1), 403, 'QUEUE_NOT_ACTIVE');

    // an active user leaves: the head of the line is admitted on the next pass, the rest move up
    const del = await t.app.inject({ method: 'DELETE', url: `/concerts/${concert.id}/queue`, headers: { ...bearer(users[0]!.token), 'queue-token': bodies[0].token } });
    expect(del.statusCode).toBe(204);
    await t.services.queue.tick();
    expect((await status(t, users[2]!, concert.id, waitingToken)).json()).toMatchObject({ status: 'ACTIVE', position: null });
    expect((await status(t, users[3]!, concert.id, bodies[3].token)).json()).toMatchObject({ status: 'WAITING', position: 1 });
    expect((await seats(t, concert.schedules[0]!.id, waitingToken)).statusCode).toBe(200);
    // the one who left holds an old token: it no longer opens the gate
    expectProblem(await seats(t, concert.schedules[0]!.id, bodies[0].token), 403, 'QUEUE_NOT_ACTIVE');
    expect((await status(t, users[0]!, concert.id, bodies[0].token)).json().status).toBe('EXPIRED');
  });
});

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

describe('active period', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ QUEUE_ACTIVE_TTL_SECONDS: '1' });
  });
  afterAll(() => t.close());

  it('slides with each request and ends after the idle time', async () => {
    const concert = await createConcert(t);
    const user = await createUser(t.app);
    const token = await queueToken(t.app, user, concert.id);
    const schedule = concert.schedules[0]!.id;
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 600));
      expect((await seats(t, schedule, token, user)).statusCode).toBe(200); // 1.8 s in all, never 1 s idle
    }
    await new Promise((r) => setTimeout(r, 1_100));
    expectProblem(await seats(t, schedule, token), 403, 'QUEUE_NOT_ACTIVE');
    expect((await status(t, user, concert.id, token)).json().status).toBe('EXPIRED');
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

describe('ended entries', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('are forgotten by the purge, and their tokens still read EXPIRED', async () => {
    const concert = await createConcert(t);
    const user = await createUser(t.app);
    const token = await queueToken(t.app, user, concert.id);
    const leave = await t.app.inject({
      method: 'DELETE',
      url: `/concerts/${concert.id}/queue`,
      headers: { ...bearer(user.token), 'queue-token': token },
    });
    expect(leave.statusCode).toBe(204);
    expect(await t.services.queue.purgeEnded()).toBeGreaterThanOrEqual(1);

    expect((await status(t, user, concert.id, token)).json()).toMatchObject({ status: 'EXPIRED', token });
    expectProblem(await seats(t, concert.schedules[0]!.id, token, user), 403, 'QUEUE_NOT_ACTIVE');
    expect((await join(t, user, concert.id)).statusCode).toBe(201);
  });
});

describe('admission ticker', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ QUEUE_MAX_ACTIVE: '1', QUEUE_ADMIT_PER_SECOND: '1000' });
  });
  afterAll(() => t.close());

  it('refills a freed place within a tick, and pauses while the database is not ready', async () => {
    const { startQueueTicker } = await import('../../src/modules/queue/queue.ticker.js');
    const pino = (await import('pino')).default;
    let databaseUp = true;
    const pauses: boolean[] = [];
    const ticker = startQueueTicker({
      queue: t.services.queue,
      intervalMs: 20,
      databaseReady: async () => databaseUp,
      log: pino({ level: 'silent' }),
      onPaused: (paused) => pauses.push(paused),
    });
    try {
      const concert = await createConcert(t);
      const [first, second, third] = [await createUser(t.app), await createUser(t.app), await createUser(t.app)];
      const a = (await join(t, first, concert.id)).json();
      const b = (await join(t, second, concert.id)).json();
      const c = (await join(t, third, concert.id)).json();
      expect([a.status, b.status, c.status]).toEqual(['ACTIVE', 'WAITING', 'WAITING']);

      await t.app.inject({ method: 'DELETE', url: `/concerts/${concert.id}/queue`, headers: { ...bearer(first.token), 'queue-token': a.token } });
      await new Promise((r) => setTimeout(r, 150));
      expect((await status(t, second, concert.id, b.token)).json().status).toBe('ACTIVE');

      databaseUp = false;
      await new Promise((r) => setTimeout(r, 60));
      await t.app.inject({ method: 'DELETE', url: `/concerts/${concert.id}/queue`, headers: { ...bearer(second.token), 'queue-token': b.token } });
      await new Promise((r) => setTimeout(r, 150));
      expect((await status(t, third, concert.id, c.token)).json()).toMatchObject({ status: 'WAITING', position: 1 });

      databaseUp = true;
      await new Promise((r) => setTimeout(r, 150));
      expect((await status(t, third, concert.id, c.token)).json().status).toBe('ACTIVE');
      expect(pauses).toEqual([true, false]);
    } finally {
      await ticker.stop();
    }
  });
});
