/** The journey's first steps: sign up, top up, and browse the concert's dates with seats left. */
import type { State, User } from './journey-user.js';
import { retrying } from './retrying.js';

export async function signup(u: User): Promise<State> {
  const a = await u.ctx.call('signup', 'POST', '/users', { body: { name: `load-${u.plan.index}` } });
  if (a.status !== 201) return u.fail('signup', a);
  u.token = a.body.token;
  u.userId = a.body.id;
  u.ctx.sale.signedUp(u.userId);
  await u.think();
  return 'topup';
}

export async function topup(u: User): Promise<State> {
  const a = await retrying(u.ctx, 'topup', 'POST', '/users/me/balance/charges', {
    token: u.token,
    idempotencyKey: `charge-${u.userId}`,
    body: { amount: u.ctx.price * 2 },
  });
  if (a.status !== 201) return u.fail('topup', a);
  u.ctx.sale.toppedUp(u.userId);
  await u.think();
  return 'browse';
}

/**
 * Lists the concerts and the concert's dates with seats left, and picks one. None left: the user
 * joins the line anyway, as only the seat maps tell seats held (which may come back) from sold.
 */
export async function browse(u: User): Promise<State> {
  const list = await retrying(u.ctx, 'concerts', 'GET', '/concerts', {});
  if (list.status !== 200) return u.fail('concerts', list);
  const dates = await availableDates(u);
  if (!dates) return 'done';
  if (dates.length > 0) u.scheduleId = u.pick(dates);
  await u.think();
  return 'join';
}

/** The ids of the concert's dates with a seat free (undefined: failed). */
export async function availableDates(u: User): Promise<string[] | undefined> {
  const a = await retrying(u.ctx, 'schedules', 'GET', `/concerts/${u.ctx.concertId}/schedules?available=true`, {});
  if (a.status !== 200) {
    u.fail('schedules', a);
    return undefined;
  }
  return (a.body.items as { id: string }[]).map((s) => s.id);
}
