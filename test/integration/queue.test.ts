import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createConcert, createTestApp, createUser, expectProblem, queueToken, type TestApp } from '../support/harness.js';
import { join, status, seats, holdWith } from '../support/queue-requests.js';

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
