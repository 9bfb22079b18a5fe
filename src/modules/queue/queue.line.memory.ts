/**
 * The in-process waiting room's data structures (see queue.store.memory.ts): the line of waiting
 * users, with positions in O(log n), and the log of admission times.
 */

/** A place in a WaitingLine; its slot moves when the line compacts. */
export interface Ticket {
  slot: number;
  readonly userId: string;
  /** When the user joined (epoch ms). */
  readonly joinedAt: number;
  /** The entry's join order (LinePlace.order): the line is sorted by it. */
  readonly order: number;
}

/**
 * The waiting entries in first-in-first-out order. Each push takes the next slot of an array; a
 * Fenwick tree over the slots (1 = occupied) gives a ticket's position as a prefix sum in
 * O(log n), and removal from anywhere in the line is O(log n). When the slots run out the line
 * compacts the occupied slots to the front (order kept) into an array twice the live size, so
 * pushes cost amortised O(1) however many entries left from the middle. Pushes come in join order;
 * an entry put back at its old place (`insert`) costs O(n), which only a restart of the process
 * asks for, once per entry that was in line.
 */
export class WaitingLine {
  private slots: (Ticket | undefined)[] = new Array<Ticket | undefined>(16);
  private tree = new Int32Array(17);
  /** The next free slot; every slot from here on is empty. */
  private end = 0;
  /** Every slot before this one is empty. */
  private head = 0;
  size = 0;

  push(userId: string, joinedAt: number, order: number): Ticket {
    if (this.end === this.slots.length) this.compact();
    const ticket: Ticket = { slot: this.end++, userId, joinedAt, order };
    this.slots[ticket.slot] = ticket;
    this.add(ticket.slot, 1);
    this.size++;
    return ticket;
  }

  /** Puts the user in line by `order`: behind every ticket of a lower order, ahead of the others. */
  insert(userId: string, joinedAt: number, order: number): Ticket {
    const live = this.live();
    const last = live[live.length - 1];
    if (!last || last.order < order) return this.push(userId, joinedAt, order);
    const ticket: Ticket = { slot: 0, userId, joinedAt, order };
    let at = 0;
    while (live[at]!.order < order) at++;
    live.splice(at, 0, ticket);
    this.rebuild(live);
    this.size++;
    return ticket;
  }

  remove(ticket: Ticket) {
    if (this.slots[ticket.slot] !== ticket) return;
    this.slots[ticket.slot] = undefined;
    this.add(ticket.slot, -1);
    this.size--;
  }

  /** 1-based place in line: how many occupied slots up to and including the ticket's. */
  position(ticket: Ticket): number {
    let sum = 0;
    for (let i = ticket.slot + 1; i > 0; i -= i & -i) sum += this.tree[i]!;
    return sum;
  }

  /** The ticket at the head of the line, left in place. */
  peek(): Ticket | undefined {
    if (this.size === 0) return undefined;
    while (this.slots[this.head] === undefined) this.head++;
    return this.slots[this.head];
  }

  /** Removes and returns the user at the head of the line. */
  shift(): string | undefined {
    const ticket = this.peek();
    if (!ticket) return undefined;
    this.remove(ticket);
    return ticket.userId;
  }

  private add(slot: number, delta: number) {
    for (let i = slot + 1; i < this.tree.length; i += i & -i) this.tree[i]! += delta;
  }

  private live(): Ticket[] {
    const live: Ticket[] = [];
    for (let i = this.head; i < this.end; i++) {
      const ticket = this.slots[i];
      if (ticket) live.push(ticket);
    }
    return live;
  }

  private compact() {
    this.rebuild(this.live());
  }

  /** Lays `live` (in line order) out from slot 0 in an array twice its size. */
  private rebuild(live: Ticket[]) {
    const capacity = Math.max(16, 2 * live.length);
    this.slots = new Array<Ticket | undefined>(capacity);
    this.tree = new Int32Array(capacity + 1);
    live.forEach((ticket, slot) => {
      ticket.slot = slot;
      this.slots[slot] = ticket;
      this.tree[slot + 1] = 1;
    });
    // Build the Fenwick tree in O(n): push each node's sum to its parent.
    for (let i = 1; i <= capacity; i++) {
      const parent = i + (i & -i);
      if (parent <= capacity) this.tree[parent]! += this.tree[i]!;
    }
    this.head = 0;
    this.end = live.length;
  }
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
