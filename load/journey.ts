/**
 * One virtual user's journey as a state machine: sign up, top up, browse, join the line, poll it
 * as told (refreshAfterSeconds), read the seat map when admitted, hold a seat (another one after a
 * lost race), pay with an Idempotency-Key, maybe cancel, leave. Every step but the sign-up is safe
 * to repeat (a read, a keyed write, leaving), so a network error or a 5xx is retried. An abandoner
 * lets the hold lapse and then finds it expired.
 */
import type { Answer, Call, CallOptions } from './client.js';
import { pickSeat, thinkMs, type UserPlan } from './plan.js';
import type { Ending, Phase, Sale } from './sale.js';

export type State = 'signup' | 'topup' | 'browse' | 'join' | 'wait' | 'seats' | 'hold' | 'pay' | 'abandon' | 'cancel' | 'leave' | 'done';

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
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ATTEMPTS = 5;

export class Journey {
  private token = '';
  private userId = '';
  private queueToken = '';
  private scheduleId = '';
  private schedules: string[] = [];
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
    await this.think();
    return 'topup';
  }

  private async topup(): Promise<State> {
    const a = await this.retrying('topup', 'POST', '/users/me/balance/charges', {
      token: this.token,
      idempotencyKey: `charge-${this.userId}`,
      body: { amount: this.ctx.price * 2 },
    });
    if (a.status !== 201) return this.fail('topup', a);
    await this.think();
    return 'browse';
  }

  /** Lists the concerts and the concert's dates with seats left; none left: sold out. */
  private async browse(): Promise<State> {
    const list = await this.retrying('concerts', 'GET', '/concerts', {});
    if (list.status !== 200) return this.fail('concerts', list);
    const dates = await this.retrying('schedules', 'GET', `/concerts/${this.ctx.concertId}/schedules?available=true`, {});
    if (dates.status !== 200) return this.fail('schedules', dates);
    this.schedules = (dates.body.items as { id: string }[]).map((s) => s.id);
    if (this.schedules.length === 0) {
      this.ending = 'sold-out';
      return this.queueToken ? 'leave' : 'done';
    }
    this.scheduleId = this.schedules[Math.floor(this.plan.random() * this.schedules.length)]!;
    if (this.queueToken) return 'seats';
    await this.think();
    return 'join';
  }

  private async join(): Promise<State> {
    const a = await this.retrying('join', 'POST', `/concerts/${this.ctx.concertId}/queue`, { token: this.token });
    if (a.status !== 201 && a.status !== 200) return this.fail('join', a);
    this.queueToken = a.body.token;
    this.joinedAtMs = Date.now();
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
    const a = await this.retrying('poll', 'GET', `/concerts/${this.ctx.concertId}/queue`, { token: this.token, queueToken: this.queueToken });
    if (a.status !== 200) return this.fail('poll', a);
    if (a.body.status === 'ACTIVE') return this.admitted();
    if (a.body.status === 'EXPIRED') return this.fail('poll', { ...a, code: 'EXPIRED' });
    return this.pollLater(a.body.refreshAfterSeconds);
  }

  /** Reads the seat map; with no seat free there, looks for another date, else it is sold out. */
  private async seats(): Promise<State> {
    const a = await this.retrying('seats', 'GET', `/schedules/${this.scheduleId}/seats`, { token: this.token, queueToken: this.queueToken });
    if (a.status !== 200) return this.fail('seats', a);
    this.free = (a.body.seats as { number: number; status: string }[]).filter((s) => s.status === 'AVAILABLE').map((s) => s.number);
    if (this.free.length > 0) {
      await this.think();
      return 'hold';
    }
    const others = this.schedules.filter((s) => s !== this.scheduleId);
    if (others.length === 0 || ++this.holdTries >= this.ctx.holdAttempts) {
      this.ending = 'sold-out';
      return 'leave';
    }
    return 'browse';
  }

  private async hold(): Promise<State> {
    const seatNumber = pickSeat(this.plan.random, this.free)!;
    const a = await this.retrying('hold', 'POST', '/reservations', {
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
      return 'seats';
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

  /**
   * A call that is safe to repeat (a read, a keyed write, leaving the line): a network error, a 5xx
   * or a key still in use is tried again after Retry-After (or a backoff), up to ATTEMPTS times.
   */
  private async retrying(step: string, method: string, path: string, options: CallOptions): Promise<Answer> {
    let a: Answer | undefined;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (a) {
        this.ctx.onRetry();
        await sleep(a.retryAfterSeconds !== undefined ? Math.min(a.retryAfterSeconds, 5) * 1000 : 200 * 2 ** attempt);
      }
      a = await this.ctx.call(step, method, path, { ...options, expect: [...(options.expect ?? []), 'IDEMPOTENCY_KEY_IN_USE'] });
      if (!(a.status === 0 || a.status >= 500 || a.code === 'IDEMPOTENCY_KEY_IN_USE')) break;
    }
    return a!;
  }

  /** Pays the hold with the same Idempotency-Key on every attempt. */
  private payOnce(expect: string[]): Promise<Answer> {
    return this.retrying('pay', 'POST', '/payments', {
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

  private async cancel(): Promise<State> {
    const a = await this.retrying('cancel', 'DELETE', `/reservations/${this.reservationId}`, { token: this.token });
    if (a.status !== 200) return this.fail('cancel', a);
    this.ctx.sale.refunded(this.reservationId);
    this.ending = 'bought-cancelled';
    return 'leave';
  }

  private async leave(): Promise<State> {
    const a = await this.retrying('leave', 'DELETE', `/concerts/${this.ctx.concertId}/queue`, { token: this.token, queueToken: this.queueToken });
    if (a.status !== 204 && this.ending !== 'failed') this.fail('leave', a);
    return 'done';
  }
}
