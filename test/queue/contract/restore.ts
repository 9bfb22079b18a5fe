import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RESTORE_WAITING_WITHIN_MS, type JoinResult, type LostEntry, type QueueStore } from '../../../src/modules/queue/queue.store.js';
import { active, CLOSED, expired, limits, storeOf, T0, TTL, waiting } from './support.js';

/**
 * What a signed token of a join says about the entry (the service builds the same from the token):
 * issued at `issuedAt` (the join at T0, or the last poll that re-issued it).
 */
const lostOf = (joined: JoinResult, activeUntil: number | null = null, issuedAt = T0): LostEntry => ({
  entryId: joined.entryId,
  ...joined.place!,
  issuedAt,
  activeUntil,
  newEpoch: randomUUID(),
});

/**
 * Putting back entries a store lost (Redis restarted empty): in their original order, ACTIVE ones
 * ACTIVE while places allow, each once per loss, and never an entry that ended before.
 */
export function describeRestoreContract(current: () => QueueStore, lose: (concertId: string) => Promise<QueueStore>) {
  const store = storeOf(current);

  describe('restore after the line was lost', () => {
    it('puts waiting entries back in their original order, ahead of everyone who joined after the loss', async () => {
      const c = randomUUID();
      const one = limits({ maxActive: 1 });
      const [u0, u1, u2, u3] = [
        await store.join(c, 'u0', randomUUID(), T0, one),
        await store.join(c, 'u1', randomUUID(), T0, one),
        await store.join(c, 'u2', randomUUID(), T0, one),
        await store.join(c, 'u3', randomUUID(), T0 + 1, one),
      ];
      expect(u0!.state).toBe('ACTIVE');

      const after = await lose(c);
      expect(await after.status(c, 'u2', u2!.entryId, T0 + 10)).toBeNull();
      const n0 = await after.join(c, 'n0', randomUUID(), T0 + 10, CLOSED);
      expect(n0).toMatchObject(waiting(n0.entryId, 1));
      expect(n0.place!.epoch).not.toBe(u2!.place!.epoch);

      expect(await after.restore(c, 'u2', lostOf(u2!), T0 + 20, CLOSED)).toEqual(waiting(u2!.entryId, 1));
      expect(await after.restore(c, 'u1', lostOf(u1!), T0 + 21, CLOSED)).toEqual(waiting(u1!.entryId, 1));
      // Asked again (two requests of the user at once), it answers the entry as it stands.
      expect(await after.restore(c, 'u1', lostOf(u1!), T0 + 22, CLOSED)).toEqual(waiting(u1!.entryId, 1));
      const n1 = await after.join(c, 'n1', randomUUID(), T0 + 30, CLOSED);
      expect(await after.restore(c, 'u3', lostOf(u3!), T0 + 40, CLOSED)).toEqual(waiting(u3!.entryId, 3));
      expect(await after.status(c, 'u2', u2!.entryId, T0 + 40)).toEqual(waiting(u2!.entryId, 2));
      expect(await after.status(c, 'n0', n0.entryId, T0 + 40)).toEqual(waiting(n0.entryId, 4));
      expect(await after.status(c, 'n1', n1.entryId, T0 + 40)).toEqual(waiting(n1.entryId, 5));

      // Admission goes on first in, first out: the put-back entries first.
      await after.admit(c, T0 + 50, limits({ maxActive: 2 }));
      expect((await after.status(c, 'u1', u1!.entryId, T0 + 50))?.state).toBe('ACTIVE');
      expect((await after.status(c, 'u2', u2!.entryId, T0 + 50))?.state).toBe('ACTIVE');
      expect(await after.status(c, 'u3', u3!.entryId, T0 + 50)).toEqual(waiting(u3!.entryId, 1));
      expect(await after.lines(T0 + 50)).toContainEqual({ concertId: c, waiting: 3, active: 2, headJoinedAt: T0 + 1 });
    });

    it('keeps an ACTIVE entry ACTIVE until the activeUntil it knew of, without counting an admission, while places allow', async () => {
      const c = randomUUID();
      const two = limits({ maxActive: 2, perSecond: 1 });
      const u0 = await store.join(c, 'u0', randomUUID(), T0, two);
      const u1 = await store.join(c, 'u1', randomUUID(), T0 + 1_000, two);
      expect([u0.state, u1.state]).toEqual(['ACTIVE', 'ACTIVE']);

      const after = await lose(c);
      const until = T0 + TTL;
      expect(await after.restore(c, 'u0', lostOf(u0, until), T0 + 2_000, two)).toEqual(active(u0.entryId, until));
      // Not an admission: the per-second budget is left for the line.
      expect((await after.stats(c, T0 + 2_000, 60_000)).admittedInWindow).toBe(0);
      const n0 = await after.join(c, 'n0', randomUUID(), T0 + 2_000, two);
      expect(n0.state).toBe('ACTIVE');
      // Both places are taken now: the other active entry waits at the head of the line.
      expect(await after.restore(c, 'u1', lostOf(u1, until), T0 + 2_001, two)).toEqual(waiting(u1.entryId, 1));
    });

    it('puts back only entries whose token is recent: never one whose active period has passed, nor a waiting token older than the window', async () => {
      const c = randomUUID();
      const [v0, v1, w0, w1, w2] = [
        await store.join(c, 'v0', randomUUID(), T0, limits({ maxActive: 2 })),
        await store.join(c, 'v1', randomUUID(), T0, limits({ maxActive: 2 })),
        await store.join(c, 'w0', randomUUID(), T0, CLOSED),
        await store.join(c, 'w1', randomUUID(), T0, CLOSED),
        await store.join(c, 'w2', randomUUID(), T0, CLOSED),
      ];
      expect([v0.state, v1.state, w0.state]).toEqual(['ACTIVE', 'ACTIVE', 'WAITING']);
      const after = await lose(c);
      const now = T0 + 3_600_000; // an hour after the joins
      // Its active period ended long ago (the user left, or expired): not back at the head of the line.
      expect(await after.restore(c, 'v0', lostOf(v0, now - 1), now, CLOSED)).toBeNull();
      expect(await after.restore(c, 'v0', lostOf(v0, now), now, CLOSED)).toBeNull();
      // A waiting token last issued an hour ago: the entry ended long ago, or its holder stopped polling.
      expect(await after.restore(c, 'w0', lostOf(w0), now, CLOSED)).toBeNull();
      expect(await after.restore(c, 'w1', lostOf(w1, null, now - RESTORE_WAITING_WITHIN_MS - 1), now, CLOSED)).toBeNull();
      // Re-issued by a poll within the window: back at its original order, ahead of a later join.
      const n0 = await after.join(c, 'n0', randomUUID(), now, CLOSED);
      expect(await after.restore(c, 'w2', lostOf(w2, null, now - RESTORE_WAITING_WITHIN_MS), now, CLOSED)).toEqual(waiting(w2.entryId, 1));
      // Still active: back ACTIVE until then.
      expect(await after.restore(c, 'v1', lostOf(v1, now + 1_000, now - 5_000), now, limits({ maxActive: 1 }))).toEqual(active(v1.entryId, now + 1_000));
      expect(await after.status(c, 'n0', n0.entryId, now)).toEqual(waiting(n0.entryId, 2));
      expect(await after.stats(c, now, 60_000)).toMatchObject({ admittedInWindow: 0, waiting: 2, active: 1 });
      // Refused as too old, not remembered as put back: a recent token of the same entry still restores.
      expect(await after.restore(c, 'w0', lostOf(w0, null, now - 1_000), now, CLOSED)).toEqual(waiting(w0.entryId, 1));
    });

    it('never puts back an entry that ended or was forgotten in the same line, nor one put back before', async () => {
      const c = randomUUID();
      const u0 = await store.join(c, 'u0', randomUUID(), T0, CLOSED);
      const u1 = await store.join(c, 'u1', randomUUID(), T0, CLOSED);
      await store.leave(c, 'u0', u0.entryId);
      expect(await store.restore(c, 'u0', lostOf(u0), T0 + 1, CLOSED)).toEqual(expired(u0.entryId));
      await store.purgeEnded(T0 + 2);
      expect(await store.status(c, 'u0', u0.entryId, T0 + 2)).toBeNull();
      expect(await store.restore(c, 'u0', lostOf(u0), T0 + 2, CLOSED)).toBeNull();
      expect(await store.status(c, 'u0', undefined, T0 + 2)).toBeNull();

      // Lost: put back once. Ended and forgotten afterwards: not again, until the line is lost again.
      let after = await lose(c);
      await after.join(c, 'n0', randomUUID(), T0 + 3, CLOSED); // someone stays in line: the purge visits it
      expect(await after.restore(c, 'u1', lostOf(u1), T0 + 3, CLOSED)).toEqual(waiting(u1.entryId, 1));
      await after.leave(c, 'u1', u1.entryId);
      await after.purgeEnded(T0 + 4);
      expect(await after.restore(c, 'u1', lostOf(u1), T0 + 5, CLOSED)).toBeNull();
      after = await lose(c);
      expect(await after.restore(c, 'u1', lostOf(u1), T0 + 6, CLOSED)).toEqual(waiting(u1.entryId, 1));
    });
  });
}
