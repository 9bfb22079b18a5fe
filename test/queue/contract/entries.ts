import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { QueueStore } from '../../../src/modules/queue/queue.store.js';
import { active, CLOSED, contractHelpers, expired, limits, storeOf, T0, TTL, waiting } from './support.js';

/** Reading and keeping entries: touch and status, forgetting ended entries, the concerts with a line, and the counts. */
export function describeEntriesContract(current: () => QueueStore) {
  const store = storeOf(current);
  const { joinMany, statusOf } = contractHelpers(store);

  describe('touch', () => {
    it('slides activeUntil of the current ACTIVE entry only', async () => {
      const c = randomUUID();
      const [u0] = await joinMany(c, 1, T0, limits({ maxActive: 1 }));
      expect(await store.touch(c, u0!.userId, u0!.entryId, T0 + 10_000, TTL)).toEqual(active(u0!.entryId, T0 + 10_000 + TTL));
      expect(await statusOf(c, u0!, T0 + TTL + 1)).toEqual(active(u0!.entryId, T0 + 10_000 + TTL));

      // A wrong entry id reads EXPIRED and slides nothing.
      const stranger = randomUUID();
      expect(await store.touch(c, u0!.userId, stranger, T0 + 20_000, TTL)).toEqual(expired(stranger));
      expect(await statusOf(c, u0!, T0 + 20_000)).toEqual(active(u0!.entryId, T0 + 10_000 + TTL));

      // Touching keeps the entry alive well past the first activeUntil.
      for (let at = T0 + 20_000; at <= T0 + 200_000; at += TTL - 1) {
        expect((await store.touch(c, u0!.userId, u0!.entryId, at, TTL))?.state).toBe('ACTIVE');
      }
    });

    it('reads WAITING with the position for a waiting user and changes nothing', async () => {
      const c = randomUUID();
      const [, u1, u2] = await joinMany(c, 3, T0, limits({ maxActive: 1 }));
      expect(await store.touch(c, u1!.userId, u1!.entryId, T0 + 1, TTL)).toEqual(waiting(u1!.entryId, 1));
      expect(await store.touch(c, u2!.userId, u2!.entryId, T0 + 1, TTL)).toEqual(waiting(u2!.entryId, 2));
      expect(await store.stats(c, T0 + 1, 60_000)).toMatchObject({ admittedInWindow: 1, waiting: 2, active: 1 });
    });

    it('reads EXPIRED for an old entry id after leave and rejoin', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 1 });
      const e1 = randomUUID();
      const e2 = randomUUID();
      await store.join(c, 'u0', e1, T0, lim);
      await store.leave(c, 'u0', e1);
      expect(await store.touch(c, 'u0', e1, T0 + 1, TTL)).toEqual(expired(e1));
      expect(await store.status(c, 'u0', e1, T0 + 1)).toEqual(expired(e1));

      expect(await store.join(c, 'u0', e2, T0 + 2, lim)).toMatchObject({ ...active(e2, T0 + 2 + TTL), created: true });
      expect(await store.touch(c, 'u0', e1, T0 + 3, TTL)).toEqual(expired(e1));
      expect(await store.status(c, 'u0', e1, T0 + 3)).toEqual(expired(e1));
      expect(await store.touch(c, 'u0', e2, T0 + 3, TTL)).toEqual(active(e2, T0 + 3 + TTL));
      expect(await store.status(c, 'u0', undefined, T0 + 3)).toEqual(active(e2, T0 + 3 + TTL));
    });

    it('answers null for a user who never joined', async () => {
      const c = randomUUID();
      await joinMany(c, 2, T0, CLOSED);
      expect(await store.touch(c, 'nobody', randomUUID(), T0, TTL)).toBeNull();
      expect(await store.status(c, 'nobody', randomUUID(), T0)).toBeNull();
      expect(await store.status(c, 'nobody', undefined, T0)).toBeNull();
      expect(await store.touch(randomUUID(), 'u0', randomUUID(), T0, TTL)).toBeNull();
    });
  });

  describe('status: the check without sliding', () => {
    it('reads an ACTIVE entry as it stands, never moves activeUntil, and reads EXPIRED once it passes', async () => {
      const c = randomUUID();
      const [u0] = await joinMany(c, 1, T0, limits({ maxActive: 1 }));
      for (let at = T0; at < T0 + TTL; at += TTL / 4) {
        expect(await statusOf(c, u0!, at)).toEqual(active(u0!.entryId, T0 + TTL));
      }
      expect(await statusOf(c, u0!, T0 + TTL)).toEqual(expired(u0!.entryId));
      // Reads do not keep it alive: a touch after activeUntil finds it expired too.
      expect(await store.touch(c, u0!.userId, u0!.entryId, T0 + TTL, TTL)).toEqual(expired(u0!.entryId));
      const stranger = randomUUID();
      expect(await store.status(c, u0!.userId, stranger, T0)).toEqual(expired(stranger));
    });
  });

  describe('purgeEnded', () => {
    it('forgets entries that left or expired, keeps waiting and active ones untouched', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 1 });
      const [u0, u1, u2, u3] = await joinMany(c, 4, T0, lim);
      await store.leave(c, u2!.userId, u2!.entryId);
      expect(await store.admit(c, T0 + TTL, lim)).toBe(1); // u0's turn ends, u1 is admitted
      expect(await statusOf(c, u0!, T0 + TTL)).toEqual(expired(u0!.entryId));

      // (The store is shared by the suite: the count also takes what earlier tests left ended.)
      expect(await store.purgeEnded(T0 + TTL)).toBeGreaterThanOrEqual(2);
      // A forgotten entry is unknown to the store; the service answers EXPIRED for it.
      expect(await statusOf(c, u0!, T0 + TTL)).toBeNull();
      expect(await statusOf(c, u2!, T0 + TTL)).toBeNull();
      expect(await store.touch(c, u2!.userId, u2!.entryId, T0 + TTL, TTL)).toBeNull();
      expect(await statusOf(c, u1!, T0 + TTL)).toEqual(active(u1!.entryId, T0 + 2 * TTL));
      expect(await statusOf(c, u3!, T0 + TTL)).toEqual(waiting(u3!.entryId, 1));
      expect(await store.purgeEnded(T0 + TTL)).toBe(0);

      // Joining again starts a new entry at the back, as after a tombstone.
      const again = await store.join(c, u0!.userId, randomUUID(), T0 + TTL + 1, lim);
      expect(again).toMatchObject({ state: 'WAITING', position: 2, created: true });
      expect(await store.stats(c, T0 + TTL + 1, 1)).toMatchObject({ waiting: 2, active: 1 });
    });

    it('keeps an entry that was joined again after it ended', async () => {
      const c = randomUUID();
      const [u0] = await joinMany(c, 2, T0, CLOSED);
      await store.leave(c, u0!.userId, u0!.entryId);
      const rejoined = await store.join(c, u0!.userId, randomUUID(), T0 + 1, CLOSED);
      await store.purgeEnded(T0 + 2);
      expect(await store.status(c, u0!.userId, rejoined.entryId, T0 + 2)).toEqual(waiting(rejoined.entryId, 2));
    });
  });

  describe('activeConcerts', () => {
    it('lists a concert while anyone waits or is active and drops it when empty', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 1 });
      expect(await store.activeConcerts()).not.toContain(c);

      await store.join(c, 'u0', randomUUID(), T0, lim);
      await store.join(c, 'u1', randomUUID(), T0, lim);
      expect(await store.activeConcerts()).toContain(c);

      await store.leave(c, 'u1');
      expect(await store.activeConcerts()).toContain(c); // u0 is still active

      // u0 expires; the admission step drops them and, with nobody left, the concert.
      expect(await store.admit(c, T0 + TTL, lim)).toBe(0);
      expect(await store.activeConcerts()).not.toContain(c);

      await store.join(c, 'u2', randomUUID(), T0 + TTL, CLOSED);
      expect(await store.activeConcerts()).toContain(c);
      await store.leave(c, 'u2');
      expect(await store.activeConcerts()).not.toContain(c);
    });
  });

  describe('stats', () => {
    it('counts admissions in the window, waiting and active entries', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 4 });
      const joined = await joinMany(c, 6, T0, lim);
      expect(await store.stats(c, T0, 60_000)).toMatchObject({ admittedInWindow: 4, waiting: 2, active: 4 });

      await store.leave(c, joined[0]!.userId);
      expect(await store.admit(c, T0 + 10_000, lim)).toBe(1);
      expect(await store.stats(c, T0 + 10_000, 60_000)).toMatchObject({ admittedInWindow: 5, waiting: 1, active: 4 });
      expect(await store.stats(c, T0 + 10_000, 5_000)).toMatchObject({ admittedInWindow: 1, waiting: 1, active: 4 });

      // At T0 + TTL the three admitted at T0 have expired, whether or not a step dropped them yet.
      expect(await store.stats(c, T0 + TTL, 60_000)).toMatchObject({ admittedInWindow: 5, waiting: 1, active: 1 });
      expect(await store.stats(c, T0 + 65_000, 60_000)).toMatchObject({ admittedInWindow: 1 });
      expect(await store.stats(randomUUID(), T0, 60_000)).toEqual({ admittedInWindow: 0, waiting: 0, active: 0, headOrder: null });
    });
  });
}
