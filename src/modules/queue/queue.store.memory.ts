import type { JoinResult, QueueEntry, QueueLimits, QueueStore } from './queue.store.js';

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
 * - `line`: the waiting entries in join order, with O(log n) positions (see WaitingLine);
 * - `active`: userId -> activeUntil of each ACTIVE entry. An entry whose activeUntil has passed
 *   already reads EXPIRED but keeps its place here until the next admission step drops it, exactly
 *   as in Redis (so `activeConcerts()` and the freed place behave the same in both);
 * - `admissions`: a log of admission times, trimmed to `admissionLogMs`, for the sliding
 *   one-second limit and for `stats()`.
 */

/** The sliding window of the per-second admission limit. */
const RATE_WINDOW_MS = 1000;
/** How long admissions are remembered by default: the longest window `stats()` can measure. */
export const DEFAULT_ADMISSION_LOG_MS = 60_000;

interface Entry {
  entryId: string;
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
}

export function createMemoryQueueStore(opts: { admissionLogMs?: number } = {}): QueueStore {
  const admissionLogMs = Math.max(RATE_WINDOW_MS, opts.admissionLogMs ?? DEFAULT_ADMISSION_LOG_MS);
  const concerts = new Map<string, ConcertQueue>();

  const queueOf = (concertId: string): ConcertQueue => {
    let queue = concerts.get(concertId);
    if (!queue) {
      queue = {
        entries: new Map(),
        line: new WaitingLine(),
        active: new Map(),
        nextExpiry: Infinity,
        admissions: new AdmissionLog(),
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

  /** One admission step: drop expired entries, then admit from the head while both limits allow. */
  const admitStep = (queue: ConcertQueue, now: number, limits: QueueLimits): number => {
    dropExpired(queue, now);
    queue.admissions.trimThrough(now - admissionLogMs);
    const free = Math.floor(
      Math.min(limits.maxActive - queue.active.size, limits.perSecond - queue.admissions.countAfter(now - RATE_WINDOW_MS)),
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
    if (admitted > 0) queue.nextExpiry = Math.min(queue.nextExpiry, activeUntil);
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
        entry = { entryId, state: 'WAITING', ticket: queue.line.push(userId) };
        queue.entries.set(userId, entry);
        created = true;
      }
      admitStep(queue, now, limits);
      return { ...view(queue, userId, entry, now), created };
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
      return queue ? admitStep(queue, now, limits) : 0;
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

    async activeConcerts() {
      const ids: string[] = [];
      for (const [concertId, queue] of concerts) {
        if (queue.line.size + queue.active.size > 0) ids.push(concertId);
      }
      return ids;
    },

    async stats(concertId, now, windowMs) {
      const queue = concerts.get(concertId);
      if (!queue) return { admittedInWindow: 0, waiting: 0, active: 0 };
      let active = queue.active.size;
      if (now >= queue.nextExpiry) {
        active = 0;
        for (const activeUntil of queue.active.values()) if (activeUntil > now) active++;
      }
      return {
        admittedInWindow: queue.admissions.countAfter(now - windowMs) - queue.admissions.countAfter(now),
        waiting: queue.line.size,
        active,
      };
    },

    async close() {
      concerts.clear();
    },
  };
}

const expired = (entryId: string): QueueEntry => ({ entryId, state: 'EXPIRED', position: null, activeUntil: null });

/** A place in a WaitingLine; its slot moves when the line compacts. */
interface Ticket {
  slot: number;
  readonly userId: string;
}

/**
 * The waiting entries in first-in-first-out order. Each push takes the next slot of an array; a
 * Fenwick tree over the slots (1 = occupied) gives a ticket's position as a prefix sum in
 * O(log n), and removal from anywhere in the line is O(log n). When the slots run out the line
 * compacts the occupied slots to the front (order kept) into an array twice the live size, so
 * pushes cost amortised O(1) however many entries left from the middle.
 */
class WaitingLine {
  private slots: (Ticket | undefined)[] = new Array<Ticket | undefined>(16);
  private tree = new Int32Array(17);
  /** The next free slot; every slot from here on is empty. */
  private end = 0;
  /** Every slot before this one is empty. */
  private head = 0;
  size = 0;

  push(userId: string): Ticket {
    if (this.end === this.slots.length) this.compact();
    const ticket: Ticket = { slot: this.end++, userId };
    this.slots[ticket.slot] = ticket;
    this.add(ticket.slot, 1);
    this.size++;
    return ticket;
  }

  remove(ticket: Ticket) {
    if (this.slots[ticket.slot] !== ticket) return;
    this.slots[ticket.slot] = undefined;
    this.add(ticket.slot, -1);
    this.size--;
  }

  /** 1-based place in line: how many occupied slots up to and including the ticket's. */
  position(ticket: Ticket): number {
    let sum = 0;
    for (let i = ticket.slot + 1; i > 0; i -= i & -i) sum += this.tree[i]!;
    return sum;
  }

  /** Removes and returns the user at the head of the line. */
  shift(): string | undefined {
    if (this.size === 0) return undefined;
    while (this.slots[this.head] === undefined) this.head++;
    const ticket = this.slots[this.head]!;
    this.remove(ticket);
    return ticket.userId;
  }

  private add(slot: number, delta: number) {
    for (let i = slot + 1; i < this.tree.length; i += i & -i) this.tree[i]! += delta;
  }

  private compact() {
    const live: Ticket[] = [];
    for (let i = this.head; i < this.end; i++) {
      const ticket = this.slots[i];
      if (ticket) live.push(ticket);
    }
    const capacity = Math.max(16, 2 * live.length);
    this.slots = new Array<Ticket | undefined>(capacity);
    this.tree = new Int32Array(capacity + 1);
    live.forEach((ticket, slot) => {
      ticket.slot = slot;
      this.slots[slot] = ticket;
      this.tree[slot + 1] = 1;
    });
    // Build the Fenwick tree in O(n): push each node's sum to its parent.
    for (let i = 1; i <= capacity; i++) {
      const parent = i + (i & -i);
      if (parent <= capacity) this.tree[parent]! += this.tree[i]!;
    }
    this.head = 0;
    this.end = live.length;
  }
}

/**
 * Admission times in ascending order (the Redis adapter's ZSET scored by time). Times from one
 * process clock arrive in order, so adding is an append; an out-of-order time is inserted in place.
 * Trimming advances a start index and compacts the array once most of it is dead.
 */
class AdmissionLog {
  private times: number[] = [];
  private start = 0;

  add(at: number) {
    const last = this.times[this.times.length - 1];
    if (this.times.length === this.start || last === undefined || last <= at) this.times.push(at);
    else this.times.splice(this.upperBound(at), 0, at);
  }

  /** How many admissions happened strictly after `at`. */
  countAfter(at: number): number {
    return this.times.length - this.upperBound(at);
  }

  /** Forgets every admission at or before `at`. */
  trimThrough(at: number) {
    this.start = this.upperBound(at);
    if (this.start > 1024 && this.start * 2 > this.times.length) {
      this.times = this.times.slice(this.start);
      this.start = 0;
    }
  }

  /** Index of the first kept time greater than `at`. */
  private upperBound(at: number): number {
    let lo = this.start;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.times[mid]! <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
