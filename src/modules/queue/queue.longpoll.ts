/**
 * Line polls held open until the caller's turn may have come (GET …/queue?wait=S): each waits, in
 * this process, holding no database connection and no store round trip, until an admission pass
 * sees the head of its concert's line move past the caller's place, or until its wait is over,
 * whichever is first, or until an admission pass finds its concert sold out (every poll of that
 * concert is woken then, and later ones are not held); the route then reads the status once more
 * and answers. Every instance runs its own admission passes over the shared store
 * (queue.ticker.ts), so a caller admitted by any instance is woken within one tick by the instance
 * holding its poll.
 *
 * Bounded: at most `max` polls are held at once per process (beyond that a poll is answered at
 * once, as a plain poll), and each for at most its own wait. A caller that hangs up frees its place.
 * One held poll per user and concert: a user's new poll answers their poll held before, so one
 * account (whose polls pass the per-address limit) cannot fill every place with its own.
 */

interface Waiter {
  order: number;
  wake: () => void;
}

export interface LongPolls {
  /**
   * Waits until the head of `concertId`'s line has moved past `order` (the caller's join order)
   * or `waitMs` passed or `signal` aborted, or the same user holds another poll of the concert.
   * Answers how long it held, in ms, or undefined at once when `max` polls are held already (the
   * caller answers as a plain poll).
   */
  hold(concertId: string, userId: string, order: number, waitMs: number, signal?: AbortSignal): Promise<number> | undefined;
  /** After an admission pass: the concert's head order (null: nobody waits) wakes every poll behind which it moved. */
  headMoved(concertId: string, headOrder: number | null): void;
  /** After an admission pass's sold-out check: a concert turning sold out wakes every poll of it. */
  soldOut(concertId: string, soldOut: boolean): void;
  /** Polls held now. */
  held(): number;
  /** Answers every held poll at once (shutdown). */
  wakeAll(): void;
}

export function createLongPolls(opts: { max: number }): LongPolls {
  const byConcert = new Map<string, Set<Waiter>>();
  /** The head order each concert's last admission pass saw, while someone waited. */
  const lastHead = new Map<string, number>();
  /** Concerts the last check found sold out: a poll of one is answered at once. */
  const soldOut = new Set<string>();
  /** The poll each user holds, by concert and user. */
  const byHolder = new Map<string, Waiter>();
  let count = 0;
  const passed = (order: number, head: number | null) => head === null || order < head;

  return {
    hold(concertId, userId, order, waitMs, signal) {
      const holder = `${concertId} ${userId}`;
      byHolder.get(holder)?.wake(); // the user's older poll answers: this one replaces it
      if (count >= opts.max) return undefined;
      const start = Date.now();
      const seen = lastHead.get(concertId);
      // The pass that moved the head may have run between the caller's status read and now (an
      // empty line is left to the next pass: the caller may have joined since).
      if ((seen !== undefined && order < seen) || soldOut.has(concertId) || waitMs <= 0 || signal?.aborted) {
        return Promise.resolve(0);
      }
      return new Promise<number>((resolve) => {
        let waiters = byConcert.get(concertId);
        if (!waiters) byConcert.set(concertId, (waiters = new Set()));
        const waiter: Waiter = { order, wake: () => done() };
        const timer = setTimeout(() => done(), waitMs);
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          if (!waiters.delete(waiter)) return;
          count--;
          if (byHolder.get(holder) === waiter) byHolder.delete(holder);
          if (waiters.size === 0 && byConcert.get(concertId) === waiters) byConcert.delete(concertId);
          resolve(Date.now() - start);
        };
        signal?.addEventListener('abort', done, { once: true });
        waiters.add(waiter);
        byHolder.set(holder, waiter);
        count++;
      });
    },

    headMoved(concertId, headOrder) {
      if (headOrder === null) lastHead.delete(concertId);
      else lastHead.set(concertId, headOrder);
      const waiters = byConcert.get(concertId);
      if (!waiters) return;
      for (const w of [...waiters]) if (passed(w.order, headOrder)) w.wake();
    },

    soldOut(concertId, isSoldOut) {
      if (!isSoldOut) {
        soldOut.delete(concertId);
        return;
      }
      soldOut.add(concertId);
      for (const w of [...(byConcert.get(concertId) ?? [])]) w.wake();
    },

    held: () => count,

    wakeAll() {
      for (const waiters of [...byConcert.values()]) for (const w of [...waiters]) w.wake();
    },
  };
}
