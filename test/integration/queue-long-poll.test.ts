import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMemoryQueueStore } from '../../src/modules/queue/queue.store.memory.js';
import { createRedisQueueStore } from '../../src/modules/queue/queue.store.redis.js';
import { deleteKeys } from '../support/redis-keys.js';
import { bearer, createConcert, createTestApp, createUser, expectProblem, type TestApp, type TestUser } from '../support/harness.js';
import { join } from '../support/queue-requests.js';

/** GET …/queue?wait=S: held while the caller waits, answered when admitted or after S seconds. */

const watch = (t: TestApp, user: TestUser, concertId: string, token: string, wait: number | string) =>
  t.app.inject({ url: `/concerts/${concertId}/queue?wait=${wait}`, headers: { ...bearer(user.token), 'queue-token': token } });

const heldMs = (res: { headers: Record<string, unknown> }): number | undefined => {
  const m = /held;dur=(\d+)/.exec(String(res.headers['server-timing'] ?? ''));
  return m ? Number(m[1]) : undefined;
};

/** A concert whose one active place is taken: the answer of a user left waiting, and who holds the place. */
async function lineOfTwo(t: TestApp) {
  const concert = await createConcert(t);
  const first = await createUser(t.app);
  const second = await createUser(t.app);
  const firstToken = (await join(t, first, concert.id)).json().token as string;
  const waiting = (await join(t, second, concert.id)).json();
  expect(waiting.status).toBe('WAITING');
  return { concert, first, firstToken, second, secondToken: waiting.token as string };
}

const leave = (t: TestApp, user: TestUser, concertId: string, token: string) =>
  t.app.inject({ method: 'DELETE', url: `/concerts/${concertId}/queue`, headers: { ...bearer(user.token), 'queue-token': token } });

/** Resolves once the app holds `n` polls (the held poll registers after its first status read). */
async function untilHeld(t: TestApp, n: number) {
  for (let i = 0; i < 400 && t.services.longPolls.held() !== n; i++) await new Promise((r) => setTimeout(r, 5));
  expect(t.services.longPolls.held()).toBe(n);
}

describe('long poll of the line', () => {
  let t: TestApp;
  const store = createMemoryQueueStore();
  beforeAll(async () => {
    t = await createTestApp({ QUEUE_MAX_ACTIVE: '1', QUEUE_ADMIT_PER_SECOND: '1000', QUEUE_LONG_POLL_MAX: '2' }, { queueStore: store });
  });
  afterAll(() => t.close());

  it('answers ACTIVE at the admission pass that lets the waiting user in, long before its wait is over', async () => {
    const { concert, first, firstToken, second, secondToken } = await lineOfTwo(t);
    const held = watch(t, second, concert.id, secondToken, 30);
    await untilHeld(t, 1);
    expect((await leave(t, first, concert.id, firstToken)).statusCode).toBe(204);
    await t.services.queue.tick();
    const res = await held;
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ACTIVE', position: null, activeUntil: expect.any(String) });
    expect(heldMs(res)).toBeLessThan(30_000);
    expect(t.services.longPolls.held()).toBe(0);
    // The answer's token opens the gate, as a plain poll's does.
    const map = await t.app.inject({ url: `/schedules/${concert.schedules[0]!.id}/seats`, headers: { ...bearer(second.token), 'queue-token': res.json().token } });
    expect(map.statusCode).toBe(200);
  });

  it('answers WAITING with the place after the wait when nobody moves, and a pass that admits nobody does not wake it', async () => {
    const { concert, second, secondToken } = await lineOfTwo(t);
    const held = watch(t, second, concert.id, secondToken, 1);
    await untilHeld(t, 1);
    await t.services.queue.tick();
    expect(t.services.longPolls.held()).toBe(1);
    const res = await held;
    expect(res.json()).toMatchObject({ status: 'WAITING', position: 1, refreshAfterSeconds: expect.any(Number) });
    expect(heldMs(res)).toBeGreaterThanOrEqual(990);
  });

  it('answers at once when the caller is not waiting, or asks for no wait, reading the line once', async () => {
    const { concert, first, firstToken, second, secondToken } = await lineOfTwo(t);
    const touches = vi.spyOn(store, 'touch');
    const active = await watch(t, first, concert.id, firstToken, 30);
    expect(active.json().status).toBe('ACTIVE');
    expect(heldMs(active)).toBeUndefined();
    const now = await watch(t, second, concert.id, secondToken, 0);
    expect(now.json()).toMatchObject({ status: 'WAITING', position: 1 });
    expect(heldMs(now)).toBeUndefined();
    expect(touches).toHaveBeenCalledTimes(2);
    touches.mockRestore();
  });

  it('refuses a wait beyond 30 s, or not a whole number, and holds nothing', async () => {
    const { concert, second, secondToken } = await lineOfTwo(t);
    // Numbers JavaScript would read but nobody writes for seconds are refused too.
    for (const wait of [31, -1, 'soon', 1.5, '1e1', '0x10', '%205', '30.0', '0001', '-0', '+5']) {
      const answer = await watch(t, second, concert.id, secondToken, wait);
      expectProblem(answer, 400, 'VALIDATION_FAILED');
      expect(JSON.stringify(answer.json())).toContain('/querystring/wait');
    }
    expect(t.services.longPolls.held()).toBe(0);
  });

  it('holds one poll per user and concert: a newer poll answers the older, so one account cannot take every place', async () => {
    const { concert, first, firstToken, second, secondToken } = await lineOfTwo(t);
    const other = await lineOfTwo(t);
    // The same account polls three times at once; the server holds at most two polls in all.
    const older = watch(t, second, concert.id, secondToken, 30);
    await untilHeld(t, 1);
    const newer = watch(t, second, concert.id, secondToken, 30);
    const replaced = await older;
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ status: 'WAITING', position: 1 });
    await untilHeld(t, 1);
    // Another user's poll still finds a place, and the gauge counts both.
    const others = watch(t, other.second, other.concert.id, other.secondToken, 30);
    await untilHeld(t, 2);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/^queue_long_polls_held 2$/m);
    for (const [user, c, token] of [[first, concert.id, firstToken], [other.first, other.concert.id, other.firstToken]] as const) {
      await leave(t, user, c, token);
    }
    await t.services.queue.tick();
    expect((await Promise.all([newer, others])).map((r) => r.json().status)).toEqual(['ACTIVE', 'ACTIVE']);
    expect(t.services.longPolls.held()).toBe(0);
  });

  it('holds at most QUEUE_LONG_POLL_MAX polls; the next one is answered at once as a plain poll', async () => {
    const lines = [await lineOfTwo(t), await lineOfTwo(t), await lineOfTwo(t)];
    const held = lines.slice(0, 2).map((l) => watch(t, l.second, l.concert.id, l.secondToken, 30));
    await untilHeld(t, 2);
    const third = lines[2]!;
    const res = await watch(t, third.second, third.concert.id, third.secondToken, 30);
    expect(res.json()).toMatchObject({ status: 'WAITING', position: 1 });
    expect(heldMs(res)).toBeUndefined();
    // Both held polls are let go by their concerts' admissions.
    for (const l of lines.slice(0, 2)) await leave(t, l.first, l.concert.id, l.firstToken);
    await t.services.queue.tick();
    expect((await Promise.all(held)).map((r) => r.json().status)).toEqual(['ACTIVE', 'ACTIVE']);
  });
});

