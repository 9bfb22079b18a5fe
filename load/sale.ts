/**
 * What the sale looked like from the users' side while it ran: how many arrived, wait in line, book,
 * are done; admissions and seats sold per second; time in line; and the records the invariants
 * check against the database (payments answered 201, abandoned holds, cancellations).
 */

export type Phase = 'waiting' | 'active' | 'done';

export type Ending = 'bought' | 'bought-cancelled' | 'abandoned' | 'sold-out' | 'gave-up' | 'failed' | 'cut-off';

export interface TimelinePoint {
  second: number;
  arrived: number;
  waiting: number;
  active: number;
  done: number;
}

export class Sale {
  arrived = 0;
  /** Users who took a place in the line (joined − admitted: never admitted). */
  joined = 0;
  waiting = 0;
  active = 0;
  done = 0;
  readonly endings: Record<string, number> = {};
  /** Where failed journeys stopped: `step status code` → count. */
  readonly failures: Record<string, number> = {};
  readonly timeInLineMs: number[] = [];
  readonly admissionsPerSecond: number[] = [];
  /** Seats paid minus seats refunded, per second. */
  readonly salesPerSecond: number[] = [];
  /** Every 201 answer to a payment: the payment's and the reservation's ids. */
  readonly payments: { id: string; reservationId: string }[] = [];
  readonly abandonedHolds: string[] = [];
  /** Latest heldUntil of an abandoned hold (ms since epoch): the invariants wait past it. */
  lastAbandonedUntilMs = 0;
  /** Cancellations answered 200 (or found CANCELLED after a lost answer): reservation ids. */
  readonly cancelled: string[] = [];
  /** Every user who signed up → top-ups answered 201. */
  readonly topUps = new Map<string, number>();
  /** Payments of abandoned holds that succeeded after heldUntil: each is a broken promise. */
  expiredHoldsPaid = 0;
  readonly timeline: TimelinePoint[] = [];
  /** When a user first found every seat sold; null if none did. */
  firstToldSoldOutSecond: number | null = null;

  constructor(readonly startMs: number) {}

  private second(): number {
    return Math.max(0, Math.floor((Date.now() - this.startMs) / 1000));
  }

  private add(series: number[], n: number) {
    const s = this.second();
    while (series.length <= s) series.push(0);
    series[s]! += n;
  }

  admitted(timeInLineMs: number) {
    this.timeInLineMs.push(timeInLineMs);
    this.add(this.admissionsPerSecond, 1);
  }

  signedUp(userId: string) {
    this.topUps.set(userId, 0);
  }

  toppedUp(userId: string) {
    this.topUps.set(userId, (this.topUps.get(userId) ?? 0) + 1);
  }

  /** Users whose journey failed, was cut off, or who never arrived. */
  unfinished(): { failed: number; cutOff: number; notArrived: number } {
    return { failed: this.endings.failed ?? 0, cutOff: this.endings['cut-off'] ?? 0, notArrived: this.endings['not-arrived'] ?? 0 };
  }

  paid(id: string, reservationId: string) {
    this.payments.push({ id, reservationId });
    this.add(this.salesPerSecond, 1);
  }

  refunded(reservationId: string) {
    this.cancelled.push(reservationId);
    this.add(this.salesPerSecond, -1);
  }

  /** Moves a user between phases (undefined: not yet in one, or leaving all). */
  move(from: Phase | undefined, to: Phase | undefined) {
    if (from) this[from]--;
    if (to) this[to]++;
  }

  end(ending: Ending) {
    if (ending === 'sold-out' && this.firstToldSoldOutSecond === null) this.firstToldSoldOutSecond = this.second();
    this.endings[ending] = (this.endings[ending] ?? 0) + 1;
  }

  /** Samples the counts for the timeline (call once a second). */
  sample() {
    this.timeline.push({ second: this.second(), arrived: this.arrived, waiting: this.waiting, active: this.active, done: this.done });
  }

  /** Seconds from the start until seats sold (paid minus refunded) first reached `seats`; null if never. */
  sellOutSecond(seats: number): number | null {
    let sold = 0;
    for (let s = 0; s < this.salesPerSecond.length; s++) {
      sold += this.salesPerSecond[s]!;
      if (sold >= seats) return s + 1;
    }
    return null;
  }
}
