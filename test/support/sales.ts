import { expect } from 'vitest';
import { bearer, charge, createUser, hold, pay, type TestApp, type TestUser } from './harness.js';

export interface Sold {
  id: string;
  user: TestUser;
}

/** Sells one seat (hold, then pay) to a new user. */
export async function sellSeat(t: TestApp, scheduleId: string, seat: number): Promise<Sold> {
  const user = await createUser(t.app);
  await charge(t.app, user, 10_000_000);
  const held = await hold(t, user, scheduleId, seat);
  expect(held.statusCode).toBe(201);
  expect((await pay(t, user, held.json().id)).statusCode).toBe(201);
  return { id: held.json().id, user };
}

/** Holds one seat for a new user and cancels the hold. */
export async function holdAndCancel(t: TestApp, scheduleId: string, seat: number): Promise<string> {
  const user = await createUser(t.app);
  const held = await hold(t, user, scheduleId, seat);
  expect(held.statusCode).toBe(201);
  await cancel(t, { id: held.json().id, user });
  return held.json().id;
}

export async function cancel(t: TestApp, r: Sold) {
  const res = await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(r.user.token) });
  expect(res.statusCode).toBe(200);
  expect(res.json().status).toBe('CANCELLED');
}
