/**
 * The journey after a hold: pay it with one Idempotency-Key on every attempt, or (an abandoner)
 * walk away and find it expired, or (a canceller) pay and then cancel for a refund.
 */
import type { Answer } from './client.js';
import type { State, User } from './journey-user.js';
import { retrying, sleep } from './retrying.js';

/** Pays the hold with the same Idempotency-Key on every attempt. */
function payOnce(u: User, expect: string[]): Promise<Answer> {
  return retrying(u.ctx, 'pay', 'POST', '/payments', {
    token: u.token,
    queueToken: u.queueToken,
    idempotencyKey: `pay-${u.reservationId}`,
    body: { reservationId: u.reservationId },
    expect,
  });
}

export async function pay(u: User): Promise<State> {
  const a = await payOnce(u, []);
  if (a.status !== 201) return u.fail('pay', a);
  u.ctx.sale.paid(a.body.id, u.reservationId);
  if (u.plan.intent === 'cancel') {
    await u.think();
    return 'cancel';
  }
  u.ending = 'bought';
  return 'leave';
}

/** Walks away from the hold, comes back after it lapsed and tries to pay: HOLD_EXPIRED is the answer. */
export async function abandon(u: User): Promise<State> {
  await sleep(Math.max(0, u.heldUntilMs - Date.now()) + 1_000);
  const a = await payOnce(u, ['HOLD_EXPIRED']);
  if (a.status === 201) {
    u.ctx.sale.expiredHoldsPaid++;
    u.ctx.sale.paid(a.body.id, u.reservationId);
  } else if (a.code !== 'HOLD_EXPIRED') {
    return u.fail('pay', a);
  }
  u.ending = 'abandoned';
  return 'leave';
}

/** Cancels the paid seat; a repeat refused after a lost answer is done if the reservation reads CANCELLED. */
export async function cancel(u: User): Promise<State> {
  const a = await retrying(u.ctx, 'cancel', 'DELETE', `/reservations/${u.reservationId}`, { token: u.token }, ['RESERVATION_NOT_CANCELLABLE']);
  if (a.status !== 200 && !(a.outcome === 'expected' && (await readsCancelled(u)))) return u.fail('cancel', a);
  u.ctx.sale.refunded(u.reservationId);
  u.ending = 'bought-cancelled';
  return 'leave';
}

async function readsCancelled(u: User): Promise<boolean> {
  const a = await retrying(u.ctx, 'reservation', 'GET', `/reservations/${u.reservationId}`, { token: u.token });
  return a.status === 200 && a.body.status === 'CANCELLED';
}
