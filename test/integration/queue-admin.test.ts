import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, bearer, createConcert, createTestApp, createUser, expectProblem, type TestApp } from '../support/harness.js';

describe('operator: one concert’s waiting room', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ QUEUE_MAX_ACTIVE: '5' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const admin = (method: 'GET' | 'POST', url: string, headers = bearer(ADMIN_TOKEN)) => t.app.inject({ method, url, headers });

  it('is for the operator only: 401 without a bearer, 403 FORBIDDEN for a user, 404 for an unknown concert', async () => {
    const concert = await createConcert(t);
    const user = await createUser(t.app);
    for (const [method, path] of [['GET', 'queue'], ['POST', 'queue/pause'], ['POST', 'queue/resume']] as const) {
      const url = `/admin/concerts/${concert.id}/${path}`;
      expectProblem(await t.app.inject({ method, url }), 401, 'UNAUTHENTICATED');
      expectProblem(await admin(method, url, bearer(user.token)), 403, 'FORBIDDEN');
      expectProblem(await admin(method, `/admin/concerts/${randomUUID()}/${path}`), 404, 'NOT_FOUND');
    }
    // A user's attempt changed nothing.
    expect((await admin('GET', `/admin/concerts/${concert.id}/queue`)).json().paused).toBe(false);
  });

  it('pauses admission (joins wait, the ticker admits nobody, the active stay active) and resumes it in order', async () => {
    const concert = await createConcert(t);
    const [first, second, third] = await Promise.all([createUser(t.app), createUser(t.app), createUser(t.app)]);
    const join = async (user: { token: string }) =>
      (await t.app.inject({ method: 'POST', url: `/concerts/${concert.id}/queue`, headers: bearer(user.token) })).json();
    expect((await join(first!)).status).toBe('ACTIVE');

    const paused = await admin('POST', `/admin/concerts/${concert.id}/queue/pause`);
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ concertId: concert.id, paused: true, waiting: 0, active: 1, maxActive: 5 });
    expect(await join(second!)).toMatchObject({ status: 'WAITING', position: 1 });
    expect(await join(third!)).toMatchObject({ status: 'WAITING', position: 2 });
    await t.services.queue.tick();
    expect((await admin('GET', `/admin/concerts/${concert.id}/queue`)).json()).toMatchObject({ paused: true, waiting: 2, active: 1, admittedLastMinute: 1 });
    expect((await join(first!)).status).toBe('ACTIVE');

    const resumed = await admin('POST', `/admin/concerts/${concert.id}/queue/resume`);
    expect(resumed.json()).toMatchObject({ paused: false, waiting: 2, active: 1 });
    await t.services.queue.tick();
    expect((await join(second!)).status).toBe('ACTIVE');
    expect((await admin('GET', `/admin/concerts/${concert.id}/queue`)).json()).toMatchObject({ paused: false, waiting: 0, active: 3, admittedLastMinute: 3 });
  });
});
