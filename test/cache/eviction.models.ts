// ---------------------------------------------------------------------------------------------
// Reference models: slow, linear scans over arrays, written straight from each paper's rules.
// Arrays are ordered oldest first (index 0 = tail / LRU end).
// ---------------------------------------------------------------------------------------------

export interface Model {
  get(key: number): string | undefined;
  set(key: number, value: string): void;
  delete(key: number): boolean;
  clear(): void;
  entries(): Map<number, string>;
}

export interface Item {
  key: number;
  value: string;
}

export function findIn<T extends Item>(list: T[], key: number): number {
  return list.findIndex((e) => e.key === key);
}

export function toMap(...lists: Item[][]): Map<number, string> {
  const m = new Map<number, string>();
  for (const list of lists) for (const e of list) m.set(e.key, e.value);
  return m;
}

export class FifoModel implements Model {
  q: Item[] = [];
  constructor(readonly capacity: number) {}
  get(key: number) {
    return this.q.find((e) => e.key === key)?.value;
  }
  set(key: number, value: string) {
    const i = findIn(this.q, key);
    if (i >= 0) {
      this.q[i]!.value = value;
      return;
    }
    if (this.q.length >= this.capacity) this.q.shift();
    this.q.push({ key, value });
  }
  delete(key: number) {
    const i = findIn(this.q, key);
    if (i < 0) return false;
    this.q.splice(i, 1);
    return true;
  }
  clear() {
    this.q = [];
  }
  entries() {
    return toMap(this.q);
  }
}

export class LruModel implements Model {
  q: Item[] = [];
  constructor(readonly capacity: number) {}
  get(key: number) {
    const i = findIn(this.q, key);
    if (i < 0) return undefined;
    const [e] = this.q.splice(i, 1);
    this.q.push(e!);
    return e!.value;
  }
  set(key: number, value: string) {
    const i = findIn(this.q, key);
    if (i >= 0) this.q.splice(i, 1);
    else if (this.q.length >= this.capacity) this.q.shift();
    this.q.push({ key, value });
  }
  delete(key: number) {
    const i = findIn(this.q, key);
    if (i < 0) return false;
    this.q.splice(i, 1);
    return true;
  }
  clear() {
    this.q = [];
  }
  entries() {
    return toMap(this.q);
  }
}

/** LFU-DA: evict min priority (ties: earliest to reach it); L := evicted priority; insert at L+1. */
export class LfuDaModel implements Model {
  items: (Item & { priority: number; since: number })[] = [];
  age = 0;
  clock = 0;
  constructor(readonly capacity: number) {}
  private hit(e: { priority: number; since: number }) {
    e.priority += 1;
    e.since = ++this.clock;
  }
  get(key: number) {
    const e = this.items.find((x) => x.key === key);
    if (!e) return undefined;
    this.hit(e);
    return e.value;
  }
  set(key: number, value: string) {
    const e = this.items.find((x) => x.key === key);
    if (e) {
      e.value = value;
      this.hit(e);
      return;
    }
    if (this.items.length >= this.capacity) {
      let v = 0;
      for (let i = 1; i < this.items.length; i++) {
        const a = this.items[i]!;
        const b = this.items[v]!;
        if (a.priority < b.priority || (a.priority === b.priority && a.since < b.since)) v = i;
      }
      this.age = this.items[v]!.priority;
      this.items.splice(v, 1);
    }
    this.items.push({ key, value, priority: this.age + 1, since: ++this.clock });
  }
  delete(key: number) {
    const i = findIn(this.items, key);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }
  clear() {
    this.items = [];
    this.age = 0;
  }
  entries() {
    return toMap(this.items);
  }
}

/** SIEVE, NSDI'24 Algorithm 1, with q[0] = tail (oldest) and q[q.length-1] = head (newest). */
export class SieveModel implements Model {
  q: (Item & { visited: boolean })[] = [];
  hand: (Item & { visited: boolean }) | null = null;
  constructor(readonly capacity: number) {}
  get(key: number) {
    const e = this.q.find((x) => x.key === key);
    if (!e) return undefined;
    e.visited = true;
    return e.value;
  }
  set(key: number, value: string) {
    const e = this.q.find((x) => x.key === key);
    if (e) {
      e.value = value;
      e.visited = true;
      return;
    }
    if (this.q.length >= this.capacity) {
      let i = this.hand ? this.q.indexOf(this.hand) : 0;
      while (this.q[i]!.visited) {
        this.q[i]!.visited = false;
        i = i + 1 < this.q.length ? i + 1 : 0; // toward the head, wrapping to the tail
      }
      this.hand = i + 1 < this.q.length ? this.q[i + 1]! : null;
      this.q.splice(i, 1);
    }
    this.q.push({ key, value, visited: false });
  }
  delete(key: number) {
    const i = findIn(this.q, key);
    if (i < 0) return false;
    if (this.hand === this.q[i]) this.hand = i + 1 < this.q.length ? this.q[i + 1]! : null;
    this.q.splice(i, 1);
    return true;
  }
  clear() {
    this.q = [];
    this.hand = null;
  }
  entries() {
    return toMap(this.q);
  }
}
