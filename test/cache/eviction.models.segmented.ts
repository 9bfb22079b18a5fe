import { FrequencySketch } from '../../src/cache/eviction/sketch.js';
import { findIn, toMap, type Item, type Model } from './eviction.models.js';

// Reference models of the policies that keep several queues, as in eviction.models.ts.

/** S3-FIFO, SOSP'23 Algorithm 1 (promotion resets freq; G sized like M). */
export class S3FifoModel implements Model {
  S: (Item & { freq: number })[] = [];
  M: (Item & { freq: number })[] = [];
  G: number[] = [];
  readonly smallTarget: number;
  readonly ghostCapacity: number;
  constructor(readonly capacity: number) {
    this.smallTarget = Math.max(1, Math.round(capacity * 0.1));
    this.ghostCapacity = Math.max(1, capacity - this.smallTarget);
  }
  private find(key: number) {
    return this.S.find((x) => x.key === key) ?? this.M.find((x) => x.key === key);
  }
  get(key: number) {
    const e = this.find(key);
    if (!e) return undefined;
    e.freq = Math.min(e.freq + 1, 3);
    return e.value;
  }
  set(key: number, value: string) {
    const e = this.find(key);
    if (e) {
      e.value = value;
      e.freq = Math.min(e.freq + 1, 3);
      return;
    }
    const g = this.G.indexOf(key);
    if (g >= 0) this.G.splice(g, 1);
    while (this.S.length + this.M.length >= this.capacity) {
      if (this.S.length >= this.smallTarget) this.evictS();
      else this.evictM();
    }
    (g >= 0 ? this.M : this.S).push({ key, value, freq: 0 });
  }
  private evictS() {
    while (this.S.length > 0) {
      const t = this.S.shift()!;
      if (t.freq > 0) {
        t.freq = 0;
        this.M.push(t);
      } else {
        this.G.push(t.key);
        if (this.G.length > this.ghostCapacity) this.G.shift();
        return;
      }
    }
  }
  private evictM() {
    while (this.M.length > 0) {
      const t = this.M.shift()!;
      if (t.freq > 0) {
        t.freq -= 1;
        this.M.push(t);
      } else {
        return;
      }
    }
  }
  delete(key: number) {
    for (const q of [this.S, this.M]) {
      const i = findIn(q, key);
      if (i >= 0) {
        q.splice(i, 1);
        return true;
      }
    }
    return false;
  }
  clear() {
    this.S = [];
    this.M = [];
    this.G = [];
  }
  entries() {
    return toMap(this.S, this.M);
  }
}

/** W-TinyLFU (Caffeine layout, static 1% window); frequencies from the policy's own sketch class. */
export class WTinyLfuModel implements Model {
  W: Item[] = [];
  P: Item[] = [];
  R: Item[] = [];
  sketch: FrequencySketch;
  readonly windowCapacity: number;
  readonly mainCapacity: number;
  readonly protectedCapacity: number;
  constructor(readonly capacity: number) {
    this.windowCapacity = Math.max(1, Math.ceil(capacity / 100));
    this.mainCapacity = capacity - this.windowCapacity;
    this.protectedCapacity = Math.floor(this.mainCapacity * 0.8 + 1e-9);
    this.sketch = new FrequencySketch(capacity);
  }
  private hit(key: number): Item | undefined {
    for (const q of [this.W, this.R]) {
      const i = findIn(q, key);
      if (i >= 0) {
        const [e] = q.splice(i, 1);
        q.push(e!);
        return e;
      }
    }
    const i = findIn(this.P, key);
    if (i < 0) return undefined;
    const [e] = this.P.splice(i, 1);
    this.R.push(e!);
    if (this.R.length > this.protectedCapacity) this.P.push(this.R.shift()!);
    return e;
  }
  get(key: number) {
    if (!this.entries().has(key)) return undefined;
    this.sketch.increment(key);
    return this.hit(key)!.value;
  }
  set(key: number, value: string) {
    this.sketch.increment(key);
    const e = this.hit(key);
    if (e) {
      e.value = value;
      return;
    }
    if (this.W.length >= this.windowCapacity) {
      const candidate = this.W.shift()!;
      if (this.P.length + this.R.length < this.mainCapacity) {
        this.P.push(candidate);
      } else {
        const victim = this.P[0];
        if (victim && this.sketch.frequency(candidate.key) > this.sketch.frequency(victim.key)) {
          this.P.shift();
          this.P.push(candidate);
        }
      }
    }
    this.W.push({ key, value });
  }
  delete(key: number) {
    for (const q of [this.W, this.P, this.R]) {
      const i = findIn(q, key);
      if (i >= 0) {
        q.splice(i, 1);
        return true;
      }
    }
    return false;
  }
  clear() {
    this.W = [];
    this.P = [];
    this.R = [];
    this.sketch = new FrequencySketch(this.capacity);
  }
  entries() {
    return toMap(this.W, this.P, this.R);
  }
}
