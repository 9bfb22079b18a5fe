import { randomUUID } from 'node:crypto';
import type { QueueEntry, QueueLimits, QueueStore } from '../../../src/modules/queue/queue.store.js';
import { lateBound } from '../../support/late-bound.js';

/** A fixed start; every test moves time explicitly from here, nothing sleeps. */
export const T0 = Date.parse('2030-05-01T12:00:00.000Z');
export const TTL = 30_000;

export const limits = (overrides: Partial<QueueLimits> = {}): QueueLimits => ({
  maxActive: 2,
  perSecond: 100,
  activeTtlMs: TTL,
  ...overrides,
});
/** Nobody is admitted: the line only grows. */
export const CLOSED = limits({ maxActive: 0 });

export const waiting = (entryId: string, position: number): QueueEntry => ({ entryId, state: 'WAITING', position, activeUntil: null });
export const active = (entryId: string, activeUntil: number): QueueEntry => ({ entryId, state: 'ACTIVE', position: null, activeUntil });
export const expired = (entryId: string): QueueEntry => ({ entryId, state: 'EXPIRED', position: null, activeUntil: null });

/** The suite's store, read at each call: the suite makes it in its beforeAll, after the tests are declared. */
export const storeOf = (current: () => QueueStore): QueueStore => lateBound(current);

export interface Joined {
  userId: string;
  entryId: string;
}

export function contractHelpers(store: QueueStore) {
  /** Joins users u0..u(n-1) one after another at `now`; returns their ids. */
  async function joinMany(concertId: string, n: number, now: number, lim: QueueLimits): Promise<Joined[]> {
    const joined: Joined[] = [];
    for (let i = 0; i < n; i++) {
      const userId = `u${i}`;
      const res = await store.join(concertId, userId, randomUUID(), now, lim);
      joined.push({ userId, entryId: res.entryId });
    }
    return joined;
  }

  const statusOf = (concertId: string, u: Joined, now: number) => store.status(concertId, u.userId, u.entryId, now);

  return { joinMany, statusOf };
}
