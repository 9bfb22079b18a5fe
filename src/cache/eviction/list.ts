/**
 * Index-based building blocks shared by the eviction policies: a slot allocator and intrusive
 * doubly linked lists over typed arrays. Everything is preallocated; no operation allocates, and
 * every operation is O(1) except `LinkedLists.reset` (O(number of lists)).
 *
 * The policies address their entries by small integer ids ("slots"); a slot's key, value and
 * per-policy metadata live in parallel arrays indexed by it, and these structures only shuffle
 * the ids. No bounds or state checks are made (the callers' invariants guarantee them): they sit
 * on every cache hit.
 *
 * Performance notes, for these classes, `SlotTable` and the policies alike:
 * - Fields set in a constructor are `declare`d. Under ES2022 class-field semantics a bare
 *   declaration first defines the field as `undefined`; V8 then widens the field's type, so every
 *   hot read of a small integer or of a typed array pays extra checks.
 * - Policies hold these objects (composition) and keep their hot methods to themselves: every
 *   instance of a shared class has the same shape, so the shared code stays monomorphic even
 *   when one process runs several policies. (Hot code in a common base class would see one shape
 *   per policy, and go megamorphic past four.)
 * - The hot methods are small, so that V8 inlines them into the policies' `get` and `set`.
 */

/**
 * Hands out the integer ids `[first, first + count)`. Released ids are reused, last released
 * first, before any never-used id; never-used ids come in ascending order. The caller never holds
 * more than `count` ids at once and never releases an id twice.
 */
export class SlotPool {
  declare private readonly first: number;
  declare private readonly released: Int32Array;
  private releasedCount = 0;
  declare private fresh: number;

  constructor(first: number, count: number) {
    this.first = first;
    this.released = new Int32Array(count);
    this.fresh = first;
  }

  alloc(): number {
    return this.releasedCount > 0 ? this.released[--this.releasedCount]! : this.fresh++;
  }

  release(id: number): void {
    this.released[this.releasedCount++] = id;
  }

  /** Forgets every id handed out: the pool is as freshly constructed. */
  reset(): void {
    this.releasedCount = 0;
    this.fresh = this.first;
  }
}

/**
 * A family of circular doubly linked lists threaded through two shared Int32Arrays, `next` and
 * `prev`, over `nodes` node ids `[0, nodes)`. List `i` (for `i` in `[0, lists)`) is identified by
 * its sentinel node `nodes + i`, and every method takes a list by its sentinel:
 *
 * - `next[sentinel]` is the list's first node and `prev[sentinel]` its last; an empty list's
 *   sentinel links to itself. Walking `next` from the first node reaches the sentinel after the
 *   last one.
 * - A node is in at most one list at a time. The links of a node that is in no list are stale and
 *   must not be read; a node must be unlinked before it is linked again.
 *
 * The FIFO-like policies keep each queue oldest first (`first` = tail = next to evict, `last` =
 * head = newest); LFU keeps its buckets in ascending priority.
 */
export class LinkedLists {
  declare readonly nodes: number;
  declare readonly lists: number;
  declare readonly next: Int32Array;
  declare readonly prev: Int32Array;

  constructor(nodes: number, lists: number) {
    this.nodes = nodes;
    this.lists = lists;
    this.next = new Int32Array(nodes + lists);
    this.prev = new Int32Array(nodes + lists);
    for (let s = nodes; s < nodes + lists; s++) this.empty(s);
  }

  /** The sentinel of list `i`. */
  sentinel(i: number): number {
    return this.nodes + i;
  }

  /** The first node of the list, or the sentinel itself when the list is empty. */
  first(sentinel: number): number {
    return this.next[sentinel]!;
  }

  /** The last node of the list, or the sentinel itself when the list is empty. */
  last(sentinel: number): number {
    return this.prev[sentinel]!;
  }

  isEmpty(sentinel: number): boolean {
    return this.next[sentinel] === sentinel;
  }

  /** Appends `node` after the list's last node. */
  pushLast(sentinel: number, node: number): void {
    const next = this.next;
    const prev = this.prev;
    const last = prev[sentinel]!;
    prev[node] = last;
    next[node] = sentinel;
    next[last] = node;
    prev[sentinel] = node;
  }

  /** Links `node` right after `anchor`, a linked node or a sentinel (after a sentinel = first). */
  insertAfter(anchor: number, node: number): void {
    const next = this.next;
    const prev = this.prev;
    const after = next[anchor]!;
    prev[node] = anchor;
    next[node] = after;
    next[anchor] = node;
    prev[after] = node;
  }

  /** Removes `node` from its list (its own links go stale). */
  unlink(node: number): void {
    const next = this.next;
    const prev = this.prev;
    const before = prev[node]!;
    const after = next[node]!;
    next[before] = after;
    prev[after] = before;
  }

  /** Unlinks `node` from wherever it is and appends it to the list (possibly the same one). */
  moveToLast(sentinel: number, node: number): void {
    this.unlink(node);
    this.pushLast(sentinel, node);
  }

  /** Empties one list (its former nodes' links go stale). */
  empty(sentinel: number): void {
    this.next[sentinel] = sentinel;
    this.prev[sentinel] = sentinel;
  }

  /** Empties every list. */
  reset(): void {
    for (let s = this.nodes; s < this.nodes + this.lists; s++) this.empty(s);
  }
}

