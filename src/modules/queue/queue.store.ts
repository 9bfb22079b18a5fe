/**
 * The waiting room's state, one queue per concert. Two adapters implement it with the same
 * semantics: Redis (every multi-step change is one Lua script, so any number of service instances
 * can share it) and in-process (the single-instance embedded default). One contract test suite
 * (test/queue/queue-store.contract.ts) runs against both.
 *
 * Times are epoch milliseconds passed in by the caller (the service's clock), never read inside
 * the store, so tests can move time and instances agree on one rule.
 *
 * Model, per concert:
 * - every user has at most one *entry*; joining again while the entry is WAITING or ACTIVE returns
 *   it unchanged; after it has left or expired, joining creates a new entry at the back;
 * - waiting entries are ordered by a per-concert sequence number (first in, first out); a
 *   position is 1 for the next in line and is computed in O(log n);
 * - an admitted entry is ACTIVE until `activeUntil`; every gated request of its owner (`touch`)
 *   slides `activeUntil` to now + activeTtlMs (a read with the token alone, `status`, does not);
 *   past it the entry is EXPIRED;
 * - admission moves entries from the head of the line to ACTIVE while both limits allow: at most
 *   `maxActive` ACTIVE entries at once, and at most `perSecond` admissions in any sliding
 *   one-second window (a log of admission times, not a fixed window, so no burst at a boundary).
 */

export type QueueState = 'WAITING' | 'ACTIVE' | 'EXPIRED';

/** The sliding window of the per-second admission limit. */
export const PER_SECOND_WINDOW_MS = 1000;
/** How long admissions are remembered by default: the longest window `stats()` can measure. */
export const DEFAULT_ADMISSION_LOG_MS = 60_000;

/** Options both adapters take. */
export interface QueueStoreOptions {
  /** How long admissions are remembered (the longest window `stats()` can measure). */
  admissionLogMs?: number;
  /** Told how many entries each admission step of this store admitted (a join's or an admit's), when any. */
  onAdmitted?: (count: number) => void;
}

/** How long an adapter remembers admissions: as asked (or the default), never less than the per-second window. */
export function admissionLogMsOf(opts: QueueStoreOptions): number {
  return Math.max(PER_SECOND_WINDOW_MS, opts.admissionLogMs ?? DEFAULT_ADMISSION_LOG_MS);
}

export interface QueueLimits {
  maxActive: number;
  perSecond: number;
  activeTtlMs: number;
}

export interface QueueEntry {
  entryId: string;
  state: QueueState;
  /** 1-based place in line while WAITING, else null. */
  position: number | null;
  /** Epoch ms until which an ACTIVE entry stays active, else null. */
  activeUntil: number | null;
}

/**
 * Where an entry stands in its concert's line, for the signed queue token to carry: a store that
 * loses its data (Redis restarted empty) can then put the entry back in its original order.
 * `order` is `joinedAt × 1024` raised, where needed, to one above the previous join of the concert,
 * so it orders joins first in, first out and compares with any later join. `epoch` names the
 * concert's line as the store keeps it: a store that lost it starts a new epoch.
 */
export interface LinePlace {
  order: number;
  epoch: string;
}

/** How long a line is kept after its last join (Redis keys expire then); older tokens are not put back. */
export const LINE_RETENTION_MS = 7 * 86_400_000;

/** Orders per millisecond: `order / ORDERS_PER_MS` is the join time (epoch ms). */
export const ORDERS_PER_MS = 1024;

/** The place of a new join at `now`, after the concert's previous join `last` (0 when none). */
export const nextOrder = (now: number, last: number): number => Math.max(now * ORDERS_PER_MS, last + 1);

export interface JoinResult extends QueueEntry {
  /** True when this call created the entry (201), false when it returned an existing one (200). */
  created: boolean;
  /** Null only for an entry made before places were kept. */
  place: LinePlace | null;
}

/** What a signed queue token says about an entry a store may have lost (see QueueStore.restore). */
export interface LostEntry extends LinePlace {
  entryId: string;
  /** When the token was issued (epoch ms): a poll re-issues it, so a waiting user's token is recent. */
  issuedAt: number;
  /** When the token said the entry was ACTIVE: the activeUntil it knew of (a lower bound). */
  activeUntil: number | null;
  /** A new epoch, used if the concert's line has none (the store lost it). */
  newEpoch: string;
}

/**
 * How recent a WAITING entry's token must be for the entry to be put back. Every poll re-issues
 * the token, and a waiting user is told to poll at least once a minute (refreshAfterSeconds ≤ 60),
 * so a user still in line holds a token at most a minute old when the line is lost; the other four
 * minutes cover an outage of Redis, during which polls fail and no token is re-issued. An older
 * token is most likely of an entry that ended long ago (left, admitted and expired): it is not put
 * back at the head of the line.
 */
export const RESTORE_WAITING_WITHIN_MS = 5 * 60_000;

