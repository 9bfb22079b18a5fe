import { LinkedLists, SlotPool } from './list.js';
import { SlotPolicy } from './table.js';

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
 * Layout: the {@link SlotPolicy} table (Map key → slot); buckets (one per distinct priority, ids
 * `[0, capacity]`) in one ascending {@link LinkedLists} list; each bucket `b` holds its keys in
 * arrival order in its own list of `entries` (sentinel `capacity + b`). A hit moves a key to the
 * adjacent bucket (priority + 1), an insert lands at `L + 1`, which is next to the lowest bucket
 * because every priority is ≥ `L`. O(1) per operation, all storage in preallocated typed arrays.
 */
export class LfuPolicy<K, V> extends SlotPolicy<K, V> {
  readonly name = 'lfu' as const;
  declare private readonly bucketOf: Int32Array;
  declare private readonly entries: LinkedLists;
  declare private readonly buckets: LinkedLists;
  declare private readonly bucketIds: SlotPool;
  declare private readonly priority: Float64Array;
  declare private readonly order: number; // sentinel of the bucket list
  private age = 0;

  constructor(capacity: number) {
    super(capacity);
    this.bucketOf = new Int32Array(capacity);
    this.entries = new LinkedLists(capacity, capacity + 1);
    this.buckets = new LinkedLists(capacity + 1, 1);
    this.bucketIds = new SlotPool(0, capacity + 1);
    this.priority = new Float64Array(capacity + 1);
    this.order = this.buckets.sentinel(0);
  }

  get(key: K): V | undefined {
    const slot = this.table.slotOf(key);
    if (slot < 0) return undefined;
    this.touch(slot);
    return this.table.valueOf[slot];
  }

  set(key: K, value: V): void {
    const table = this.table;
    const found = table.slotOf(key);
    if (found >= 0) {
      table.valueOf[found] = value;
      this.touch(found);
      return;
    }
    if (table.size >= this.capacity) this.evict();
    const slot = table.store(key, value);
    const target = this.age + 1;
    const order = this.order;
    const next = this.buckets.next;
    // Every priority is >= age, so this walks at most one bucket.
    let before = order;
    let after = next[order]!;
    while (after !== order && this.priority[after]! < target) {
      before = after;
      after = next[after]!;
    }
    const bucket = after !== order && this.priority[after] === target ? after : this.newBucketAfter(before, target);
    this.append(bucket, slot);
  }

  delete(key: K): boolean {
    const slot = this.table.slotOf(key);
    if (slot < 0) return false;
    this.detach(slot);
    this.table.forget(slot);
    return true;
  }

  clear(): void {
    this.table.clear();
    this.bucketIds.reset();
    this.buckets.reset();
    this.age = 0;
  }

  /** A hit: move the entry to the bucket of priority + 1. */
  private touch(slot: number): void {
    const bucket = this.bucketOf[slot]!;
    const target = this.priority[bucket]! + 1;
    const next = this.buckets.next[bucket]!;
    const own = this.capacity + bucket;
    if (next !== this.order && this.priority[next] === target) {
      this.detach(slot);
      this.append(next, slot);
    } else if (this.entries.first(own) === slot && this.entries.last(own) === slot) {
      this.priority[bucket] = target; // alone in its bucket: renumber it in place
    } else {
      const fresh = this.newBucketAfter(bucket, target);
      this.detach(slot);
      this.append(fresh, slot);
    }
  }

  private evict(): void {
    const lowest = this.buckets.first(this.order);
    const victim = this.entries.first(this.capacity + lowest);
    this.age = this.priority[lowest]!;
    this.detach(victim);
    this.table.forget(victim);
  }

  private newBucketAfter(before: number, priority: number): number {
    const bucket = this.bucketIds.alloc();
    this.priority[bucket] = priority;
    this.entries.empty(this.capacity + bucket);
    this.buckets.insertAfter(before, bucket);
    return bucket;
  }

  private append(bucket: number, slot: number): void {
    this.bucketOf[slot] = bucket;
    this.entries.pushLast(this.capacity + bucket, slot);
  }

  /** Unlinks the entry from its bucket, and drops the bucket if it became empty. */
  private detach(slot: number): void {
    const bucket = this.bucketOf[slot]!;
    this.entries.unlink(slot);
    if (this.entries.isEmpty(this.capacity + bucket)) {
      this.buckets.unlink(bucket);
      this.bucketIds.release(bucket);
    }
  }
}
