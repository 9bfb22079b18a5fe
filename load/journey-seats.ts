/**
 * The journey at the seat map: read the chosen date's map, hold a free seat (another after a lost
 * race), and with no seat free look at the other dates; while seats are only held (a hold may lapse
 * or be cancelled) look again a little later: sold out is every seat SOLD.
 */
import { availableDates } from './journey-account.js';
import type { State, User } from './journey-user.js';
import { pickSeat, thinkMs } from './plan.js';
import { retrying, sleep } from './retrying.js';

/** Reads the chosen date's seat map; with no seat free there, looks further. */
export async function seats(u: User): Promise<State> {
  if (!u.scheduleId) return 'look';
  const map = await readMap(u, u.scheduleId);
  if (!map) return u.queueToken ? 'leave' : 'done';
  if (u.free.length === 0) return 'look';
  await u.think();
  return 'hold';
}

/** The seat map's statuses; sets `free` to the AVAILABLE seats (undefined: failed). */
async function readMap(u: User, scheduleId: string): Promise<string[] | undefined> {
  const a = await retrying(u.ctx, 'seats', 'GET', `/schedules/${scheduleId}/seats`, { token: u.token, queueToken: u.queueToken });
  if (a.status !== 200) {
    u.fail('seats', a);
    return undefined;
  }
  const all = a.body.seats as { number: number; status: string }[];
  u.free = all.filter((s) => s.status === 'AVAILABLE').map((s) => s.number);
  return all.map((s) => s.status);
}

/**
 * Another date with a seat free? Else every date's map: a free seat is taken, held ones are
 * waited for (looked at again after a while, until the deadline), and only all SOLD is sold out.
 */
export async function look(u: User): Promise<State> {
  const dates = await availableDates(u);
  if (!dates) return 'leave';
  if (dates.length > 0) {
    u.scheduleId = u.pick(dates);
    return 'seats';
  }
  if (u.allSchedules.length === 0) {
    const a = await retrying(u.ctx, 'schedules', 'GET', `/concerts/${u.ctx.concertId}/schedules`, {});
    if (a.status !== 200) return u.fail('schedules', a);
    u.allSchedules = (a.body.items as { id: string }[]).map((s) => s.id);
  }
  let held = false;
  for (const id of u.allSchedules) {
    const statuses = await readMap(u, id);
    if (!statuses) return 'leave';
    if (u.free.length > 0) {
      u.scheduleId = id;
      return 'hold';
    }
    held ||= statuses.includes('HELD');
  }
  if (!held) {
    u.ending = 'sold-out';
    return 'leave';
  }
  await sleep(u.ctx.lookAgainMs + thinkMs(u.plan.random, u.ctx.thinkSeconds));
  return 'look';
}

export async function hold(u: User): Promise<State> {
  const seatNumber = pickSeat(u.plan.random, u.free)!;
  const a = await retrying(u.ctx, 'hold', 'POST', '/reservations', {
    token: u.token,
    idempotencyKey: `hold-${++u.holdSeq}-${u.userId}`,
    queueToken: u.queueToken,
    body: { scheduleId: u.scheduleId, seatNumber },
    expect: ['SEAT_UNAVAILABLE'],
  });
  if (a.code === 'SEAT_UNAVAILABLE') {
    if (++u.holdTries >= u.ctx.holdAttempts) {
      u.ending = 'gave-up';
      return 'leave';
    }
    return 'look';
  }
  if (a.status !== 201) return u.fail('hold', a);
  u.reservationId = a.body.id;
  u.heldUntilMs = Date.parse(a.body.heldUntil);
  if (u.plan.intent === 'abandon') {
    u.ctx.sale.abandonedHolds.push(u.reservationId);
    u.ctx.sale.lastAbandonedUntilMs = Math.max(u.ctx.sale.lastAbandonedUntilMs, u.heldUntilMs);
    return 'abandon';
  }
  await u.think();
  return 'pay';
}
