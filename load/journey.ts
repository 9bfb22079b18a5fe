/**
 * One virtual user's journey as a state machine: sign up, top up, browse, join the line, poll it
 * as told (refreshAfterSeconds), read the seat map when admitted, hold a seat (another one after a
 * lost race), pay with an Idempotency-Key, maybe cancel, leave. With no seat free but some held,
 * the user looks again a little later (a hold may lapse or be cancelled): sold out is every seat
 * SOLD. Every step but the sign-up is safe to repeat (a read, a keyed write, leaving), so a network
 * error or a 5xx is retried. An abandoner lets the hold lapse and then finds it expired.
 */
import type { Answer, Call } from './client.js';
import { pickSeat, thinkMs, type UserPlan } from './plan.js';
import { retrying, sleep } from './retrying.js';
import type { Ending, Phase, Sale } from './sale.js';

export type State = 'signup' | 'topup' | 'browse' | 'join' | 'wait' | 'seats' | 'look' | 'hold' | 'pay' | 'abandon' | 'cancel' | 'leave' | 'done';

export interface JourneyContext {
  call: Call;
  sale: Sale;
  concertId: string;
  price: number;
  thinkSeconds: number;
  holdAttempts: number;
  /** The run's deadline (ms since epoch): a journey still going then is cut off. */
  deadlineMs: number;
  /** Counted once per retried request (payments). */
  onRetry(): void;
  /** A journey ended on an answer the recorder did not count as unexpected (a 200 saying EXPIRED). */
  onFailure(step: string, a: Answer): void;
  /** Least wait before looking again for a seat while every free one is held. */
  lookAgainMs: number;
}

export class Journey {
  private token = '';
  private userId = '';
  private queueToken = '';
  private scheduleId = '';
  private allSchedules: string[] = [];
  private free: number[] = [];
  private reservationId = '';
  private heldUntilMs = 0;
  private joinedAtMs = 0;
  private holdTries = 0;
  private holdSeq = 0;
  private phase: Phase | undefined;
  private ending: Ending | undefined;

  constructor(private readonly plan: UserPlan, private readonly ctx: JourneyContext) {}

  /** Runs the journey to its end; resolves with how it ended. */
  async run(): Promise<Ending> {
    const { sale } = this.ctx;
    sale.arrived++;
    let state: State = 'signup';
    while (state !== 'done') {
      if (Date.now() > this.ctx.deadlineMs) {
        this.ending = 'cut-off';
        break;
      }
      state = await this.step(state);
    }
    const ending = this.ending ?? 'failed';
    this.moveTo('done');
    sale.end(ending);
    return ending;
  }

  private moveTo(phase: Phase) {
    this.ctx.sale.move(this.phase, phase);
    this.phase = phase;
  }

  private think(): Promise<unknown> {
    return sleep(thinkMs(this.plan.random, this.ctx.thinkSeconds));
  }

  /** Ends the journey after an answer nobody designed for; the line is still left when joined. */
  private fail(step: string, a: Answer): State {
    this.ending = 'failed';
    if (a.outcome !== 'unexpected') this.ctx.onFailure(step, a);
    const key = `${step} ${a.status || 'network'} ${a.code ?? ''}`.trim();
    this.ctx.sale.failures[key] = (this.ctx.sale.failures[key] ?? 0) + 1;
    return this.queueToken ? 'leave' : 'done';
  }

  private step(state: State): Promise<State> {
    switch (state) {
      case 'signup': return this.signup();
      case 'topup': return this.topup();
      case 'browse': return this.browse();
      case 'join': return this.join();
      case 'wait': return this.wait();
      case 'seats': return this.seats();
      case 'look': return this.look();
      case 'hold': return this.hold();
      case 'pay': return this.pay();
      case 'abandon': return this.abandon();
      case 'cancel': return this.cancel();
      default: return this.leave();
    }
  }

  private async signup(): Promise<State> {
    const a = await this.ctx.call('signup', 'POST', '/users', { body: { name: `load-${this.plan.index}` } });
    if (a.status !== 201) return this.fail('signup', a);
    this.token = a.body.token;
    this.userId = a.body.id;
    this.ctx.sale.signedUp(this.userId);
    await this.think();
    return 'topup';
  }

