import type { EvictionPolicy } from './policy.js';

const SMALL = 0;
const MAIN = 1;

/**
 * S3-FIFO — Yang, Zhang, Qiu, Yue, Rashmi, "FIFO queues are all you need for cache eviction",
 * SOSP 2023 (Algorithm 1), with the details of the authors' libCacheSim `S3FIFO.c`.
 *
 * Three FIFO queues: small S (target `max(1, round(0.1·capacity))` entries), main M (the rest),
 * and a ghost G holding only keys, at most `max(1, capacity − target(S))` of them (sized like M).
 * Each resident key has a 2-bit frequency, capped at 3.
 * - Hit (`get`, or `set` on a resident key): `freq = min(freq + 1, 3)`; nothing moves.
 * - Insert of a new key: if it is in G, remove it from G (first, as libCacheSim does on lookup);
 *   then, while |S| + |M| ≥ capacity, evict; then insert at the head of M if it was in G, else
 *   at the head of S, with `freq = 0`.
 * - Evict: if |S| ≥ target(S) evict from S, else from M.
 * - Evict from S: repeatedly take S's tail; if `freq > 0` move it to M's head with `freq = 0`
 *   (promotion) and continue; otherwise move its key to G's head (dropping G's tail if G is
 *   full) and stop. If S empties first, the caller's loop evicts from M next.
 * - Evict from M: repeatedly take M's tail; if `freq > 0`, reinsert it at M's head with
 *   `freq − 1`; otherwise evict it and stop.
 * - `delete` removes a resident key from S or M and leaves G untouched.
 *
 * Layout: one Map key → slot for residents and ghosts. Slots `[0, capacity)` are resident,
 * `[capacity, capacity + ghostCapacity)` are ghost slots (key only). All three queues are
 * circular doubly linked lists over the same Int32Arrays, each with its own sentinel slot.
 * O(1) amortised: every reinsertion in M spends one of at most 3 frequency units.
 */
