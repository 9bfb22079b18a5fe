/**
 * The data the scenarios share, created through the public API: users with money, a seat-map
 * schedule, many seats to spread holds, a few to fight over, and every user's place in each line.
 */
import { createConcert } from '../harness/concerts.js';
import { ADMIN_TOKEN } from './processes.js';

const PRICE = 1_000;

export interface BenchUser {
  id: string;
  token: string;
}

export interface BenchConcert {
  id: string;
  schedules: { id: string }[];
}

export interface Fixtures {
  users: BenchUser[];
  /** One schedule of 100 seats, for the seat map. */
  seatMapConcert: BenchConcert;
  /** 100 schedules of 1,000 seats, for holds spread over many rows. */
  spreadConcert: BenchConcert;
  /** One schedule of 10 seats, for holds that fight over them. */
  contendedConcert: BenchConcert;
  /** Creates a concert with `schedules` schedules of `seatCount` seats. */
  concert(seatCount: number, schedules: number): Promise<BenchConcert>;
  /** Every user takes a place in the concert's line on that instance (admitted at once) and keeps the token. */
  joinAll(instance: string, concertId: string): Promise<void>;
  /** The user's queue token for a concert on an instance (after joinAll). */
  tokenOf(instance: string, concertId: string, user: { id: string }): string;
  auth(user: { token: string }): Record<string, string>;
  /** The headers of a booking request: the user's bearer token and queue token. */
  booking(user: BenchUser, concertId: string, instance?: string): Record<string, string>;
}

async function api(base: string, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

/** Creates the shared data on the service at `base` and joins every user to the three concerts' lines there. */
export async function createFixtures(base: string, userCount: number): Promise<Fixtures> {
  console.log(`setup: ${userCount} users, 100,000 seats for spread holds`);
  const users: BenchUser[] = await inBatches(
    Array.from({ length: userCount }, (_, i) => i),
    50,
    (i) => api(base, 'POST', '/users', { name: `bench-${i}` }),
  );
  await inBatches(users, 50, (u) => api(base, 'POST', '/users/me/balance/charges', { amount: 10_000_000 }, u.token));
  const concert = (seatCount: number, schedules: number): Promise<BenchConcert> =>
    createConcert(base, ADMIN_TOKEN, { title: 'Bench', artist: 'Bench', venue: 'Loopback', schedules, seatCount, price: PRICE });
  const seatMapConcert = await concert(100, 1);
  const spreadConcert = await concert(1_000, 100);
  const contendedConcert = await concert(10, 1);

  const queueTokens = new Map<string, string>();
  const joinAll = async (instance: string, concertId: string) => {
    await inBatches(users, 50, async (u) => {
      const place = await api(instance, 'POST', `/concerts/${concertId}/queue`, undefined, u.token);
      queueTokens.set(`${instance} ${concertId} ${u.id}`, place.token);
    });
  };
  for (const c of [seatMapConcert, spreadConcert, contendedConcert]) await joinAll(base, c.id);
  const tokenOf = (instance: string, concertId: string, u: { id: string }) => queueTokens.get(`${instance} ${concertId} ${u.id}`)!;
  const auth = (u: { token: string }) => ({ authorization: `Bearer ${u.token}`, 'content-type': 'application/json' });
  const booking = (u: BenchUser, concertId: string, instance = base) => ({
    ...auth(u),
    'queue-token': tokenOf(instance, concertId, u),
  });
  return { users, seatMapConcert, spreadConcert, contendedConcert, concert, joinAll, tokenOf, auth, booking };
}
