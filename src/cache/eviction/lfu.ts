import type { EvictionPolicy } from './policy.js';

/**
 * LFU with Dynamic Aging (LFU-DA) — Arlitt, Cherkasova, Dilley, Friedrich, Jin, "Evaluating
 * content management techniques for Web proxy caches", ACM SIGMETRICS PER 27(4), 2000 — in the
 * O(1) frequency-bucket layout of Shah, Mitra, Matani, "An O(1) algorithm for implementing the
 * LFU cache eviction scheme" (2010).
 *
 * Aging is age-based, not periodic halving: the cache keeps an age `L`, initially 0.
 * - Every resident key has a priority. A new key enters with priority `L + 1`.
 * - A hit (`get`, or `set` on a resident key) adds 1 to the key's priority.
 * - Eviction removes the key with the lowest priority; among equal priorities, the one that
 *   reached that priority first (LRU among ties). `L` becomes the evicted key's priority.
 * So a key that was popular long ago is overtaken as `L` rises with every eviction: its old
 * count buys it a finite head start, not residence forever. `delete` does not change `L`;
 * `clear` resets it to 0.
 *
 * Layout: a Map key → slot; buckets (one per distinct priority) in an ascending circular doubly
 * linked list with a sentinel; each bucket holds its keys in a doubly linked list in arrival
 * order. A hit moves a key to the adjacent bucket (priority + 1), an insert lands at `L + 1`,
 * which is next to the lowest bucket because every priority is ≥ `L`. O(1) per operation, all
 * storage in preallocated typed arrays.
 */
