/**
 * The journey in the waiting room: join, wait for the turn, leave. A waiting user polls no sooner
 * than `refreshAfterSeconds` after its previous poll began; with `pollWaitSeconds` each poll asks
 * the server to hold its answer until the turn comes (or that long), so the user learns of its
 * admission within an admission pass, not at its next poll.
 */
import type { State, User } from './journey-user.js';
import { retrying, sleep } from './retrying.js';

export async function join(u: User): Promise<State> {
  const a = await retrying(u.ctx, 'join', 'POST', `/concerts/${u.ctx.concertId}/queue`, { token: u.token });
  if (a.status !== 201 && a.status !== 200) return u.fail('join', a);
  u.queueToken = a.body.token;
  u.joinedAtMs = Date.now();
  u.ctx.sale.joined++;
  if (a.body.status === 'ACTIVE') return admitted(u);
  u.moveTo('waiting');
  if (a.body.soldOut === true) return soldOut(u);
  return pollLater(a.body.refreshAfterSeconds, Date.now());
}

function admitted(u: User): State {
  u.ctx.sale.admitted(Date.now() - u.joinedAtMs);
  u.moveTo('active');
  return 'seats';
}

function soldOut(u: User): State {
  u.ending = 'sold-out';
  return 'leave';
}

/** Waits until `refreshAfterSeconds` after `sinceMs` (when the previous poll began). */
async function pollLater(refreshAfterSeconds: number | null, sinceMs: number): Promise<State> {
  await sleep(Math.max(0, sinceMs + (refreshAfterSeconds ?? 1) * 1000 - Date.now()));
  return 'wait';
}

export async function wait(u: User): Promise<State> {
  const startedMs = Date.now();
  const holdSeconds = u.ctx.pollWaitSeconds ?? 0;
  const held = holdSeconds > 0 ? `?wait=${holdSeconds}` : '';
  const a = await retrying(u.ctx, 'poll', 'GET', `/concerts/${u.ctx.concertId}/queue${held}`, { token: u.token, queueToken: u.queueToken, holdSeconds });
  if (a.status !== 200) return u.fail('poll', a);
  // The answer's token is re-issued with this poll's time: keep it, as a client must, so a line
  // lost meanwhile puts the user back in their place.
  if (typeof a.body.token === 'string') u.queueToken = a.body.token;
  if (a.body.status === 'ACTIVE') return admitted(u);
  if (a.body.status === 'EXPIRED') return u.fail('poll', { ...a, code: 'EXPIRED' });
  if (a.body.soldOut === true) return soldOut(u);
  return pollLater(a.body.refreshAfterSeconds, startedMs);
}

export async function leave(u: User): Promise<State> {
  const a = await retrying(u.ctx, 'leave', 'DELETE', `/concerts/${u.ctx.concertId}/queue`, { token: u.token, queueToken: u.queueToken });
  if (a.status !== 204 && u.ending !== 'failed') u.fail('leave', a);
  return 'done';
}
