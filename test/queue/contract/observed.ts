import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { QueueStore } from '../../../src/modules/queue/queue.store.js';
import { CLOSED, contractHelpers, limits, storeOf, T0, TTL } from './support.js';

/**
 * What the store tells the waiting-room metrics: every concert's line with its head's join time
 * (`lines`), and how many entries each admission step admitted (`onAdmitted`, counted by the suite
 * into `admittedSoFar`).
 */
export function describeObservedLinesContract(current: () => QueueStore, admittedSoFar: () => number) {
  const store = storeOf(current);
  const { joinMany } = contractHelpers(store);
  const lineOf = async (concertId: string, now: number) => (await store.lines(now)).find((l) => l.concertId === concertId);

  describe('lines and admissions, as the metrics read them', () => {
    it('reports each line with its waiting and active entries and when its head joined', async () => {
      const c = randomUUID();
      await joinMany(c, 2, T0, limits({ maxActive: 1 }));
      await store.join(c, 'late', randomUUID(), T0 + 5_000, limits({ maxActive: 1 }));
      expect(await lineOf(c, T0 + 9_000)).toEqual({ concertId: c, waiting: 2, active: 1, headJoinedAt: T0 });
      // u0 leaves, u1 (the head) is admitted: `late` heads the line now.
      await store.leave(c, 'u0');
      await store.admit(c, T0 + 9_000, limits({ maxActive: 1 }));
      expect(await lineOf(c, T0 + 9_000)).toEqual({ concertId: c, waiting: 1, active: 1, headJoinedAt: T0 + 5_000 });
    });

    it('reports a line of active entries only with no head, and no line once everyone has left or expired', async () => {
      const c = randomUUID();
      const [a, b] = await joinMany(c, 2, T0, limits({ maxActive: 10 }));
      expect(await lineOf(c, T0 + 1)).toEqual({ concertId: c, waiting: 0, active: 2, headJoinedAt: null });
      await store.leave(c, a!.userId);
      expect(await lineOf(c, T0 + 1)).toEqual({ concertId: c, waiting: 0, active: 1, headJoinedAt: null });
      // Past its active period the last entry counts no more, even before an admission step drops it.
      expect(await lineOf(c, T0 + TTL + 1)).toBeUndefined();
      await store.leave(c, b!.userId);
      expect(await lineOf(c, T0 + 1)).toBeUndefined();
    });

    it('forgets the head join time of a user who left the line', async () => {
      const c = randomUUID();
      await joinMany(c, 2, T0, CLOSED);
      await store.join(c, 'later', randomUUID(), T0 + 3_000, CLOSED);
      await store.leave(c, 'u0');
      await store.leave(c, 'u1');
      expect(await lineOf(c, T0 + 4_000)).toEqual({ concertId: c, waiting: 1, active: 0, headJoinedAt: T0 + 3_000 });
    });

    it('reports every entry an admission step admitted, at a join and at an admit', async () => {
      const c = randomUUID();
      const before = admittedSoFar();
      await joinMany(c, 4, T0, CLOSED);
      expect(admittedSoFar()).toBe(before);
      // A join that finds room for two admits the first two in line (the joiner waits behind them).
      await store.join(c, 'joiner', randomUUID(), T0 + 1, limits({ maxActive: 2 }));
      expect(admittedSoFar() - before).toBe(2);
      expect(await store.admit(c, T0 + 2, limits({ maxActive: 5 }))).toBe(3);
      expect(admittedSoFar() - before).toBe(5);
      expect(await store.admit(c, T0 + 3, limits({ maxActive: 5 }))).toBe(0);
      expect(admittedSoFar() - before).toBe(5);
    });
  });
}
