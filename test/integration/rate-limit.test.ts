/** Rate limits end to end: polls, per user and per address, behind one address, with the Redis store down, stalled and shared (over 300 lines: every case uses the helpers at its top). */
import { randomInt, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { bearer, createConcert, createTestApp, createUser, expectProblem, type TestApp, type TestUser } from '../support/harness.js';
import { join, status as poll } from '../support/queue-requests.js';
import { scanKeys } from '../support/redis-keys.js';

const redisUrl = process.env.REDIS_URL;
const randomAddress = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

function expectRateLimited(res: Awaited<ReturnType<TestApp['app']['inject']>>, windowSeconds: number) {
  expectProblem(res, 429, 'RATE_LIMITED');
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
}

it('limits are on by default (npm start) and off in the test harness unless a test turns them on', () => {
  expect(loadConfig({}).RATE_LIMIT_ENABLED).toBe(true);
});

describe('polling the waiting room (in-process counters, 10 s windows)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_WINDOW_MS: '10000',
      RATE_LIMIT_POLL: '11', // the least a 10 s window allows: ten polls a second apart, plus one
      QUEUE_MAX_ACTIVE: '1',
      QUEUE_ADMIT_PER_SECOND: '1000',
    });
  });
  afterAll(() => t.close());
  afterEach(() => vi.useRealTimers());

  it('never refuses a fan polling at refreshAfterSeconds, and refuses a bot polling far faster', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const concert = await createConcert(t);
    const [first, fan, bot] = [await createUser(t.app), await createUser(t.app), await createUser(t.app)];
    expect((await join(t, first, concert.id)).json().status).toBe('ACTIVE'); // takes the only place
    const fanToken = (await join(t, fan, concert.id)).json().token;
    const botToken = (await join(t, bot, concert.id)).json().token;

    // 45 polls over 45 s (four and a half windows), each exactly refreshAfterSeconds after the last.
    for (let i = 0; i < 45; i++) {
      const res = await poll(t, fan, concert.id, fanToken);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ status: 'WAITING', refreshAfterSeconds: 1 });
      vi.advanceTimersByTime(res.json().refreshAfterSeconds * 1000);
    }

    const burst = [];
    for (let i = 0; i < 20; i++) burst.push(await poll(t, bot, concert.id, botToken));
    expect(burst.slice(0, 11).map((r) => r.statusCode)).toEqual(Array(11).fill(200));
    for (const res of burst.slice(11)) expectRateLimited(res, 10);
    // the fan is counted apart from the bot, though both call from one address
    expect((await poll(t, fan, concert.id, fanToken)).statusCode).toBe(200);
    // the bot is let in again when its window ends
    vi.advanceTimersByTime(10_000);
    expect((await poll(t, bot, concert.id, botToken)).statusCode).toBe(200);
  });

  it('counts a held poll (?wait=) once, when it arrives; past the limit it is refused at once, not held', async () => {
    const concert = await createConcert(t);
    const [first, fan] = [await createUser(t.app), await createUser(t.app)];
    const firstToken = (await join(t, first, concert.id)).json().token;
    const fanToken = (await join(t, fan, concert.id)).json().token;
    const longPoll = () => t.app.inject({ url: `/concerts/${concert.id}/queue?wait=30`, headers: { ...bearer(fan.token), 'queue-token': fanToken } });
    for (let i = 0; i < 10; i++) expect((await poll(t, fan, concert.id, fanToken)).statusCode).toBe(200);

    const held = longPoll(); // the 11th poll of the window: allowed, and held
    for (let i = 0; i < 400 && t.services.longPolls.held() === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(t.services.longPolls.held()).toBe(1);
    await t.app.inject({ method: 'DELETE', url: `/concerts/${concert.id}/queue`, headers: { ...bearer(first.token), 'queue-token': firstToken } });
    await t.services.queue.tick();
    expect((await held).json().status).toBe('ACTIVE');

    expectRateLimited(await longPoll(), 10); // the 12th
    expect(t.services.longPolls.held()).toBe(0);
  });

  it('refuses a poll limit that a one-second cadence would exceed', async () => {
    await expect(createTestApp({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_WINDOW_MS: '10000', RATE_LIMIT_POLL: '10' })).rejects.toThrow(
      /RATE_LIMIT_POLL must be at least 11/,
    );
  });
});