export class S3FifoPolicy<K, V> implements EvictionPolicy<K, V> {
  readonly name = 's3fifo' as const;
  readonly capacity: number;
  readonly smallTarget: number;
  readonly ghostCapacity: number;
  private readonly index = new Map<K, number>();
  private readonly keyOf: (K | undefined)[];
  private readonly valueOf: (V | undefined)[];
  private readonly newer: Int32Array;
  private readonly older: Int32Array;
  private readonly freq: Uint8Array;
  private readonly queueOf: Uint8Array;
  private readonly freeSlots: Int32Array;
  private readonly freeGhostSlots: Int32Array;
  private readonly smallQ: number;
  private readonly mainQ: number;
  private readonly ghostQ: number;
  private freeCount = 0;
  private used = 0;
  private freeGhostCount = 0;
  private usedGhost = 0;
  private smallSize = 0;
  private mainSize = 0;
  private ghostSize = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.smallTarget = Math.max(1, Math.round(capacity * 0.1));
    this.ghostCapacity = Math.max(1, capacity - this.smallTarget);
    const slots = capacity + this.ghostCapacity;
    this.smallQ = slots;
    this.mainQ = slots + 1;
    this.ghostQ = slots + 2;
    this.keyOf = new Array<K | undefined>(slots).fill(undefined);
    this.valueOf = new Array<V | undefined>(capacity).fill(undefined);
    this.newer = new Int32Array(slots + 3);
    this.older = new Int32Array(slots + 3);
    this.freq = new Uint8Array(capacity);
    this.queueOf = new Uint8Array(capacity);
    this.freeSlots = new Int32Array(capacity);
    this.freeGhostSlots = new Int32Array(this.ghostCapacity);
    this.resetQueues();
  }

  get size(): number {
    return this.smallSize + this.mainSize;
  }

  get(key: K): V | undefined {
    const slot = this.index.get(key);
    if (slot === undefined || slot >= this.capacity) return undefined;
    const f = this.freq[slot]!;
    if (f < 3) this.freq[slot] = f + 1;
    return this.valueOf[slot];
  }

  peek(key: K): V | undefined {
    const slot = this.index.get(key);
    if (slot === undefined || slot >= this.capacity) return undefined;
    return this.valueOf[slot];
  }

  set(key: K, value: V): void {
    const found = this.index.get(key);
    let wasGhost = false;
    if (found !== undefined) {
      if (found < this.capacity) {
        this.valueOf[found] = value;
        const f = this.freq[found]!;
        if (f < 3) this.freq[found] = f + 1;
        return;
      }
      // In the ghost: forget it there; it will be admitted straight into M.
      wasGhost = true;
      this.unlink(found);
      this.ghostSize--;
      this.keyOf[found] = undefined;
      this.freeGhostSlots[this.freeGhostCount++] = found;
      this.index.delete(key);
    }
    while (this.smallSize + this.mainSize >= this.capacity) {
      if (this.smallSize >= this.smallTarget) this.evictSmall();
      else this.evictMain();
    }
    const slot = this.freeCount > 0 ? this.freeSlots[--this.freeCount]! : this.used++;
    this.keyOf[slot] = key;
    this.valueOf[slot] = value;
    this.freq[slot] = 0;
    if (wasGhost) {
      this.queueOf[slot] = MAIN;
      this.pushNewest(this.mainQ, slot);
      this.mainSize++;
    } else {
      this.queueOf[slot] = SMALL;
      this.pushNewest(this.smallQ, slot);
      this.smallSize++;
    }
    this.index.set(key, slot);
  }

  delete(key: K): boolean {
    const slot = this.index.get(key);
    if (slot === undefined || slot >= this.capacity) return false;
    this.unlink(slot);
    if (this.queueOf[slot] === SMALL) this.smallSize--;
    else this.mainSize--;
    this.index.delete(key);
    this.releaseResident(slot);
    return true;
  }

  clear(): void {
    this.index.clear();
    this.keyOf.fill(undefined);
    this.valueOf.fill(undefined);
    this.freeCount = 0;
    this.used = 0;
    this.freeGhostCount = 0;
    this.usedGhost = 0;
    this.smallSize = 0;
    this.mainSize = 0;
    this.ghostSize = 0;
    this.resetQueues();
  }

  private resetQueues(): void {
    for (const q of [this.smallQ, this.mainQ, this.ghostQ]) {
      this.newer[q] = q;
      this.older[q] = q;
    }
  }

  private evictSmall(): void {
    const newer = this.newer;
    const smallQ = this.smallQ;
    while (this.smallSize > 0) {
      const tail = newer[smallQ]!;
      this.unlink(tail);
      this.smallSize--;
      if (this.freq[tail]! > 0) {
        this.freq[tail] = 0;
        this.queueOf[tail] = MAIN;
        this.pushNewest(this.mainQ, tail);
        this.mainSize++;
        continue;
      }
      const key = this.keyOf[tail] as K;
      this.releaseResident(tail);
      let ghost: number;
      if (this.ghostSize >= this.ghostCapacity) {
        ghost = newer[this.ghostQ]!;
        this.unlink(ghost);
        this.index.delete(this.keyOf[ghost] as K);
      } else {
        ghost = this.freeGhostCount > 0 ? this.freeGhostSlots[--this.freeGhostCount]! : this.capacity + this.usedGhost++;
        this.ghostSize++;
      }
      this.keyOf[ghost] = key;
      this.pushNewest(this.ghostQ, ghost);
      this.index.set(key, ghost);
      return;
    }
  }

  private evictMain(): void {
    const newer = this.newer;
    const mainQ = this.mainQ;
    const freq = this.freq;
    while (this.mainSize > 0) {
      const tail = newer[mainQ]!;
      const f = freq[tail]!;
      if (f > 0) {
        freq[tail] = f - 1;
        this.unlink(tail);
        this.pushNewest(mainQ, tail);
        continue;
      }
      this.unlink(tail);
      this.mainSize--;
      this.index.delete(this.keyOf[tail] as K);
      this.releaseResident(tail);
      return;
    }
  }

  private releaseResident(slot: number): void {
    this.keyOf[slot] = undefined;
    this.valueOf[slot] = undefined;
    this.freeSlots[this.freeCount++] = slot;
  }

  private pushNewest(queue: number, slot: number): void {
    const newest = this.older[queue]!;
    this.older[slot] = newest;
    this.newer[slot] = queue;
    this.newer[newest] = slot;
    this.older[queue] = slot;
  }

  private unlink(slot: number): void {
    const before = this.older[slot]!;
    const after = this.newer[slot]!;
    this.newer[before] = after;
    this.older[after] = before;
  }
}