  private async topup(): Promise<State> {
    const a = await retrying(this.ctx, 'topup', 'POST', '/users/me/balance/charges', {
      token: this.token,
      idempotencyKey: `charge-${this.userId}`,
      body: { amount: this.ctx.price * 2 },
    });
    if (a.status !== 201) return this.fail('topup', a);
    this.ctx.sale.toppedUp(this.userId);
    await this.think();
    return 'browse';
  }

  /**
   * Lists the concerts and the concert's dates with seats left, and picks one. None left: the user
   * joins the line anyway, as only the seat maps tell seats held (which may come back) from sold.
   */
  private async browse(): Promise<State> {
    const list = await retrying(this.ctx, 'concerts', 'GET', '/concerts', {});
    if (list.status !== 200) return this.fail('concerts', list);
    const dates = await this.availableDates();
    if (!dates) return 'done';
    if (dates.length > 0) this.scheduleId = this.pick(dates);
    await this.think();
    return 'join';
  }

  /** The ids of the concert's dates with a seat free (undefined: failed). */
  private async availableDates(): Promise<string[] | undefined> {
    const a = await retrying(this.ctx, 'schedules', 'GET', `/concerts/${this.ctx.concertId}/schedules?available=true`, {});
    if (a.status !== 200) {
      this.fail('schedules', a);
      return undefined;
    }
    return (a.body.items as { id: string }[]).map((s) => s.id);
  }

  private pick(ids: string[]): string {
    return ids[Math.floor(this.plan.random() * ids.length)]!;
  }

  private async join(): Promise<State> {
    const a = await retrying(this.ctx, 'join', 'POST', `/concerts/${this.ctx.concertId}/queue`, { token: this.token });
    if (a.status !== 201 && a.status !== 200) return this.fail('join', a);
    this.queueToken = a.body.token;
    this.joinedAtMs = Date.now();
    this.ctx.sale.joined++;
    if (a.body.status === 'ACTIVE') return this.admitted();
    this.moveTo('waiting');
    return this.pollLater(a.body.refreshAfterSeconds);
  }

  private admitted(): State {
    this.ctx.sale.admitted(Date.now() - this.joinedAtMs);
    this.moveTo('active');
    return 'seats';
  }

  private async pollLater(refreshAfterSeconds: number | null): Promise<State> {
    await sleep((refreshAfterSeconds ?? 1) * 1000);
    return 'wait';
  }

  private async wait(): Promise<State> {
    const a = await retrying(this.ctx, 'poll', 'GET', `/concerts/${this.ctx.concertId}/queue`, { token: this.token, queueToken: this.queueToken });
    if (a.status !== 200) return this.fail('poll', a);
    if (a.body.status === 'ACTIVE') return this.admitted();
    if (a.body.status === 'EXPIRED') return this.fail('poll', { ...a, code: 'EXPIRED' });
    return this.pollLater(a.body.refreshAfterSeconds);
  }

  /** Reads the chosen date's seat map; with no seat free there, looks further. */
  private async seats(): Promise<State> {
    if (!this.scheduleId) return 'look';
    const map = await this.readMap(this.scheduleId);
    if (!map) return this.queueToken ? 'leave' : 'done';
    if (this.free.length === 0) return 'look';
    await this.think();
    return 'hold';
  }

  /** The seat map's statuses; sets `free` to the AVAILABLE seats (undefined: failed). */
  private async readMap(scheduleId: string): Promise<string[] | undefined> {
    const a = await retrying(this.ctx, 'seats', 'GET', `/schedules/${scheduleId}/seats`, { token: this.token, queueToken: this.queueToken });
    if (a.status !== 200) {
      this.fail('seats', a);
      return undefined;
    }
    const seats = a.body.seats as { number: number; status: string }[];
    this.free = seats.filter((s) => s.status === 'AVAILABLE').map((s) => s.number);
    return seats.map((s) => s.status);
  }

  /**
   * Another date with a seat free? Else every date's map: a free seat is taken, held ones are
   * waited for (looked at again after a while, until the deadline), and only all SOLD is sold out.
   */
  private async look(): Promise<State> {
    const dates = await this.availableDates();
    if (!dates) return 'leave';
    if (dates.length > 0) {
      this.scheduleId = this.pick(dates);
      return 'seats';
    }
    if (this.allSchedules.length === 0) {
      const a = await retrying(this.ctx, 'schedules', 'GET', `/concerts/${this.ctx.concertId}/schedules`, {});
      if (a.status !== 200) return this.fail('schedules', a);
      this.allSchedules = (a.body.items as { id: string }[]).map((s) => s.id);
    }
    let held = false;
    for (const id of this.allSchedules) {
      const statuses = await this.readMap(id);
      if (!statuses) return 'leave';
      if (this.free.length > 0) {
        this.scheduleId = id;
        return 'hold';
      }
      held ||= statuses.includes('HELD');
    }
    if (!held) {
      this.ending = 'sold-out';
      return 'leave';
    }
    await sleep(this.ctx.lookAgainMs + thinkMs(this.plan.random, this.ctx.thinkSeconds));
    return 'look';
  }

