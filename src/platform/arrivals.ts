/**
 * The arrivals' lane: the crowd's requests (sign-ups, top-ups, catalogue reads, joins: whatever
 * load shedding would refuse) run at most `limit` at once, and the rest wait their turn in order,
 * in memory, without touching PostgreSQL or Redis. The limit adapts, as TCP's window does: every
 * tick it halves while the instance is under pressure (its event loop lags, or a request waits
 * for a database connection) and grows by one while it is not, between 1 and `max`. So a burst of
 * arrivals queues at the door instead of in the event loop and the pool, where an admitted user's
 * hold would wait behind it, and the crowd is served as fast as the instance has room to spare.
 */
export interface ArrivalLaneOptions {
  /** Most arrivals at once. */
  max: number;
  /** Longest an arrival waits for its turn; then it is refused (`acquire` resolves false). */
  maxWaitMs: number;
  /** Most arrivals waiting; beyond, a new one is refused at once. */
  maxQueue: number;
}

interface Waiter {
  admit(admitted: boolean): void;
  timer: NodeJS.Timeout;
}

export class ArrivalLane {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  /** How many may run at once now. */
  limit: number;

  constructor(private readonly o: ArrivalLaneOptions) {
    this.limit = o.max;
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves true once the arrival may run (then `release` must be called exactly once), false
   * when its wait ran out or the queue is full (it was not run and holds nothing).
   */
  acquire(): Promise<boolean> | boolean {
    if (this.running < this.limit && this.waiting.length === 0) {
      this.running++;
      return true;
    }
    if (this.waiting.length >= this.o.maxQueue) return false;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        admit: resolve,
        timer: setTimeout(() => {
          const at = this.waiting.indexOf(waiter);
          if (at >= 0) this.waiting.splice(at, 1);
          resolve(false);
        }, this.o.maxWaitMs),
      };
      this.waiting.push(waiter);
    });
  }

  release(): void {
    this.running--;
    this.admitWaiting();
  }

  /** One tick of the adaptation: halve the limit under pressure, else grow it by one. */
  adapt(underPressure: boolean): void {
    this.limit = underPressure ? Math.max(1, Math.floor(this.limit / 2)) : Math.min(this.o.max, this.limit + 1);
    this.admitWaiting();
  }

  private admitWaiting(): void {
    while (this.running < this.limit && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      clearTimeout(next.timer);
      this.running++;
      next.admit(true);
    }
  }
}
