/**
 * What each virtual user will do, drawn from a seeded random stream: when it arrives, whether it
 * buys, abandons its hold or cancels after paying, how long it thinks, which seat it wants. The same
 * seed gives the same users, so two runs differ only by what the server did.
 */
import { mulberry32, seedOf } from '../harness/random.js';

export type Intent = 'buy' | 'abandon' | 'cancel';

export interface UserPlan {
  index: number;
  /** Milliseconds after the start at which the user arrives. */
  arriveAtMs: number;
  intent: Intent;
  /** The user's own stream: think times and seat choices come from it in order. */
  random: () => number;
}

export interface PlanSettings {
  seed: number;
  users: number;
  arrivalSeconds: number;
  abandonShare: number;
  cancelShare: number;
}

/** The plan of user `index` (0-based): users arrive evenly over the arrival window, in index order. */
export function planUser(s: PlanSettings, index: number): UserPlan {
  const random = mulberry32(seedOf(s.seed, index));
  const spacing = (s.arrivalSeconds * 1000) / s.users;
  const arriveAtMs = Math.round(index * spacing + random() * spacing);
  const draw = random();
  const intent: Intent = draw < s.abandonShare ? 'abandon' : draw < s.abandonShare + s.cancelShare ? 'cancel' : 'buy';
  return { index, arriveAtMs, intent, random };
}

/** A think time in ms: exponential with the given mean, capped at four times it (no endless pause). */
export function thinkMs(random: () => number, meanSeconds: number): number {
  if (meanSeconds <= 0) return 0;
  const ms = -Math.log(1 - random()) * meanSeconds * 1000;
  return Math.round(Math.min(ms, meanSeconds * 4000));
}

/**
 * Picks a seat among the free ones (ascending numbers, 1 at the front): four users in five want the
 * front rows (strongly skewed to the lowest numbers), the rest take any free seat.
 */
export function pickSeat(random: () => number, free: number[]): number | undefined {
  if (free.length === 0) return undefined;
  const u = random();
  const frontLover = random() < 0.8;
  const index = Math.floor((frontLover ? u ** 3 : u) * free.length);
  return free[Math.min(index, free.length - 1)];
}