  private async hold(): Promise<State> {
    const seatNumber = pickSeat(this.plan.random, this.free)!;
    const a = await retrying(this.ctx, 'hold', 'POST', '/reservations', {
      token: this.token,
      idempotencyKey: `hold-${++this.holdSeq}-${this.userId}`,
      queueToken: this.queueToken,
      body: { scheduleId: this.scheduleId, seatNumber },
      expect: ['SEAT_UNAVAILABLE'],
    });
    if (a.code === 'SEAT_UNAVAILABLE') {
      if (++this.holdTries >= this.ctx.holdAttempts) {
        this.ending = 'gave-up';
        return 'leave';
      }
      return 'look';
    }
    if (a.status !== 201) return this.fail('hold', a);
    this.reservationId = a.body.id;
    this.heldUntilMs = Date.parse(a.body.heldUntil);
    if (this.plan.intent === 'abandon') {
      this.ctx.sale.abandonedHolds.push(this.reservationId);
      this.ctx.sale.lastAbandonedUntilMs = Math.max(this.ctx.sale.lastAbandonedUntilMs, this.heldUntilMs);
      return 'abandon';
    }
    await this.think();
    return 'pay';
  }

  /** Pays the hold with the same Idempotency-Key on every attempt. */
  private payOnce(expect: string[]): Promise<Answer> {
    return retrying(this.ctx, 'pay', 'POST', '/payments', {
      token: this.token,
      queueToken: this.queueToken,
      idempotencyKey: `pay-${this.reservationId}`,
      body: { reservationId: this.reservationId },
      expect,
    });
  }

  private async pay(): Promise<State> {
    const a = await this.payOnce([]);
    if (a.status !== 201) return this.fail('pay', a);
    this.ctx.sale.paid(a.body.id, this.reservationId);
    if (this.plan.intent === 'cancel') {
      await this.think();
      return 'cancel';
    }
    this.ending = 'bought';
    return 'leave';
  }

  /** Walks away from the hold, comes back after it lapsed and tries to pay: HOLD_EXPIRED is the answer. */
  private async abandon(): Promise<State> {
    await sleep(Math.max(0, this.heldUntilMs - Date.now()) + 1_000);
    const a = await this.payOnce(['HOLD_EXPIRED']);
    if (a.status === 201) {
      this.ctx.sale.expiredHoldsPaid++;
      this.ctx.sale.paid(a.body.id, this.reservationId);
    } else if (a.code !== 'HOLD_EXPIRED') {
      return this.fail('pay', a);
    }
    this.ending = 'abandoned';
    return 'leave';
  }

  /** Cancels the paid seat; a repeat refused after a lost answer is done if the reservation reads CANCELLED. */
  private async cancel(): Promise<State> {
    const a = await retrying(this.ctx, 'cancel', 'DELETE', `/reservations/${this.reservationId}`, { token: this.token }, ['RESERVATION_NOT_CANCELLABLE']);
    if (a.status !== 200 && !(a.outcome === 'expected' && (await this.readsCancelled()))) return this.fail('cancel', a);
    this.ctx.sale.refunded(this.reservationId);
    this.ending = 'bought-cancelled';
    return 'leave';
  }

  private async readsCancelled(): Promise<boolean> {
    const a = await retrying(this.ctx, 'reservation', 'GET', `/reservations/${this.reservationId}`, { token: this.token });
    return a.status === 200 && a.body.status === 'CANCELLED';
  }

  private async leave(): Promise<State> {
    const a = await retrying(this.ctx, 'leave', 'DELETE', `/concerts/${this.ctx.concertId}/queue`, { token: this.token, queueToken: this.queueToken });
    if (a.status !== 204 && this.ending !== 'failed') this.fail('leave', a);
    return 'done';
  }
}
