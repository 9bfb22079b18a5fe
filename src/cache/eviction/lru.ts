import { LRUCache } from 'lru-cache';
import type { EvictionPolicy } from './eviction.types.js';
import { checkCapacity } from './table.js';

// lru-cache requires non-nullish keys and values in its types; the adapter keeps the generic
// interface and casts at the boundary (a nullish key still works: lru-cache keys a Map).
type AnyKey = NonNullable<unknown>;

/**
 * LRU, a thin adapter over the `lru-cache` package (isaacs; typed-array doubly linked list over
 * a Map). It is the yardstick the other policies are measured against.
 *
 * Rules: a hit (`get`) or a `set` on a resident key moves it to the most-recently-used end; a new
 * key is inserted there; when full, the least-recently-used key is evicted. `peek` does not
 * reorder. No TTLs are configured here: expiry belongs to the cache tier above.
 */
export class LruPolicy<K, V> implements EvictionPolicy<K, V> {
  readonly name = 'lru' as const;
  readonly capacity: number;
  private readonly cache: LRUCache<AnyKey, AnyKey>;

  constructor(capacity: number) {
    this.capacity = checkCapacity(capacity);
    this.cache = new LRUCache<AnyKey, AnyKey>({ max: capacity });
  }

  get size(): number {
    return this.cache.size;
  }

  get(key: K): V | undefined {
    return this.cache.get(key as AnyKey) as V | undefined;
  }

  peek(key: K): V | undefined {
    return this.cache.peek(key as AnyKey) as V | undefined;
  }

  set(key: K, value: V): void {
    this.cache.set(key as AnyKey, value as AnyKey);
  }

  delete(key: K): boolean {
    return this.cache.delete(key as AnyKey);
  }

  clear(): void {
    this.cache.clear();
  }
}