describe('long poll over real connections', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp({ QUEUE_MAX_ACTIVE: '1', QUEUE_ADMIT_PER_SECOND: '1000', QUEUE_LONG_POLL_MAX: '1' });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => t.close());

  const get = (user: TestUser, concertId: string, token: string, signal?: AbortSignal) =>
    fetch(`${base}/concerts/${concertId}/queue?wait=30`, { headers: { ...bearer(user.token), 'queue-token': token }, signal });

  it('frees the place of a caller who hangs up, and answers held polls at once when the server closes', async () => {
    const { concert, second, secondToken } = await lineOfTwo(t);
    const hangUp = new AbortController();
    const abandoned = get(second, concert.id, secondToken, hangUp.signal).catch((e: Error) => e.name);
    await untilHeld(t, 1);
    hangUp.abort();
    expect(await abandoned).toBe('AbortError');
    await untilHeld(t, 0);

    // The place is free again: the next poll is held, until the server closes.
    const held = get(second, concert.id, secondToken);
    await untilHeld(t, 1);
    const closing = t.app.close();
    const res = await held;
    expect(res.status).toBe(200);
    expect((await res.json()).status).toBe('WAITING');
    await closing;
  });
});

const redisUrl = process.env.REDIS_URL;

describe.skipIf(!redisUrl)(`long poll across instances sharing Redis${redisUrl ? '' : ' (REDIS_URL unset: skipped)'}`, () => {
  const keyPrefix = `test-longpoll-${randomUUID()}`;
  let redis: Redis;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    redis = new Redis(redisUrl!);
    const env = { QUEUE_MAX_ACTIVE: '1', QUEUE_ADMIT_PER_SECOND: '1000' };
    a = await createTestApp(env, { queueStore: createRedisQueueStore(redis, { keyPrefix }) });
    b = await createTestApp(env, { queueStore: createRedisQueueStore(redis, { keyPrefix }) });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await deleteKeys(redis, keyPrefix);
    await redis.quit();
  });

  it('wakes a poll held by one instance when another admits its user, at the holder\'s next pass', async () => {
    const { concert, first, firstToken, second, secondToken } = await lineOfTwo(a);
    const held = watch(b, second, concert.id, secondToken, 30);
    await untilHeld(b, 1);
    expect((await leave(a, first, concert.id, firstToken)).statusCode).toBe(204);
    expect(await a.services.queue.tick()).toBe(1); // admitted by the other instance
    expect(b.services.longPolls.held()).toBe(1);
    expect(await b.services.queue.tick()).toBe(0); // admits nobody, but sees the head move past its poll
    const res = await held;
    expect(res.json()).toMatchObject({ status: 'ACTIVE', position: null });
    expect(heldMs(res)).toBeLessThan(30_000);
  });
});