/**
 * Whether a lost entry's token is recent enough to put it back (QueueStore.restore): an entry the
 * token knew ACTIVE only while that active period lasts, a WAITING one only within
 * RESTORE_WAITING_WITHIN_MS of the token's issue.
 */
export const restorable = (entry: LostEntry, now: number): boolean =>
  entry.activeUntil !== null ? entry.activeUntil > now : now - entry.issuedAt <= RESTORE_WAITING_WITHIN_MS;

/** One concert's line as it stands (see QueueStore.lines). */
export interface LineSnapshot {
  concertId: string;
  waiting: number;
  /** ACTIVE entries whose activeUntil is still ahead. */
  active: number;
  /** Epoch ms at which the first user in line joined; null when nobody waits. */
  headJoinedAt: number | null;
}

export interface QueueStats {
  admittedInWindow: number;
  waiting: number;
  active: number;
  headOrder: number | null;
}

export interface QueueStore {
  /**
   * Puts the user in line (or returns their live entry), then runs one admission step so a user
   * who finds free capacity is ACTIVE at once. `entryId` is the id to use if a new entry is made.
   */
  join(concertId: string, userId: string, entryId: string, now: number, limits: QueueLimits): Promise<JoinResult>;

  /**
   * The user's entry as it stands; if `entryId` is given and is not the user's current entry, the
   * answer is EXPIRED (an old token). Does not slide anything: it is the gate's check for a request
   * made with the Queue-Token alone (no bearer), which may read but must not keep the owner's
   * active period alive. Null when the user never joined.
   */
  status(concertId: string, userId: string, entryId: string | undefined, now: number): Promise<QueueEntry | null>;

  /**
   * The gate's single round trip: if `entryId` is the user's current entry and it is ACTIVE at
   * `now`, slides activeUntil to now + activeTtlMs and returns ACTIVE with the new activeUntil;
   * otherwise returns the entry's state unchanged (WAITING with its position, or EXPIRED),
   * or null when the user has no entry.
   */
  touch(concertId: string, userId: string, entryId: string, now: number, activeTtlMs: number): Promise<QueueEntry | null>;

  /**
   * Puts back an entry the store lost. When the user has an entry, answers as `status` with
   * `entry.entryId` does and changes nothing. Otherwise, only when the concert's line is of another
   * epoch than `entry.epoch` (it was lost since the token was issued), this entry was not put back
   * before in this epoch and its token is recent (`restorable`): an entry that was ACTIVE until
   * after `now` is ACTIVE again until then if fewer than `maxActive` are active (it is not a new
   * admission), else it WAITS at its original `order`, ahead of everyone who joined later; then one
   * admission step runs. Null when the entry is not to be put back (it ended, or was forgotten, in
   * this epoch; or its token is too old: an active period that has passed, a waiting token older
   * than RESTORE_WAITING_WITHIN_MS).
   */
  restore(concertId: string, userId: string, entry: LostEntry, now: number, limits: QueueLimits): Promise<QueueEntry | null>;

  /** Removes the user's entry (waiting or active) at once, freeing its place. No-op if none. */
  leave(concertId: string, userId: string, entryId?: string): Promise<void>;

  /**
   * One admission step for a concert: drops expired ACTIVE entries, then admits from the head of
   * the line as far as both limits allow. Safe to run concurrently from many instances. Returns
   * how many entries it admitted.
   */
  admit(concertId: string, now: number, limits: QueueLimits): Promise<number>;

  /**
   * Forgets ended entries (left, or expired and dropped by an admission step) so that what a long
   * sale keeps stays bounded by the people in line, not everyone who ever joined. A forgotten
   * entry's token then finds no entry (null), which the service answers exactly as a tombstone:
   * EXPIRED on GET …/queue, QUEUE_NOT_ACTIVE at the gate, a new entry on join. Returns how many
   * entries it forgot.
   */
  purgeEnded(now: number): Promise<number>;

  /**
   * Pauses (or resumes) admission to one concert: while paused no admission step admits anyone
   * (joins wait, the ticker admits nobody); active entries stay active and put-back ones return
   * as before. Kept with the line: a store that loses the line loses the pause too.
   */
  setPaused(concertId: string, paused: boolean): Promise<void>;
  isPaused(concertId: string): Promise<boolean>;

  /** Concerts that have anyone waiting or active (the ones the admission ticker visits). */
  activeConcerts(): Promise<string[]>;

  /**
   * Every concert with anyone waiting or active at `now`, with the size of its line, its active
   * entries and when the head of its line joined (for the waiting-room gauges). Read-only.
   */
  lines(now: number): Promise<LineSnapshot[]>;

  /**
   * Admissions in the last `windowMs` (for the measured admission rate), how many wait and are
   * active, and the join order (LinePlace.order) of the head of the line, null when nobody waits:
   * an entry whose order is below it is no longer waiting (admitted, or gone).
   */
  stats(concertId: string, now: number, windowMs: number): Promise<QueueStats>;

  close(): Promise<void>;
}
