import { AdmissionLog, type Ticket, WaitingLine } from './queue.line.memory.js';
import {
  admissionLogMsOf,
  nextOrder,
  ORDERS_PER_MS,
  restorable,
  PER_SECOND_WINDOW_MS,
  type JoinResult,
  type LineSnapshot,
  type QueueEntry,
  type QueueLimits,
  type QueueStore,
  type QueueStoreOptions,
} from './queue.store.js';

/**
 * The in-process waiting room: the embedded single-instance default. It mirrors the Redis adapter
 * (queue.store.redis.ts) rule for rule, and the same contract suite runs against both. Every
 * method does its work synchronously before its promise settles, so each call is atomic with
 * respect to the others, as each Lua script is in Redis.
 *
 * Per concert:
 * - `entries`: userId -> the user's current entry. An entry that has left or expired stays as an
 *   EXPIRED tombstone until the user joins again or `purgeEnded()` forgets it (the ticker runs it
 *   every minute; a forgotten entry reads null, which the service answers as EXPIRED too). A
 *   concert nobody is in is dropped whole by the same purge, so memory stays bounded;
 * - `line`: the waiting entries in join order, with O(log n) positions (see WaitingLine in
 *   queue.line.memory.ts);
 * - `active`: userId -> activeUntil of each ACTIVE entry. An entry whose activeUntil has passed
 *   already reads EXPIRED but keeps its place here until the next admission step drops it, exactly
 *   as in Redis (so `activeConcerts()` and the freed place behave the same in both);
 * - `admissions`: a log of admission times, trimmed to `admissionLogMs`, for the sliding
 *   one-second limit and for `stats()`.
 *
 * Besides, per concert and for the life of the process (a concert dropped whole keeps them): the
 * line's epoch, the entries put back by `restore` (only a new process, which starts with
 * nothing, has entries to put back), and whether an operator paused its admission.
 */

interface Entry {
  entryId: string;
  order: number;
  state: 'WAITING' | 'ACTIVE' | 'ENDED';
  /** The entry's place in `line` while WAITING. */
  ticket: Ticket | undefined;
}

interface ConcertQueue {
  entries: Map<string, Entry>;
  line: WaitingLine;
  active: Map<string, number>;
  /** A lower bound of every activeUntil in `active` (Infinity when empty): no scan needed before it. */
  nextExpiry: number;
  admissions: AdmissionLog;
  /** The order of the last join (LinePlace.order). */
  lastOrder: number;
}

