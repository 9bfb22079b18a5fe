import type { Clock } from '../../platform/clock.js';
import { DomainError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { LongPolls } from './queue.longpoll.js';
import { createSoldOutWatch } from './queue.soldout.js';
import { estimatedWaitSeconds, measuredRate, refreshAfterSeconds } from './queue.rules.js';
import { LINE_RETENTION_MS, type QueueEntry, type QueueLimits, type QueueStore } from './queue.store.js';
import type { QueueTokenClaims, QueueTokenInput, QueueTokens, VerifiedQueueToken } from './queue.token.js';

export interface QueueView {
  token: string;
  status: 'WAITING' | 'ACTIVE' | 'EXPIRED';
  position: number | null;
  estimatedWaitSeconds: number | null;
  refreshAfterSeconds: number | null;
  activeUntil: string | null;
  /** Every seat of the concert is sold (none left, none held), as the last admission pass saw it. */
  soldOut: boolean;
}

/** One concert's line for an operator (GET /admin/concerts/{id}/queue). */
export interface QueueState {
  concertId: string;
  paused: boolean;
  waiting: number;
  active: number;
  admittedLastMinute: number;
  headWaitSeconds: number;
  maxActive: number;
  admitPerSecond: number;
}

/** The window over which the admission rate is measured for wait estimates. */
export const RATE_WINDOW_MS = 30_000;

/** What the waiting room reports (for metrics); every method optional. */
export interface QueueObserver {
  /** A new entry joined a line (joining again while in line is not one). Admissions: QueueStoreOptions.onAdmitted. */
  joined?(): void;
}

export function createQueueService(deps: {
  store: QueueStore;
  tokens: QueueTokens;
  clock: Clock;
  limits: QueueLimits;
  /** Throws NOT_FOUND for an unknown concert. */
  assertConcertExists: (concertId: string) => Promise<void>;
  observe?: QueueObserver;
  /** Holds line polls that ask to wait (`watch`); without it every poll answers at once. */
  longPolls?: LongPolls;
  /** Whether no seat of the concert is left or held; without it no line reads sold out. */
  soldOut?: (concertId: string) => Promise<boolean>;
}) {
  const { store, tokens, clock, limits, longPolls } = deps;
  const observe = deps.observe ?? {};
  /** Admissions per second per concert, measured by the ticker; read by every status answer. */
  const rates = new Map<string, number>();
  /** When this instance first saw each concert's line, so a young line's rate is not diluted. */
  const firstSeen = new Map<string, number>();
  const soldOut = deps.soldOut && createSoldOutWatch({ check: deps.soldOut, longPolls });

  function view(token: string, concertId: string, entry: QueueEntry | null): QueueView {
    return { ...placeView(token, concertId, entry), soldOut: soldOut?.is(concertId) ?? false };
  }

  function placeView(token: string, concertId: string, entry: QueueEntry | null): Omit<QueueView, 'soldOut'> {
    if (!entry || entry.state === 'EXPIRED') {
      return { token, status: 'EXPIRED', position: null, estimatedWaitSeconds: null, refreshAfterSeconds: null, activeUntil: null };
    }
    if (entry.state === 'ACTIVE') {
      return {
        token,
        status: 'ACTIVE',
        position: null,
        estimatedWaitSeconds: 0,
        refreshAfterSeconds: Math.max(1, Math.floor(limits.activeTtlMs / 3000)),
        activeUntil: new Date(entry.activeUntil!).toISOString(),
      };
    }
    const wait = estimatedWaitSeconds(entry.position!, rates.get(concertId) ?? limits.perSecond);
    return {
      token,
      status: 'WAITING',
      position: entry.position,
      estimatedWaitSeconds: wait,
      refreshAfterSeconds: refreshAfterSeconds(wait),
      activeUntil: null,
    };
  }

  /** Owner and concert: checks that need no store (the signature was checked by tokens.verify). */
  function assertOwnedBy(claims: QueueTokenClaims, concertId: string, userId: string | undefined): QueueTokenClaims {
    if (userId !== undefined && claims.userId !== userId) {
      throw new DomainError('QUEUE_TOKEN_MISMATCH', 'This Queue-Token belongs to another user');
    }
    if (claims.concertId !== concertId) {
      throw new DomainError('QUEUE_TOKEN_MISMATCH', 'This Queue-Token is for another concert');
    }
    return claims;
  }

  /**
   * The entry of claims whose store has no record of it: put back where the token says it stood,
   * when the store lost it (QueueStore.restore); null otherwise. `slide` slides a put-back ACTIVE entry.
   */
  async function restore(claims: QueueTokenClaims, now: number, slide: boolean): Promise<QueueEntry | null> {
    if (!claims.place || now - claims.issuedAt > LINE_RETENTION_MS) return null;
    const { concertId, userId, entryId } = claims;
    const lost = { entryId, ...claims.place, issuedAt: claims.issuedAt, activeUntil: claims.activeUntil ?? null, newEpoch: newId() };
    const entry = await store.restore(concertId, userId, lost, now, limits);
    return entry?.state === 'ACTIVE' && slide ? store.touch(concertId, userId, entryId, now, limits.activeTtlMs) : entry;
  }

  /**
   * The token a poll answers: re-issued with the time of the poll (and an ACTIVE entry's new
   * activeUntil), so the token a user holds says how recently the entry was known to be in line;
   * a line lost meanwhile puts back only entries whose token is recent (see `restorable` in
   * queue.store.ts). Null for an entry that has ended: its token stays as it was.
   */
  function reissued(claims: QueueTokenClaims, entry: QueueEntry | null, now: number): string | null {
    if (entry?.state === 'ACTIVE') return tokens.issue({ ...claims, issuedAt: now, activeUntil: entry.activeUntil! });
    if (entry?.state !== 'WAITING') return null;
    const { activeUntil: _known, ...waiting } = claims;
    return tokens.issue({ ...waiting, issuedAt: now });
  }

  /** The token (verified here unless it was already), checked against the caller: owner and concert. */
  function ownedBy(input: QueueTokenInput, concertId: string, userId: string): VerifiedQueueToken {
    const checked = typeof input === 'object' ? input : { token: input!, claims: tokens.verify(input) };
    assertOwnedBy(checked.claims, concertId, userId);
    return checked;
  }

  /** The caller's place (see `status`), for a token already checked against the caller. */
  async function statusOf({ claims, token }: VerifiedQueueToken): Promise<QueueView> {
    const { concertId, userId } = claims;
    const now = clock.now().getTime();
    const entry =
      (await store.touch(concertId, userId, claims.entryId, now, limits.activeTtlMs)) ?? (await restore(claims, now, true));
    return view(reissued(claims, entry, now) ?? token, concertId, entry);
  }

  return {
    /** `bearer`: the binding of the bearer token the user joined with, which the token then carries (see QueueTokenClaims). */
    async join(userId: string, concertId: string, bearer?: string): Promise<{ created: boolean; view: QueueView }> {
      await deps.assertConcertExists(concertId);
      const now = clock.now().getTime();
      const entry = await store.join(concertId, userId, newId(), now, limits);
      if (entry.created) observe.joined?.();
      const token = tokens.issue({
        userId,
        concertId,
        entryId: entry.entryId,
        issuedAt: now,
        ...(bearer === undefined ? {} : { bearer }),
        ...(entry.place ? { place: entry.place } : {}),
        ...(entry.state === 'ACTIVE' ? { activeUntil: entry.activeUntil! } : {}),
      });
      return { created: entry.created, view: view(token, concertId, entry) };
    },

    /**
     * The caller's place; a request made with the token, so it also slides an active period. A
     * WAITING or ACTIVE answer carries the token re-issued (the same entry; see `reissued`), so a
     * line lost meanwhile can put the user back.
     */
    async status(userId: string, concertId: string, token: QueueTokenInput): Promise<QueueView> {
      return statusOf(ownedBy(token, concertId, userId));
    },

    /**
     * `status`, held open while the caller WAITS: answered as soon as an admission pass sees the
     * head of the line move past the caller (admitted, most likely) or after `waitSeconds`,
     * whichever is first, or as soon as a pass finds the concert sold out, with the status read
     * again then. Answered at once when not WAITING, when the concert reads sold out, when
     * the token carries no place in line, when this process holds as many polls as it may, or for
     * `waitSeconds` 0. `signal` (the caller hung up) ends the hold. `heldMs`: how long it was held.
     */
    async watch(
      userId: string,
      concertId: string,
      token: QueueTokenInput,
      waitSeconds: number,
      signal?: AbortSignal,
    ): Promise<{ view: QueueView; heldMs: number }> {
      const checked = ownedBy(token, concertId, userId);
      const first = await statusOf(checked);
      const order = checked.claims.place?.order;
      const wanted = waitSeconds > 0 && first.status === 'WAITING' && !first.soldOut && order !== undefined;
      const held = wanted ? longPolls?.hold(concertId, userId, order, waitSeconds * 1000, signal) : undefined;
      if (!held) return { view: first, heldMs: 0 };
      const heldMs = await held;
      return { view: signal?.aborted ? first : await statusOf(checked), heldMs };
    },

    async leave(userId: string, concertId: string, token: QueueTokenInput): Promise<void> {
      await store.leave(concertId, userId, ownedBy(token, concertId, userId).claims.entryId);
    },

    /** Checks a token's signature and format (401 QUEUE_TOKEN_INVALID); touches no store. */
    verify: (token: string | undefined) => tokens.verify(token),
    signedWithCurrentKey: (token: string) => tokens.signedWithCurrentKey(token),

    assertOwnedBy,

    /**
     * State check for claims already verified against their owner. `slide` (the owner's own
     * request) moves the active period on; without it the check only reads (a request made with the
     * Queue-Token alone, which anyone holding a leaked token could send).
     */
    async assertActive(claims: QueueTokenClaims, opts: { slide: boolean } = { slide: true }): Promise<void> {
      const now = clock.now().getTime();
      const entry =
        (opts.slide
          ? await store.touch(claims.concertId, claims.userId, claims.entryId, now, limits.activeTtlMs)
          : await store.status(claims.concertId, claims.userId, claims.entryId, now)) ?? (await restore(claims, now, opts.slide));
      if (entry?.state !== 'ACTIVE') {
        throw new DomainError(
          'QUEUE_NOT_ACTIVE',
          entry?.state === 'WAITING'
            ? `You are number ${entry.position} in line; booking opens for you when you are admitted`
            : 'Your turn has expired; join the queue again',
          { queueStatus: entry?.state ?? 'EXPIRED', position: entry?.position ?? null },
        );
      }
    },

    /** After a payment: the user leaves the line when they hold nothing else for the concert. */
    async leaveAfterPayment(userId: string, concertId: string): Promise<void> {
      await store.leave(concertId, userId);
    },

    /** Forgets ended entries (see QueueStore.purgeEnded); their tokens still read EXPIRED. */
    purgeEnded: (): Promise<number> => store.purgeEnded(clock.now().getTime()),

    /**
     * One admission pass over every concert with people in line; measures admission rates, and
     * checks which of those concerts are sold out (queue.soldout.ts; at most once a second each).
     */
    async tick(): Promise<number> {
      const now = clock.now().getTime();
      let admitted = 0;
      const concerts = await store.activeConcerts();
      for (const concertId of concerts) {
        admitted += await store.admit(concertId, now, limits);
        const stats = await store.stats(concertId, now, RATE_WINDOW_MS);
        if (!firstSeen.has(concertId)) firstSeen.set(concertId, now);
        const windowMs = Math.min(RATE_WINDOW_MS, Math.max(1_000, now - firstSeen.get(concertId)!));
        rates.set(concertId, measuredRate(stats.admittedInWindow, windowMs, limits.perSecond));
        longPolls?.headMoved(concertId, stats.headOrder);
      }
      for (const concertId of firstSeen.keys()) {
        if (!concerts.includes(concertId)) {
          firstSeen.delete(concertId);
          rates.delete(concertId);
          longPolls?.headMoved(concertId, null);
        }
      }
      await soldOut?.refresh(concerts, now);
      return admitted;
    },

    /** One concert's line as an operator sees it; NOT_FOUND for an unknown concert. */
    async state(concertId: string): Promise<QueueState> {
      await deps.assertConcertExists(concertId);
      const now = clock.now().getTime();
      const [stats, paused, lines] = await Promise.all([store.stats(concertId, now, 60_000), store.isPaused(concertId), store.lines(now)]);
      const head = lines.find((l) => l.concertId === concertId)?.headJoinedAt ?? null;
      return {
        concertId,
        paused,
        waiting: stats.waiting,
        active: stats.active,
        admittedLastMinute: stats.admittedInWindow,
        headWaitSeconds: head === null ? 0 : Math.max(0, now - head) / 1000,
        maxActive: limits.maxActive,
        admitPerSecond: limits.perSecond,
      };
    },

    /** Pauses or resumes one concert's admission (QueueStore.setPaused); answers the line's state. */
    async setPaused(concertId: string, paused: boolean): Promise<QueueState> {
      await deps.assertConcertExists(concertId);
      await store.setPaused(concertId, paused);
      return this.state(concertId);
    },

    /** Every concert with a line now: how many wait, how many are active, how long the head has waited. */
    async lines(): Promise<Array<{ concertId: string; waiting: number; active: number; headWaitSeconds: number }>> {
      const now = clock.now().getTime();
      return (await store.lines(now)).map(({ concertId, waiting, active, headJoinedAt }) => ({
        concertId,
        waiting,
        active,
        headWaitSeconds: headJoinedAt === null ? 0 : Math.max(0, now - headJoinedAt) / 1000,
      }));
    },
  };
}

export type QueueService = ReturnType<typeof createQueueService>;
