import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEntry, QueueLimits, QueueStore } from '../../src/modules/queue/queue.store.js';

export interface QueueStoreFixture {
  store: QueueStore;
  cleanup(): Promise<void>;
}

/** A fixed start; every test moves time explicitly from here, nothing sleeps. */
const T0 = Date.parse('2030-05-01T12:00:00.000Z');
const TTL = 30_000;

const limits = (overrides: Partial<QueueLimits> = {}): QueueLimits => ({
  maxActive: 2,
  perSecond: 100,
  activeTtlMs: TTL,
  ...overrides,
});
/** Nobody is admitted: the line only grows. */
const CLOSED = limits({ maxActive: 0 });

const waiting = (entryId: string, position: number): QueueEntry => ({ entryId, state: 'WAITING', position, activeUntil: null });
const active = (entryId: string, activeUntil: number): QueueEntry => ({ entryId, state: 'ACTIVE', position: null, activeUntil });
const expired = (entryId: string): QueueEntry => ({ entryId, state: 'EXPIRED', position: null, activeUntil: null });

/**
 * The behaviour every QueueStore adapter must share. Each test uses its own random concert id, so
 * one store serves the whole suite and tests never see each other's entries.
 */
export function describeQueueStoreContract(name: string, makeStore: () => Promise<QueueStoreFixture>) {
  describe(name, () => {
    let fixture: QueueStoreFixture | undefined;
    let store: QueueStore;

    beforeAll(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    interface Joined {
      userId: string;
      entryId: string;
    }

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

    describe('join', () => {
      it('creates an entry on the first join and returns the same one, same position, on a rejoin', async () => {
        const c = randomUUID();
        const lim = limits({ maxActive: 1 });
        const e0 = randomUUID();
        const e1 = randomUUID();
        const e2 = randomUUID();
        expect(await store.join(c, 'u0', e0, T0, lim)).toEqual({ ...active(e0, T0 + TTL), created: true });
        expect(await store.join(c, 'u1', e1, T0, lim)).toEqual({ ...waiting(e1, 1), created: true });
        expect(await store.join(c, 'u2', e2, T0, lim)).toEqual({ ...waiting(e2, 2), created: true });

        expect(await store.join(c, 'u2', randomUUID(), T0 + 5, lim)).toEqual({ ...waiting(e2, 2), created: false });
        expect(await store.join(c, 'u1', randomUUID(), T0 + 5, lim)).toEqual({ ...waiting(e1, 1), created: false });
        // A rejoin does not slide an active entry either.
        expect(await store.join(c, 'u0', randomUUID(), T0 + 5, lim)).toEqual({ ...active(e0, T0 + TTL), created: false });
        expect(await store.stats(c, T0 + 5, 60_000)).toEqual({ admittedInWindow: 1, waiting: 2, active: 1 });
      });

      it('numbers waiting positions exactly 1..N in join order', async () => {
        const c = randomUUID();
        const joined = await joinMany(c, 12, T0, CLOSED);
        for (const [i, u] of joined.entries()) {
          expect(await statusOf(c, u, T0)).toEqual(waiting(u.entryId, i + 1));
          expect(await store.status(c, u.userId, undefined, T0)).toEqual(waiting(u.entryId, i + 1));
        }
      });

      it('admits first in, first out', async () => {
        const c = randomUUID();
        const joined = await joinMany(c, 6, T0, CLOSED);
        expect(await store.admit(c, T0 + 1, limits({ maxActive: 2 }))).toBe(2);
        expect(await statusOf(c, joined[0]!, T0 + 1)).toEqual(active(joined[0]!.entryId, T0 + 1 + TTL));
        expect(await statusOf(c, joined[1]!, T0 + 1)).toEqual(active(joined[1]!.entryId, T0 + 1 + TTL));
        for (let i = 2; i < 6; i++) expect((await statusOf(c, joined[i]!, T0 + 1))?.position).toBe(i - 1);

        await store.leave(c, joined[0]!.userId);
        expect(await store.admit(c, T0 + 2, limits({ maxActive: 2 }))).toBe(1);
        expect((await statusOf(c, joined[2]!, T0 + 2))?.state).toBe('ACTIVE');
        expect((await statusOf(c, joined[3]!, T0 + 2))?.position).toBe(1);
      });

      it('puts a user who left at the back with a new entry', async () => {
        const c = randomUUID();
        const [u0] = await joinMany(c, 4, T0, CLOSED);
        await store.leave(c, u0!.userId, u0!.entryId);
        const e = randomUUID();
        expect(await store.join(c, u0!.userId, e, T0 + 1, CLOSED)).toEqual({ ...waiting(e, 4), created: true });
        expect(await store.stats(c, T0 + 1, 60_000)).toMatchObject({ waiting: 4, active: 0 });
      });

      it('puts a user whose active entry expired at the back with a new entry', async () => {
        const c = randomUUID();
        const lim = limits({ maxActive: 1 });
        const [u0, u1, u2] = await joinMany(c, 3, T0, lim);
        expect((await statusOf(c, u0!, T0))?.state).toBe('ACTIVE');

        // At T0 + TTL u0 has expired: their rejoin frees the place, which goes to u1, the head.
        const e = randomUUID();
        expect(await store.join(c, u0!.userId, e, T0 + TTL, lim)).toEqual({ ...waiting(e, 2), created: true });
        expect(await statusOf(c, u1!, T0 + TTL)).toEqual(active(u1!.entryId, T0 + 2 * TTL));
        expect(await statusOf(c, u2!, T0 + TTL)).toEqual(waiting(u2!.entryId, 1));
        expect(await statusOf(c, u0!, T0 + TTL)).toEqual(expired(u0!.entryId));
      });
    });

    describe('admission limits', () => {
      it('never has more than maxActive entries active', async () => {
        const c = randomUUID();
        const lim = limits({ maxActive: 3, perSecond: 100 });
        await joinMany(c, 10, T0, lim);
        expect(await store.stats(c, T0, 60_000)).toEqual({ admittedInWindow: 3, waiting: 7, active: 3 });
        for (const dt of [1, 1_000, 5_000, 20_000]) expect(await store.admit(c, T0 + dt, lim)).toBe(0);
        expect(await store.stats(c, T0 + 20_000, 60_000)).toEqual({ admittedInWindow: 3, waiting: 7, active: 3 });
      });

      it('applies the per-second limit to the admission step of join too', async () => {
        const c = randomUUID();
        await joinMany(c, 10, T0, limits({ maxActive: 100, perSecond: 3 }));
        expect(await store.stats(c, T0, 60_000)).toEqual({ admittedInWindow: 3, waiting: 7, active: 3 });
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
        expect(await store.stats(c, T0 + 1_000, 60_000)).toEqual({ admittedInWindow: 7, waiting: 93, active: 7 });

        const second = await burst(T0 + 2_000);
        expect(second.reduce((a, b) => a + b, 0)).toBe(3);
        expect(await store.stats(c, T0 + 2_000, 60_000)).toEqual({ admittedInWindow: 10, waiting: 90, active: 10 });

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
        expect(await store.stats(c, T0 + 1, 60_000)).toEqual({ admittedInWindow: 1, waiting: 2, active: 1 });
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

        expect(await store.join(c, 'u0', e2, T0 + 2, lim)).toEqual({ ...active(e2, T0 + 2 + TTL), created: true });
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

    describe('leave', () => {
      it('moves everyone behind a leaving user up by one', async () => {
        const c = randomUUID();
        const joined = await joinMany(c, 5, T0, CLOSED);
        await store.leave(c, joined[2]!.userId, joined[2]!.entryId);
        const positions = await Promise.all(joined.map(async (u) => (await statusOf(c, u, T0))?.position));
        expect(positions).toEqual([1, 2, null, 3, 4]);
        expect(await store.stats(c, T0, 60_000)).toMatchObject({ waiting: 4 });
      });

      it('is a no-op for an unknown user, a second leave, or an old entry id', async () => {
        const c = randomUUID();
        const joined = await joinMany(c, 3, T0, CLOSED);
        await store.leave(c, 'nobody');
        await store.leave(c, joined[0]!.userId, randomUUID());
        await store.leave(randomUUID(), joined[0]!.userId);
        expect(await statusOf(c, joined[0]!, T0)).toEqual(waiting(joined[0]!.entryId, 1));

        await store.leave(c, joined[0]!.userId);
        await store.leave(c, joined[0]!.userId);
        expect(await statusOf(c, joined[1]!, T0)).toEqual(waiting(joined[1]!.entryId, 1));
        expect(await store.stats(c, T0, 60_000)).toMatchObject({ waiting: 2 });

        // An old token cannot remove the user's newer entry.
        const newer = await store.join(c, joined[0]!.userId, randomUUID(), T0 + 1, CLOSED);
        await store.leave(c, joined[0]!.userId, joined[0]!.entryId);
        expect(await store.status(c, joined[0]!.userId, newer.entryId, T0 + 1)).toEqual(waiting(newer.entryId, 3));
      });
    });

    describe('line order', () => {
      it('keeps positions exact through a long mix of joins, leaves and admissions', async () => {
        const c = randomUUID();
        let seed = 42;
        const rand = (n: number) => {
          seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
          return seed % n;
        };
        const line: Joined[] = []; // the reference model: waiting users in order
        let joins = 0;
        let admitted = 0;
        let now = T0;
        for (let step = 0; step < 400; step++) {
          const r = rand(10);
          if (r < 6 || line.length === 0) {
            const userId = `u${joins++}`;
            const res = await store.join(c, userId, randomUUID(), now, CLOSED);
            expect(res.position).toBe(line.length + 1);
            line.push({ userId, entryId: res.entryId });
          } else if (r < 9) {
            const [gone] = line.splice(rand(line.length), 1);
            await store.leave(c, gone!.userId, gone!.entryId);
          } else {
            const k = rand(3) + 1;
            now += 1_000;
            const lim = limits({ maxActive: admitted + k, perSecond: k, activeTtlMs: 1e9 });
            const n = await store.admit(c, now, lim);
            expect(n).toBe(Math.min(k, line.length));
            for (const u of line.splice(0, n)) expect((await statusOf(c, u, now))?.state).toBe('ACTIVE');
            admitted += n;
          }
          if (step % 50 === 49) {
            const positions = await Promise.all(line.map(async (u) => (await statusOf(c, u, now))?.position));
            expect(positions).toEqual(line.map((_, i) => i + 1));
          }
        }
        expect(await store.stats(c, now, 60_000)).toMatchObject({ waiting: line.length, active: admitted });
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
        expect(await store.stats(c, T0, 60_000)).toEqual({ admittedInWindow: 4, waiting: 2, active: 4 });

        await store.leave(c, joined[0]!.userId);
        expect(await store.admit(c, T0 + 10_000, lim)).toBe(1);
        expect(await store.stats(c, T0 + 10_000, 60_000)).toEqual({ admittedInWindow: 5, waiting: 1, active: 4 });
        expect(await store.stats(c, T0 + 10_000, 5_000)).toEqual({ admittedInWindow: 1, waiting: 1, active: 4 });

        // At T0 + TTL the three admitted at T0 have expired, whether or not a step dropped them yet.
        expect(await store.stats(c, T0 + TTL, 60_000)).toEqual({ admittedInWindow: 5, waiting: 1, active: 1 });
        expect(await store.stats(c, T0 + 65_000, 60_000)).toMatchObject({ admittedInWindow: 1 });
        expect(await store.stats(randomUUID(), T0, 60_000)).toEqual({ admittedInWindow: 0, waiting: 0, active: 0 });
      });
    });

    describe('concurrency', () => {
      it('gives 500 concurrent joins unique positions 1..500 and one entry each', async () => {
        const c = randomUUID();
        const results = await Promise.all(
          Array.from({ length: 500 }, (_, i) => store.join(c, `u${i}`, randomUUID(), T0, CLOSED)),
        );
        expect(results.every((r) => r.created && r.state === 'WAITING')).toBe(true);
        expect(results.map((r) => r.position).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
        expect(new Set(results.map((r) => r.entryId)).size).toBe(500);
        expect(await store.stats(c, T0, 60_000)).toMatchObject({ waiting: 500, active: 0 });

        // Positions reported at join time are the ones the line keeps.
        const sample = results.filter((_, i) => i % 50 === 0);
        for (const r of sample) {
          const i = results.indexOf(r);
          expect((await store.status(c, `u${i}`, r.entryId, T0))?.position).toBe(r.position);
        }
      });

      it('creates one entry when the same user joins many times at once', async () => {
        const c = randomUUID();
        const results = await Promise.all(Array.from({ length: 50 }, () => store.join(c, 'u0', randomUUID(), T0, CLOSED)));
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.entryId)).size).toBe(1);
        expect(results.every((r) => r.position === 1)).toBe(true);
        expect(await store.stats(c, T0, 60_000)).toMatchObject({ waiting: 1 });
      });
    });
  });
}
