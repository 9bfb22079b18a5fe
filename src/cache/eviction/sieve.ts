import type { EvictionPolicy } from './policy.js';

/**
 * SIEVE — Zhang, Yang, Yue, Vigfusson, Rashmi, "SIEVE is Simpler than LRU: an Efficient
 * Turn-Key Eviction Algorithm for Web Caches", NSDI 2024.
 *
 * Rules (the paper's Figure 1 / Algorithm 1):
 * - One FIFO queue; new keys are inserted at the head, with `visited = 0`.
 * - A hit sets `visited = 1` and moves nothing. (`set` on a resident key replaces the value and
 *   also counts as a hit; `peek` does not.)
 * - Eviction: start at the hand, or at the tail when the hand is null. While the object under
 *   it has `visited = 1`, clear the bit and move one step toward the head, wrapping from the
 *   head back to the tail. Evict the first object with `visited = 0` and leave the hand on the
 *   object that was next toward the head (null if the evicted object was the head).
 * - `delete` of the object under the hand moves the hand the same way eviction would.
 *
 * Layout: Map key → slot; circular doubly linked list over Int32Array slots with a sentinel at
 * index `capacity` (`newer[sentinel]` = tail/oldest, `older[sentinel]` = head/newest); a
 * Uint8Array of visited bits. O(1) amortised (the hand clears each bit at most once per pass).
 */
export class SievePolicy<K, V> implements EvictionPolicy<K, V> {
  readonly name = 'sieve' as const;
  readonly capacity: number;
  private readonly index = new Map<K, number>();
  private readonly keyOf: (K | undefined)[];
  private readonly valueOf: (V | undefined)[];
  private readonly newer: Int32Array;
  private readonly older: Int32Array;
  private readonly visited: Uint8Array;
  private readonly freeSlots: Int32Array;
  private freeCount = 0;
  private used = 0;
  private hand = -1;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.keyOf = new Array<K | undefined>(capacity).fill(undefined);
    this.valueOf = new Array<V | undefined>(capacity).fill(undefined);
    this.newer = new Int32Array(capacity + 1);
    this.older = new Int32Array(capacity + 1);
    this.visited = new Uint8Array(capacity);
    this.freeSlots = new Int32Array(capacity);
    this.newer[capacity] = capacity;
    this.older[capacity] = capacity;
  }

  get size(): number {
    return this.index.size;
  }

  get(key: K): V | undefined {
    const slot = this.index.get(key);
    if (slot === undefined) return undefined;
    this.visited[slot] = 1;
    return this.valueOf[slot];
  }

  peek(key: K): V | undefined {
    const slot = this.index.get(key);
    return slot === undefined ? undefined : this.valueOf[slot];
  }

  set(key: K, value: V): void {
    const found = this.index.get(key);
    if (found !== undefined) {
      this.valueOf[found] = value;
      this.visited[found] = 1;
      return;
    }
    if (this.index.size >= this.capacity) this.evict();
    const slot = this.freeCount > 0 ? this.freeSlots[--this.freeCount]! : this.used++;
    this.keyOf[slot] = key;
    this.valueOf[slot] = value;
    this.visited[slot] = 0;
    const sentinel = this.capacity;
    const head = this.older[sentinel]!;
    this.older[slot] = head;
    this.newer[slot] = sentinel;
    this.newer[head] = slot;
    this.older[sentinel] = slot;
    this.index.set(key, slot);
  }

  delete(key: K): boolean {
    const slot = this.index.get(key);
    if (slot === undefined) return false;
    if (slot === this.hand) this.hand = this.stepTowardHead(slot);
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
    this.hand = -1;
  }

  /** The neighbour toward the head, or -1 (null hand) past the head. */
  private stepTowardHead(slot: number): number {
    const next = this.newer[slot]!;
    return next === this.capacity ? -1 : next;
  }

  private evict(): void {
    const sentinel = this.capacity;
    const visited = this.visited;
    const newer = this.newer;
    let slot = this.hand >= 0 ? this.hand : newer[sentinel]!;
    while (visited[slot] === 1) {
      visited[slot] = 0;
      slot = newer[slot]!;
      if (slot === sentinel) slot = newer[sentinel]!;
    }
    this.hand = this.stepTowardHead(slot);
    this.remove(slot);
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
