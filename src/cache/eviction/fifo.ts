import { LinkedLists } from './list.js';
import { SlotPolicy } from './table.js';

/**
 * FIFO: evict in insertion order, ignoring hits.
 *
 * Rules: a new key enters at the head (newest end); when the cache is full the key at the tail
 * (oldest) is evicted first. `get`, `peek` and `set` on a resident key change no order (a
 * replaced value keeps its queue position). `delete` unlinks the key.
 *
 * Layout: the {@link SlotPolicy} table (Map key → slot) and one {@link LinkedLists} queue over
 * the slots, oldest first. O(1) per operation, no allocation after construction apart from the
 * Map's own.
 */
export class FifoPolicy<K, V> extends SlotPolicy<K, V> {
  readonly name = 'fifo' as const;
  declare private readonly queue: LinkedLists;
  declare private readonly q: number; // the queue's sentinel

  constructor(capacity: number) {
    super(capacity);
    this.queue = new LinkedLists(capacity, 1);
    this.q = this.queue.sentinel(0);
  }

  get(key: K): V | undefined {
    return this.table.peek(key);
  }

  set(key: K, value: V): void {
    const table = this.table;
    const found = table.slotOf(key);
    if (found >= 0) {
      table.valueOf[found] = value;
      return;
    }
    if (table.size >= this.capacity) this.remove(this.queue.first(this.q));
    this.queue.pushLast(this.q, table.store(key, value));
  }

  delete(key: K): boolean {
    const slot = this.table.slotOf(key);
    if (slot < 0) return false;
    this.remove(slot);
    return true;
  }

  clear(): void {
    this.table.clear();
    this.queue.reset();
  }

  private remove(slot: number): void {
    this.queue.unlink(slot);
    this.table.forget(slot);
  }
}