describe('per-user and per-address limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_PER_IP: '40',
      RATE_LIMIT_JOIN: '2',
      RATE_LIMIT_HOLD: '1',
    });
  });
  afterAll(() => t.close());

  it('refuses a user past their join limit with 429 RATE_LIMITED and Retry-After, while others still join', async () => {
    const concert = await createConcert(t);
    const [greedy, other] = [await createUser(t.app), await createUser(t.app)];
    expect((await join(t, greedy, concert.id)).statusCode).toBe(201);
    expect((await join(t, greedy, concert.id)).statusCode).toBe(200);
    const refused = await join(t, greedy, concert.id);
    expectRateLimited(refused, 60);
    expect(refused.json().detail).toMatch(/this user/);
    expect((await join(t, other, concert.id)).statusCode).toBe(201);
  });

  it('counts holds per user before the body is read or the token checked', async () => {
    const user = await createUser(t.app);
    const hold = () => t.app.inject({ method: 'POST', url: '/reservations', headers: bearer(user.token), payload: {} });
    expect((await hold()).statusCode).toBe(400);
    expectRateLimited(await hold(), 60);
  });

  it('refuses an address past its limit on any route, never on health, metrics or docs', async () => {
    const address = randomAddress();
    const get = (url: string, remoteAddress = address) => t.app.inject({ url, remoteAddress });
    for (let i = 0; i < 40; i++) expect((await get('/concerts')).statusCode).toBe(200);
    const refused = await get('/concerts');
    expectRateLimited(refused, 60);
    expect(refused.json().detail).toMatch(/address/);
    expectRateLimited(await t.app.inject({ method: 'POST', url: '/users', payload: { name: 'bot' }, remoteAddress: address }), 60);
    expectRateLimited(await get('/no-such-route'), 60);
    for (let i = 0; i < 50; i++) {
      for (const url of ['/health/live', '/health/ready', '/metrics', '/docs/json']) {
        expect((await get(url)).statusCode, url).toBe(200);
      }
    }
    expect((await get('/concerts', randomAddress())).statusCode).toBe(200); // another address
  });
});

describe('fans behind one address (carrier NAT), registrations and proxies', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_PER_IP: '30',
      RATE_LIMIT_POLL: '61',
      RATE_LIMIT_SIGNUP: '3',
      TRUST_PROXY: '127.0.0.1',
    });
  });
  afterAll(() => t.close());
  // Fixtures come from addresses of their own, so only what a test sends counts against its address.
  const newUser = async (): Promise<TestUser> =>
    (await t.app.inject({ method: 'POST', url: '/users', payload: { name: 'fan' }, remoteAddress: randomAddress() })).json();
  const joinFrom = (user: TestUser, concertId: string) =>
    t.app.inject({ method: 'POST', url: `/concerts/${concertId}/queue`, headers: bearer(user.token), remoteAddress: randomAddress() });

  it('polls with genuine Queue-Tokens are never refused for their address, while other routes from it are', async () => {
    const nat = randomAddress();
    const concert = await createConcert(t);
    const fans = await Promise.all(Array.from({ length: 12 }, () => newUser()));
    const tokens = await Promise.all(fans.map(async (f) => (await joinFrom(f, concert.id)).json().token as string));
    // 12 fans × 5 polls from one address: twice its limit of 30, every one answered.
    for (let round = 0; round < 5; round++) {
      for (const [i, fan] of fans.entries()) {
        const res = await t.app.inject({
          url: `/concerts/${concert.id}/queue`,
          headers: { ...bearer(fan.token), 'queue-token': tokens[i]! },
          remoteAddress: nat,
        });
        expect(res.statusCode, res.body).toBe(200);
      }
    }
    for (let i = 0; i < 30; i++) await t.app.inject({ url: '/concerts', remoteAddress: nat });
    expectRateLimited(await t.app.inject({ url: '/concerts', remoteAddress: nat }), 60);
  });

  it("seat-map reads with genuine Queue-Tokens (no bearer) count per user and the token's concert as line polls do, never against their address", async () => {
    const nat = randomAddress();
    const concert = await createConcert(t, [{ seatCount: 5 }, { seatCount: 5 }]);
    const [first, second] = concert.schedules.map((s) => s.id) as [string, string];
    const fans = await Promise.all(Array.from({ length: 8 }, () => newUser()));
    const tokens = await Promise.all(fans.map(async (f) => (await joinFrom(f, concert.id)).json().token as string));
    const read = (scheduleId: string, token: string) =>
      t.app.inject({ url: `/schedules/${scheduleId}/seats`, headers: { 'queue-token': token }, remoteAddress: nat });
    // 8 fans × 5 reads from one address: past its limit of 30, every one answered.
    for (let round = 0; round < 5; round++) {
      for (const token of tokens) expect((await read(first, token)).statusCode).toBe(200);
    }
    // One fan reading far faster than once a second is refused for that user's maps of the concert only.
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await read(first, tokens[0]!)).statusCode);
    expect(statuses.slice(0, 56)).toEqual(Array(56).fill(200)); // 5 + 56 = the poll limit of 61
    expect(statuses.slice(56)).toEqual(Array(4).fill(429));
    expectRateLimited(await read(first, tokens[0]!), 60);
    // Made-up schedule ids buy no fresh budget: the counter is the token's, not the URL's.
    expectRateLimited(await read(second, tokens[0]!), 60);
    expectRateLimited(await read(randomUUID(), tokens[0]!), 60);
    expect((await read(first, tokens[1]!)).statusCode).toBe(200);
    // The same fan's place in line is counted apart from the maps.
    const poll = await t.app.inject({
      url: `/concerts/${concert.id}/queue`,
      headers: { authorization: `Bearer ${fans[0]!.token}`, 'queue-token': tokens[0]! },
      remoteAddress: nat,
    });
    expect(poll.statusCode).toBe(200);
  });

  it('made-up bearers buy a poller no fresh budget: the genuine token is counted for the user it names', async () => {
    const concert = await createConcert(t);
    const owner = await newUser();
    const token = (await joinFrom(owner, concert.id)).json().token as string;
    const statuses: number[] = [];
    for (let i = 0; i < 70; i++) {
      const res = await t.app.inject({
        url: `/concerts/${concert.id}/queue`,
        headers: { authorization: `Bearer made-up-${i}`, 'queue-token': token },
        remoteAddress: randomAddress(),
      });
      statuses.push(res.statusCode);
    }
    expect(statuses.slice(0, 61)).toEqual(Array(61).fill(401)); // unknown bearers, each counted for the token's user
    expect(statuses.slice(61)).toEqual(Array(9).fill(429));
  });

  it('limits registrations per address: new accounts are new per-user budgets', async () => {
    const address = randomAddress();
    const signup = (remoteAddress: string) => t.app.inject({ method: 'POST', url: '/users', payload: { name: 'fan' }, remoteAddress });
    for (let i = 0; i < 3; i++) expect((await signup(address)).statusCode).toBe(201);
    const refused = await signup(address);
    expectRateLimited(refused, 60);
    expect(refused.json().detail).toMatch(/registrations/);
    expect((await signup(randomAddress())).statusCode).toBe(201);
  });

  it('behind a trusted proxy, each client is counted by its forwarded address; untrusted peers cannot choose theirs', async () => {
    const client = randomAddress();
    const viaProxy = (forwardedFor: string, remoteAddress = '127.0.0.1') =>
      t.app.inject({ method: 'POST', url: '/users', payload: { name: 'fan' }, remoteAddress, headers: { 'x-forwarded-for': forwardedFor } });
    for (let i = 0; i < 3; i++) expect((await viaProxy(client)).statusCode).toBe(201);
    expectRateLimited(await viaProxy(client), 60);
    expect((await viaProxy(randomAddress())).statusCode).toBe(201); // another client behind the same proxy
    // A peer that is not the proxy is counted by its own address, whatever header it sends.
    const peer = randomAddress();
    for (let i = 0; i < 3; i++) expect((await viaProxy(randomAddress(), peer)).statusCode).toBe(201);
    expectRateLimited(await viaProxy(randomAddress(), peer), 60);
  });
});