export class LfuPolicy<K, V> implements EvictionPolicy<K, V> {
  readonly name = 'lfu' as const;
  readonly capacity: number;
  private readonly index = new Map<K, number>();
  private readonly keyOf: (K | undefined)[];
  private readonly valueOf: (V | undefined)[];
  // entries
  private readonly bucketOf: Int32Array;
  private readonly nextInBucket: Int32Array;
  private readonly prevInBucket: Int32Array;
  private readonly freeSlots: Int32Array;
  private freeCount = 0;
  private used = 0;
  // buckets: ids [0, capacity], sentinel = capacity + 1
  private readonly priority: Float64Array;
  private readonly bucketNext: Int32Array;
  private readonly bucketPrev: Int32Array;
  private readonly firstEntry: Int32Array;
  private readonly lastEntry: Int32Array;
  private readonly freeBuckets: Int32Array;
  private freeBucketCount = 0;
  private usedBuckets = 0;
  private readonly sentinel: number;
  private age = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.keyOf = new Array<K | undefined>(capacity).fill(undefined);
    this.valueOf = new Array<V | undefined>(capacity).fill(undefined);
    this.bucketOf = new Int32Array(capacity);
    this.nextInBucket = new Int32Array(capacity);
    this.prevInBucket = new Int32Array(capacity);
    this.freeSlots = new Int32Array(capacity);
    const buckets = capacity + 2;
    this.sentinel = capacity + 1;
    this.priority = new Float64Array(buckets);
    this.bucketNext = new Int32Array(buckets);
    this.bucketPrev = new Int32Array(buckets);
    this.firstEntry = new Int32Array(buckets);
    this.lastEntry = new Int32Array(buckets);
    this.freeBuckets = new Int32Array(buckets);
    this.bucketNext[this.sentinel] = this.sentinel;
    this.bucketPrev[this.sentinel] = this.sentinel;
  }

  get size(): number {
    return this.index.size;
  }

  get(key: K): V | undefined {
    const slot = this.index.get(key);
    if (slot === undefined) return undefined;
    this.touch(slot);
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
      this.touch(found);
      return;
    }
    if (this.index.size >= this.capacity) this.evict();
    const slot = this.freeCount > 0 ? this.freeSlots[--this.freeCount]! : this.used++;
    this.keyOf[slot] = key;
    this.valueOf[slot] = value;
    this.index.set(key, slot);

    const target = this.age + 1;
    const sentinel = this.sentinel;
    // Every priority is >= age, so this walks at most one bucket.
    let before = sentinel;
    let next = this.bucketNext[sentinel]!;
    while (next !== sentinel && this.priority[next]! < target) {
      before = next;
      next = this.bucketNext[next]!;
    }
    const bucket = next !== sentinel && this.priority[next] === target ? next : this.newBucketAfter(before, target);
    this.append(bucket, slot);
  }

  delete(key: K): boolean {
    const slot = this.index.get(key);
    if (slot === undefined) return false;
    this.detach(slot);
    this.release(slot);
    return true;
  }

  clear(): void {
    this.index.clear();
    this.keyOf.fill(undefined);
    this.valueOf.fill(undefined);
    this.freeCount = 0;
    this.used = 0;
    this.freeBucketCount = 0;
    this.usedBuckets = 0;
    this.bucketNext[this.sentinel] = this.sentinel;
    this.bucketPrev[this.sentinel] = this.sentinel;
    this.age = 0;
  }

  /** A hit: move the entry to the bucket of priority + 1. */
  private touch(slot: number): void {
    const bucket = this.bucketOf[slot]!;
    const target = this.priority[bucket]! + 1;
    const next = this.bucketNext[bucket]!;
    if (next !== this.sentinel && this.priority[next] === target) {
      this.detach(slot);
      this.append(next, slot);
    } else if (this.firstEntry[bucket] === slot && this.lastEntry[bucket] === slot) {
      this.priority[bucket] = target; // alone in its bucket: renumber it in place
    } else {
      const fresh = this.newBucketAfter(bucket, target);
      this.detach(slot);
      this.append(fresh, slot);
    }
  }

  private evict(): void {
    const lowest = this.bucketNext[this.sentinel]!;
    const victim = this.firstEntry[lowest]!;
    this.age = this.priority[lowest]!;
    this.detach(victim);
    this.release(victim);
  }

  private release(slot: number): void {
    this.index.delete(this.keyOf[slot] as K);
    this.keyOf[slot] = undefined;
    this.valueOf[slot] = undefined;
    this.freeSlots[this.freeCount++] = slot;
  }

  private newBucketAfter(before: number, priority: number): number {
    const bucket = this.freeBucketCount > 0 ? this.freeBuckets[--this.freeBucketCount]! : this.usedBuckets++;
    const after = this.bucketNext[before]!;
    this.priority[bucket] = priority;
    this.firstEntry[bucket] = -1;
    this.lastEntry[bucket] = -1;
    this.bucketPrev[bucket] = before;
    this.bucketNext[bucket] = after;
    this.bucketNext[before] = bucket;
    this.bucketPrev[after] = bucket;
    return bucket;
  }

  private append(bucket: number, slot: number): void {
    const last = this.lastEntry[bucket]!;
    this.bucketOf[slot] = bucket;
    this.prevInBucket[slot] = last;
    this.nextInBucket[slot] = -1;
    if (last === -1) this.firstEntry[bucket] = slot;
    else this.nextInBucket[last] = slot;
    this.lastEntry[bucket] = slot;
  }

  /** Unlinks the entry from its bucket, and drops the bucket if it became empty. */
  private detach(slot: number): void {
    const bucket = this.bucketOf[slot]!;
    const prev = this.prevInBucket[slot]!;
    const next = this.nextInBucket[slot]!;
    if (prev === -1) this.firstEntry[bucket] = next;
    else this.nextInBucket[prev] = next;
    if (next === -1) this.lastEntry[bucket] = prev;
    else this.prevInBucket[next] = prev;
    if (this.firstEntry[bucket] === -1) {
      const before = this.bucketPrev[bucket]!;
      const after = this.bucketNext[bucket]!;
      this.bucketNext[before] = after;
      this.bucketPrev[after] = before;
      this.freeBuckets[this.freeBucketCount++] = bucket;
    }
  }
}
