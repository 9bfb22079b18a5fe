/**
 * The in-process waiting room's data structures (see queue.store.memory.ts): the line of waiting
 * users, with positions in O(log n), and the log of admission times.
 */

/** A place in a WaitingLine; its slot (and the level holding it) move when the line compacts or merges. */
export interface Ticket {
  slot: number;
  /** The level of the line that holds it (see WaitingLine). */
  level: WaitingLine;
  readonly userId: string;
  /** When the user joined (epoch ms). */
  readonly joinedAt: number;
  /** The entry's join order (LinePlace.order): the line is sorted by it. Distinct within a line. */
  readonly order: number;
}

/**
 * The waiting entries in first-in-first-out order. Each push takes the next slot of an array; a
 * Fenwick tree over the slots (1 = occupied) counts the occupied slots before any one in O(log n),
 * and removal from anywhere in the line is O(log n). Slots stay sorted by order, a freed slot keeping
 * its ticket's order, so the place of any order is a binary search. When the slots run out the line
 * compacts the occupied slots to the front (order kept) into an array twice the live size, so pushes
 * cost amortised O(1) however many entries left from the middle.
 *
 * Pushes come in join order. An entry put back at its old place (`insert`, after a lost line) that
 * belongs before the last slot goes to a second line of the same kind (`side`), merged into this one
 * (both sorted: linear) once it holds half as many entries; inserts into the side line go the same
 * way, so each entry is merged O(log n) times and an insert costs amortised O(log n). A position
 * sums the entries before it on every level: O(log n) without put-back entries, O(log² n) with.
 */
export class WaitingLine {
  private slots: (Ticket | undefined)[] = new Array<Ticket | undefined>(16);
  /** The order of each slot's ticket, kept after it leaves: ascending over [0, end). */
  private orders = new Float64Array(16);
  private tree = new Int32Array(17);
  /** The next free slot; every slot from here on is empty. */
  private end = 0;
  /** Every slot before this one is empty. */
  private head = 0;
  /** Tickets in this level's slots. */
  private own = 0;
  /** Entries put back out of order, not merged yet. */
  private side: WaitingLine | undefined;

  get size(): number {
    return this.own + (this.side?.size ?? 0);
  }

  push(userId: string, joinedAt: number, order: number): Ticket {
    if (this.end === this.slots.length) this.compact();
    const ticket: Ticket = { slot: this.end++, level: this, userId, joinedAt, order };
    this.slots[ticket.slot] = ticket;
    this.orders[ticket.slot] = order;
    this.add(ticket.slot, 1);
    this.own++;
    return ticket;
  }

  /** Puts the user in line by `order`: behind every ticket of a lower order, ahead of the others. */
  insert(userId: string, joinedAt: number, order: number): Ticket {
    if (this.end === 0 || this.orders[this.end - 1]! < order) return this.push(userId, joinedAt, order);
    const side = (this.side ??= new WaitingLine());
    const ticket = side.insert(userId, joinedAt, order);
    if (2 * side.size > this.own) {
      this.rebuild(mergeByOrder(this.live(), side.drain()));
      this.side = undefined;
    }
    return ticket;
  }

  remove(ticket: Ticket) {
    if (ticket.level !== this) {
      this.side?.remove(ticket);
      return;
    }
    if (this.slots[ticket.slot] !== ticket) return;
    this.slots[ticket.slot] = undefined;
    this.add(ticket.slot, -1);
    this.own--;
  }

  /** 1-based place in line: how many tickets of a lower order there are, plus one. */
  position(ticket: Ticket): number {
    return this.countBelow(ticket.order) + 1;
  }

  /** The ticket at the head of the line, left in place. */
  peek(): Ticket | undefined {
    let mine: Ticket | undefined;
    if (this.own > 0) {
      while (this.slots[this.head] === undefined) this.head++;
      mine = this.slots[this.head];
    }
    const theirs = this.side?.peek();
    return !mine || (theirs && theirs.order < mine.order) ? theirs : mine;
  }

  /** Removes and returns the user at the head of the line. */
  shift(): string | undefined {
    const ticket = this.peek();
    if (!ticket) return undefined;
    this.remove(ticket);
    return ticket.userId;
  }

  /** Tickets of an order below `order`, on every level. */
  private countBelow(order: number): number {
    let lo = 0;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.orders[mid]! < order) lo = mid + 1;
      else hi = mid;
    }
    let sum = 0;
    for (let i = lo; i > 0; i -= i & -i) sum += this.tree[i]!;
    return sum + (this.side?.countBelow(order) ?? 0);
  }

  private add(slot: number, delta: number) {
    for (let i = slot + 1; i < this.tree.length; i += i & -i) this.tree[i]! += delta;
  }

  /** This level's tickets in order. */
  private live(): Ticket[] {
    const live: Ticket[] = [];
    for (let i = this.head; i < this.end; i++) {
      const ticket = this.slots[i];
      if (ticket) live.push(ticket);
    }
    return live;
  }

  /** Every ticket of this line, all levels, in order (the line is left to be dropped). */
  private drain(): Ticket[] {
    return this.side ? mergeByOrder(this.live(), this.side.drain()) : this.live();
  }

  private compact() {
    this.rebuild(this.live());
  }

  /** Lays `live` (in line order) out from slot 0 in an array twice its size. */
  private rebuild(live: Ticket[]) {
    const capacity = Math.max(16, 2 * live.length);
    this.slots = new Array<Ticket | undefined>(capacity);
    this.orders = new Float64Array(capacity);
    this.tree = new Int32Array(capacity + 1);
    live.forEach((ticket, slot) => {
      ticket.slot = slot;
      ticket.level = this;
      this.slots[slot] = ticket;
      this.orders[slot] = ticket.order;
      this.tree[slot + 1] = 1;
    });
    // Build the Fenwick tree in O(n): push each node's sum to its parent.
    for (let i = 1; i <= capacity; i++) {
      const parent = i + (i & -i);
      if (parent <= capacity) this.tree[parent]! += this.tree[i]!;
    }
    this.head = 0;
    this.end = live.length;
    this.own = live.length;
  }
}

/** Two lists sorted by order, merged (linear). */
function mergeByOrder(a: Ticket[], b: Ticket[]): Ticket[] {
  const out: Ticket[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(a[i]!.order < b[j]!.order ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/**
 * Admission times in ascending order (the Redis adapter's ZSET scored by time). Times from one
 * process clock arrive in order, so adding is an append; an out-of-order time is inserted in place.
 * Trimming advances a start index and compacts the array once most of it is dead.
 */
export class AdmissionLog {
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
