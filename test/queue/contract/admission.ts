import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { QueueStore } from '../../../src/modules/queue/queue.store.js';
import { active, CLOSED, contractHelpers, expired, limits, storeOf, T0, TTL, waiting } from './support.js';

/** Who is admitted when: the active limit, the sliding one-second window, places freed by a leave or an expiry. */
export function describeAdmissionContract(current: () => QueueStore) {
  const store = storeOf(current);
  const { joinMany, statusOf } = contractHelpers(store);

  describe('admission limits', () => {
    it('never has more than maxActive entries active', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 3, perSecond: 100 });
      await joinMany(c, 10, T0, lim);
      expect(await store.stats(c, T0, 60_000)).toMatchObject({ admittedInWindow: 3, waiting: 7, active: 3 });
      for (const dt of [1, 1_000, 5_000, 20_000]) expect(await store.admit(c, T0 + dt, lim)).toBe(0);
      expect(await store.stats(c, T0 + 20_000, 60_000)).toMatchObject({ admittedInWindow: 3, waiting: 7, active: 3 });
    });

    it('applies the per-second limit to the admission step of join too', async () => {
      const c = randomUUID();
      await joinMany(c, 10, T0, limits({ maxActive: 100, perSecond: 3 }));
      expect(await store.stats(c, T0, 60_000)).toMatchObject({ admittedInWindow: 3, waiting: 7, active: 3 });
    });

    it('never admits more than perSecond in any sliding one-second window', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 1_000, perSecond: 5, activeTtlMs: 600_000 });
      await joinMany(c, 60, T0, CLOSED);
      const log: { at: number; n: number }[] = [];
      for (let at = T0; at < T0 + 4_000; at += 37) {
        const n = await store.admit(c, at, lim);
        if (n > 0) log.push({ at, n });
      }
      for (const { at } of log) {
        const inWindow = log.filter((a) => a.at >= at && a.at < at + 1_000).reduce((sum, a) => sum + a.n, 0);
        expect(inWindow).toBeLessThanOrEqual(5);
      }
      // Not throttled more than the rule says: a full batch as soon as each window has passed.
      expect(log).toEqual([
        { at: T0, n: 5 },
        { at: T0 + 37 * 28, n: 5 },
        { at: T0 + 37 * 56, n: 5 },
        { at: T0 + 37 * 84, n: 5 },
      ]);
    });

    it('slides the window instead of resetting it on second boundaries', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 1_000, perSecond: 5 });
      await joinMany(c, 20, T0, CLOSED);
      expect(await store.admit(c, T0 + 900, lim)).toBe(5);
      expect(await store.admit(c, T0 + 1_000, lim)).toBe(0);
      expect(await store.admit(c, T0 + 1_899, lim)).toBe(0);
      expect(await store.admit(c, T0 + 1_900, lim)).toBe(5);
    });

    it('respects both limits when many admission steps run at once', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 10, perSecond: 7 });
      await joinMany(c, 100, T0, CLOSED);
      const burst = (now: number) => Promise.all(Array.from({ length: 20 }, () => store.admit(c, now, lim)));

      const first = await burst(T0 + 1_000);
      expect(first.reduce((a, b) => a + b, 0)).toBe(7);
      expect(await store.stats(c, T0 + 1_000, 60_000)).toMatchObject({ admittedInWindow: 7, waiting: 93, active: 7 });

      const second = await burst(T0 + 2_000);
      expect(second.reduce((a, b) => a + b, 0)).toBe(3);
      expect(await store.stats(c, T0 + 2_000, 60_000)).toMatchObject({ admittedInWindow: 10, waiting: 90, active: 10 });

      expect((await burst(T0 + 3_000)).reduce((a, b) => a + b, 0)).toBe(0);
    });
  });

  describe('freed places', () => {
    it('refills a place freed by leave() on the next admission step', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 2 });
      const [u0, , u2, u3] = await joinMany(c, 4, T0, lim);
      await store.leave(c, u0!.userId, u0!.entryId);
      expect(await statusOf(c, u0!, T0 + 1)).toEqual(expired(u0!.entryId));
      expect(await store.stats(c, T0 + 1, 60_000)).toMatchObject({ waiting: 2, active: 1 });

      expect(await store.admit(c, T0 + 1, lim)).toBe(1);
      expect(await statusOf(c, u2!, T0 + 1)).toEqual(active(u2!.entryId, T0 + 1 + TTL));
      expect(await statusOf(c, u3!, T0 + 1)).toEqual(waiting(u3!.entryId, 1));
    });

    it('expires an active entry at activeUntil and refills its place', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 1 });
      const [u0, u1] = await joinMany(c, 2, T0, lim);
      expect(await statusOf(c, u0!, T0 + TTL - 1)).toEqual(active(u0!.entryId, T0 + TTL));
      expect(await statusOf(c, u0!, T0 + TTL)).toEqual(expired(u0!.entryId));
      expect(await store.touch(c, u0!.userId, u0!.entryId, T0 + TTL, TTL)).toEqual(expired(u0!.entryId));
      expect(await store.stats(c, T0 + TTL, 60_000)).toMatchObject({ waiting: 1, active: 0 });

      expect(await store.admit(c, T0 + TTL, lim)).toBe(1);
      expect(await statusOf(c, u1!, T0 + TTL)).toEqual(active(u1!.entryId, T0 + 2 * TTL));
      expect(await store.touch(c, u0!.userId, u0!.entryId, T0 + TTL + 1, TTL)).toEqual(expired(u0!.entryId));
    });
  });
}