describe('when the Redis store is down', () => {
  it('lets requests through (fail open) and logs a warning', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    dead.on('error', () => {}); // refused connections are the point here
    const t = await createTestApp({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_IP: '1', CACHE_ENABLED: 'false' }, { redis: dead, logger });
    try {
      for (let i = 0; i < 3; i++) expect((await t.app.inject({ url: '/concerts' })).statusCode).toBe(200);
      expect(lines.some((l) => l.includes('rate-limit store unavailable'))).toBe(true);
    } finally {
      await t.close();
      dead.disconnect();
    }
  });
});

describe('when the Redis store stalls', () => {
  it('does not hold requests: past its timeout they pass', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket)); // accepts connections, never answers a command
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const stalled = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: null });
    stalled.on('error', () => {});
    const t = await createTestApp({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_IP: '1', CACHE_ENABLED: 'false' }, { redis: stalled });
    try {
      for (let i = 0; i < 3; i++) expect((await t.app.inject({ url: '/concerts' })).statusCode).toBe(200);
    } finally {
      await t.close();
      stalled.disconnect();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe.skipIf(!redisUrl)(`limits shared through Redis${redisUrl ? '' : ' (REDIS_URL unset: skipped)'}`, () => {
  let redis: Redis;
  let one: TestApp;
  let two: TestApp;
  beforeAll(async () => {
    redis = new Redis(redisUrl!);
    const env = { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_IP: '4', RATE_LIMIT_PAY: '3', CACHE_ENABLED: 'false' };
    one = await createTestApp(env, { redis });
    two = await createTestApp(env, { redis });
  });
  afterAll(async () => {
    await Promise.all([one.close(), two.close()]);
    await redis.quit();
  });

  it('holds one per-address limit across two instances, under its own key prefix', async () => {
    const address = randomAddress();
    const get = (t: TestApp) => t.app.inject({ url: '/concerts', remoteAddress: address });
    expect([await get(one), await get(two), await get(one), await get(two)].map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
    expectRateLimited(await get(one), 60);
    expectRateLimited(await get(two), 60);

    const keys = await scanKeys(redis, `*${address}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key.startsWith('ratelimit:')).toBe(true);
      expect(await redis.pttl(key)).toBeGreaterThan(0); // gone when its window ends
    }
  });

  it('holds one per-user limit across two instances', async () => {
    const user = await createUser(one.app);
    const pay = (t: TestApp) =>
      t.app.inject({ method: 'POST', url: '/payments', headers: bearer(user.token), payload: {}, remoteAddress: randomAddress() });
    expect([await pay(one), await pay(two), await pay(one)].map((r) => r.statusCode)).toEqual([400, 400, 400]);
    expectRateLimited(await pay(two), 60);
  });
});