export function createMemoryQueueStore(opts: QueueStoreOptions = {}): QueueStore {
  const admissionLogMs = admissionLogMsOf(opts);
  const concerts = new Map<string, ConcertQueue>();
  const epochs = new Map<string, string>();
  const restored = new Map<string, Set<string>>();
  const paused = new Set<string>();

  const queueOf = (concertId: string): ConcertQueue => {
    let queue = concerts.get(concertId);
    if (!queue) {
      queue = {
        entries: new Map(),
        line: new WaitingLine(),
        active: new Map(),
        nextExpiry: Infinity,
        admissions: new AdmissionLog(),
        lastOrder: 0,
      };
      concerts.set(concertId, queue);
    }
    return queue;
  };

  /** The entry as a caller sees it at `now`. */
  const view = (queue: ConcertQueue, userId: string, entry: Entry, now: number): QueueEntry => {
    if (entry.state === 'WAITING' && entry.ticket) {
      return { entryId: entry.entryId, state: 'WAITING', position: queue.line.position(entry.ticket), activeUntil: null };
    }
    const activeUntil = entry.state === 'ACTIVE' ? queue.active.get(userId) : undefined;
    if (activeUntil !== undefined && activeUntil > now) {
      return { entryId: entry.entryId, state: 'ACTIVE', position: null, activeUntil };
    }
    return expired(entry.entryId);
  };

  /** Ends every ACTIVE entry whose activeUntil is at or before `now`, freeing its place. */
  const dropExpired = (queue: ConcertQueue, now: number) => {
    if (now < queue.nextExpiry) return;
    let next = Infinity;
    for (const [userId, activeUntil] of queue.active) {
      if (activeUntil > now) {
        next = Math.min(next, activeUntil);
        continue;
      }
      queue.active.delete(userId);
      const entry = queue.entries.get(userId);
      if (entry?.state === 'ACTIVE') entry.state = 'ENDED';
    }
    queue.nextExpiry = next;
  };

  /** One admission step: drop expired entries, then admit from the head while both limits allow (unless paused). */
  const admitStep = (concertId: string, queue: ConcertQueue, now: number, limits: QueueLimits): number => {
    dropExpired(queue, now);
    queue.admissions.trimThrough(now - admissionLogMs);
    if (paused.has(concertId)) return 0;
    const free = Math.floor(
      Math.min(limits.maxActive - queue.active.size, limits.perSecond - queue.admissions.countAfter(now - PER_SECOND_WINDOW_MS)),
    );
    let admitted = 0;
    const activeUntil = now + limits.activeTtlMs;
    while (admitted < free) {
      const userId = queue.line.shift();
      if (userId === undefined) break;
      const entry = queue.entries.get(userId)!;
      entry.state = 'ACTIVE';
      entry.ticket = undefined;
      queue.active.set(userId, activeUntil);
      queue.admissions.add(now);
      admitted++;
    }
    if (admitted > 0) {
      queue.nextExpiry = Math.min(queue.nextExpiry, activeUntil);
      opts.onAdmitted?.(admitted);
    }
    return admitted;
  };

  /** Whether the entry is WAITING, or ACTIVE with activeUntil still ahead of `now`. */
  const isLive = (queue: ConcertQueue, userId: string, entry: Entry, now: number) =>
    entry.state === 'WAITING' || (entry.state === 'ACTIVE' && (queue.active.get(userId) ?? -Infinity) > now);

  /** Takes the entry out of the line and the active set; it stays as an EXPIRED tombstone. */
  const end = (queue: ConcertQueue, userId: string, entry: Entry) => {
    if (entry.ticket) queue.line.remove(entry.ticket);
    queue.active.delete(userId);
    entry.state = 'ENDED';
    entry.ticket = undefined;
  };

  return {
    async join(concertId, userId, entryId, now, limits): Promise<JoinResult> {
      const queue = queueOf(concertId);
      let entry = queue.entries.get(userId);
      let created = false;
      if (!entry || !isLive(queue, userId, entry, now)) {
        if (entry) end(queue, userId, entry);
        const order = (queue.lastOrder = nextOrder(now, queue.lastOrder));
        entry = { entryId, order, state: 'WAITING', ticket: queue.line.push(userId, now, order) };
        queue.entries.set(userId, entry);
        created = true;
      }
      if (!epochs.has(concertId)) epochs.set(concertId, entryId);
      admitStep(concertId, queue, now, limits);
      return { ...view(queue, userId, entry, now), created, place: { order: entry.order, epoch: epochs.get(concertId)! } };
    },

    async restore(concertId, userId, lost, now, limits) {
      const queue = queueOf(concertId);
      const entry = queue.entries.get(userId);
      if (entry) return entry.entryId === lost.entryId ? view(queue, userId, entry, now) : expired(lost.entryId);
      if (!restorable(lost, now)) return null;
      const putBack = restored.get(concertId) ?? new Set<string>();
      if (epochs.get(concertId) === lost.epoch || putBack.has(lost.entryId)) return null;
      if (!epochs.has(concertId)) epochs.set(concertId, lost.newEpoch);
      restored.set(concertId, putBack.add(lost.entryId));
      dropExpired(queue, now);
      const back: Entry = { entryId: lost.entryId, order: lost.order, state: 'WAITING', ticket: undefined };
      if (lost.activeUntil !== null && lost.activeUntil > now && queue.active.size < limits.maxActive) {
        back.state = 'ACTIVE';
        queue.active.set(userId, lost.activeUntil);
        queue.nextExpiry = Math.min(queue.nextExpiry, lost.activeUntil);
      } else {
        back.ticket = queue.line.insert(userId, Math.floor(lost.order / ORDERS_PER_MS), lost.order);
      }
      queue.entries.set(userId, back);
      admitStep(concertId, queue, now, limits);
      return view(queue, userId, back, now);
    },

    async status(concertId, userId, entryId, now) {
      const queue = concerts.get(concertId);
      const entry = queue?.entries.get(userId);
      if (!queue || !entry) return null;
      if (entryId !== undefined && entryId !== entry.entryId) return expired(entryId);
      return view(queue, userId, entry, now);
    },

    async touch(concertId, userId, entryId, now, activeTtlMs) {
      const queue = concerts.get(concertId);
      const entry = queue?.entries.get(userId);
      if (!queue || !entry) return null;
      if (entryId !== entry.entryId) return expired(entryId);
      if (entry.state === 'ACTIVE' && (queue.active.get(userId) ?? -Infinity) > now) {
        const activeUntil = now + activeTtlMs;
        queue.active.set(userId, activeUntil);
        queue.nextExpiry = Math.min(queue.nextExpiry, activeUntil);
        return { entryId, state: 'ACTIVE', position: null, activeUntil };
      }
      return view(queue, userId, entry, now);
    },

    async leave(concertId, userId, entryId) {
      const queue = concerts.get(concertId);
      const entry = queue?.entries.get(userId);
      if (!queue || !entry || entry.state === 'ENDED') return;
      if (entryId !== undefined && entryId !== entry.entryId) return;
      end(queue, userId, entry);
    },

    async admit(concertId, now, limits) {
      const queue = concerts.get(concertId);
      return queue ? admitStep(concertId, queue, now, limits) : 0;
    },

    async purgeEnded(now) {
      let forgotten = 0;
      for (const [concertId, queue] of concerts) {
        dropExpired(queue, now);
        for (const [userId, entry] of queue.entries) {
          if (entry.state !== 'ENDED') continue;
          queue.entries.delete(userId);
          forgotten++;
        }
        // A concert nobody is in, with no admission left in the log, is dropped whole.
        queue.admissions.trimThrough(now - admissionLogMs);
        if (queue.entries.size === 0 && queue.admissions.countAfter(-Infinity) === 0) concerts.delete(concertId);
      }
      return forgotten;
    },

    async setPaused(concertId, pause) {
      if (pause) paused.add(concertId);
      else paused.delete(concertId);
    },

    async isPaused(concertId) {
      return paused.has(concertId);
    },

    async activeConcerts() {
      const ids: string[] = [];
      for (const [concertId, queue] of concerts) {
        if (queue.line.size + queue.active.size > 0) ids.push(concertId);
      }
      return ids;
    },

    async lines(now) {
      const lines: LineSnapshot[] = [];
      for (const [concertId, queue] of concerts) {
        const active = activeAt(queue, now);
        if (queue.line.size + active === 0) continue;
        lines.push({ concertId, waiting: queue.line.size, active, headJoinedAt: queue.line.peek()?.joinedAt ?? null });
      }
      return lines;
    },

    async stats(concertId, now, windowMs) {
      const queue = concerts.get(concertId);
      if (!queue) return { admittedInWindow: 0, waiting: 0, active: 0, headOrder: null };
      return {
        admittedInWindow: queue.admissions.countAfter(now - windowMs) - queue.admissions.countAfter(now),
        waiting: queue.line.size,
        active: activeAt(queue, now),
        headOrder: queue.line.peek()?.order ?? null,
      };
    },

    async close() {
      concerts.clear();
    },
  };
}

/** ACTIVE entries whose activeUntil is still ahead of `now` (a scan only past the earliest expiry). */
function activeAt(queue: ConcertQueue, now: number): number {
  if (now < queue.nextExpiry) return queue.active.size;
  let active = 0;
  for (const activeUntil of queue.active.values()) if (activeUntil > now) active++;
  return active;
}

const expired = (entryId: string): QueueEntry => ({ entryId, state: 'EXPIRED', position: null, activeUntil: null });
