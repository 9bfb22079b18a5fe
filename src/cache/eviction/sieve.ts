import { LinkedLists } from './list.js';
import { SlotPolicy } from './table.js';

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
 * Layout: the {@link SlotPolicy} table (Map key → slot); one {@link LinkedLists} queue over the
 * slots, tail (oldest) first, so "toward the head" is `next`; a Uint8Array of visited bits.
 * O(1) amortised (the hand clears each bit at most once per pass).
 */
export class SievePolicy<K, V> extends SlotPolicy<K, V> {
  readonly name = 'sieve' as const;
  declare private readonly queue: LinkedLists;
  declare private readonly q: number; // the queue's sentinel
  declare private readonly visited: Uint8Array;
  private hand = -1;

  constructor(capacity: number) {
    super(capacity);
    this.queue = new LinkedLists(capacity, 1);
    this.q = this.queue.sentinel(0);
    this.visited = new Uint8Array(capacity);
  }

  get(key: K): V | undefined {
    const slot = this.table.slotOf(key);
    if (slot < 0) return undefined;
    this.visited[slot] = 1;
    return this.table.valueOf[slot];
  }

  set(key: K, value: V): void {
    const table = this.table;
    const found = table.slotOf(key);
    if (found >= 0) {
      table.valueOf[found] = value;
      this.visited[found] = 1;
      return;
    }
    if (table.size >= this.capacity) this.evict();
    const slot = table.store(key, value);
    this.visited[slot] = 0;
    this.queue.pushLast(this.q, slot);
  }

  delete(key: K): boolean {
    const slot = this.table.slotOf(key);
    if (slot < 0) return false;
    if (slot === this.hand) this.hand = this.stepTowardHead(slot);
    this.remove(slot);
    return true;
  }

  clear(): void {
    this.table.clear();
    this.queue.reset();
    this.hand = -1;
  }

  /** The neighbour toward the head, or -1 (null hand) past the head. */
  private stepTowardHead(slot: number): number {
    const next = this.queue.next[slot]!;
    return next === this.q ? -1 : next;
  }

  private evict(): void {
    const sentinel = this.q;
    const visited = this.visited;
    const next = this.queue.next;
    let slot = this.hand >= 0 ? this.hand : next[sentinel]!;
    while (visited[slot] === 1) {
      visited[slot] = 0;
      slot = next[slot]!;
      if (slot === sentinel) slot = next[sentinel]!;
    }
    this.hand = this.stepTowardHead(slot);
    this.remove(slot);
  }

  private remove(slot: number): void {
    this.queue.unlink(slot);
    this.table.forget(slot);
  }
}
