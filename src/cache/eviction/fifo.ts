import type { EvictionPolicy } from './policy.js';

/**
 * FIFO: evict in insertion order, ignoring hits.
 *
 * Rules: a new key enters at the head (newest end); when the cache is full the key at the tail
 * (oldest) is evicted first. `get`, `peek` and `set` on a resident key change no order (a
 * replaced value keeps its queue position). `delete` unlinks the key.
 *
 * Layout: a Map from key to slot, and a circular doubly linked list over Int32Array slot indices
 * with a sentinel at index `capacity` (`newer[sentinel]` is the oldest, `older[sentinel]` the
 * newest). O(1) per operation, no allocation after construction apart from the Map's own.
 */
export class FifoPolicy<K, V> implements EvictionPolicy<K, V> {
  readonly name = 'fifo' as const;
  readonly capacity: number;
  private readonly index = new Map<K, number>();
  private readonly keyOf: (K | undefined)[];
  private readonly valueOf: (V | undefined)[];
  private readonly newer: Int32Array;
  private readonly older: Int32Array;
  private readonly freeSlots: Int32Array;
  private freeCount = 0;
  private used = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.keyOf = new Array<K | undefined>(capacity).fill(undefined);
    this.valueOf = new Array<V | undefined>(capacity).fill(undefined);
    this.newer = new Int32Array(capacity + 1);
    this.older = new Int32Array(capacity + 1);
    this.freeSlots = new Int32Array(capacity);
    this.newer[capacity] = capacity;
    this.older[capacity] = capacity;
  }

  get size(): number {
    return this.index.size;
  }

  get(key: K): V | undefined {
    const slot = this.index.get(key);
    return slot === undefined ? undefined : this.valueOf[slot];
  }

  peek(key: K): V | undefined {
    const slot = this.index.get(key);
    return slot === undefined ? undefined : this.valueOf[slot];
  }

  set(key: K, value: V): void {
    const found = this.index.get(key);
    if (found !== undefined) {
      this.valueOf[found] = value;
      return;
    }
    if (this.index.size >= this.capacity) this.evict();
    const slot = this.freeCount > 0 ? this.freeSlots[--this.freeCount]! : this.used++;
    this.keyOf[slot] = key;
    this.valueOf[slot] = value;
    const sentinel = this.capacity;
    const newest = this.older[sentinel]!;
    this.older[slot] = newest;
    this.newer[slot] = sentinel;
    this.newer[newest] = slot;
    this.older[sentinel] = slot;
    this.index.set(key, slot);
  }

  delete(key: K): boolean {
    const slot = this.index.get(key);
    if (slot === undefined) return false;
    this.remove(slot);
    return true;
  }

  clear(): void {
    this.index.clear();
    this.keyOf.fill(undefined);
    this.valueOf.fill(undefined);
    this.newer[this.capacity] = this.capacity;
    this.older[this.capacity] = this.capacity;
    this.freeCount = 0;
    this.used = 0;
  }

  private evict(): void {
    this.remove(this.newer[this.capacity]!);
  }

  private remove(slot: number): void {
    const before = this.older[slot]!;
    const after = this.newer[slot]!;
    this.newer[before] = after;
    this.older[after] = before;
    this.index.delete(this.keyOf[slot] as K);
    this.keyOf[slot] = undefined;
    this.valueOf[slot] = undefined;
    this.freeSlots[this.freeCount++] = slot;
  }
}
