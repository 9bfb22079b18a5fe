import { bearer, type TestApp, type TestUser } from './harness.js';

// Waiting-room and booking requests with the Queue-Token in the test's hands (the harness's hold and pay take it themselves).

export const join = (t: TestApp, user: TestUser, concertId: string) =>
  t.app.inject({ method: 'POST', url: `/concerts/${concertId}/queue`, headers: bearer(user.token) });
export const status = (t: TestApp, user: TestUser, concertId: string, token: string) =>
  t.app.inject({ url: `/concerts/${concertId}/queue`, headers: { ...bearer(user.token), 'queue-token': token } });
/** The seat map with a Queue-Token, and the bearer of `as` when given. */
export const seats = (t: TestApp, scheduleId: string, token?: string, as?: TestUser) =>
  t.app.inject({
    url: `/schedules/${scheduleId}/seats`,
    headers: { ...(token ? { 'queue-token': token } : {}), ...(as ? bearer(as.token) : {}) },
  });
export const holdWith = (t: TestApp, user: TestUser, token: string | undefined, scheduleId: string, seatNumber: number, key?: string) =>
  t.app.inject({
    method: 'POST',
    url: '/reservations',
    headers: { ...bearer(user.token), ...(token ? { 'queue-token': token } : {}), ...(key ? { 'idempotency-key': key } : {}) },
    payload: { scheduleId, seatNumber },
  });
export const payWith = (t: TestApp, user: TestUser, token: string, reservationId: string, key?: string) =>
  t.app.inject({
    method: 'POST',
    url: '/payments',
    headers: { ...bearer(user.token), 'queue-token': token, ...(key ? { 'idempotency-key': key } : {}) },
    payload: { reservationId },
  });
