/**
 * One virtual user's journey as a state machine: sign up, top up, browse, join the line, wait for
 * the turn as told (refreshAfterSeconds, or a poll the server holds), read the seat map when
 * admitted, hold a seat (another one after a lost race), pay with an Idempotency-Key, maybe cancel,
 * leave. Every step but the sign-up is safe to repeat (a read, a keyed write, leaving), so a
 * network error or a 5xx is retried. The steps live by theme: journey-account.ts (sign-up, top-up,
 * browsing), journey-line.ts (the waiting room), journey-seats.ts (seat maps and holds),
 * journey-payment.ts (paying, abandoning, cancelling); journey-user.ts holds what they share.
 */
import { browse, signup, topup } from './journey-account.js';
import { join, leave, wait } from './journey-line.js';
import { abandon, cancel, pay } from './journey-payment.js';
import { hold, look, seats } from './journey-seats.js';
import { User, type JourneyContext, type State } from './journey-user.js';
import type { UserPlan } from './plan.js';
import type { Ending } from './sale.js';

export type { JourneyContext, State } from './journey-user.js';

const STEPS: Record<Exclude<State, 'done'>, (u: User) => Promise<State>> = {
  signup,
  topup,
  browse,
  join,
  wait,
  seats,
  look,
  hold,
  pay,
  abandon,
  cancel,
  leave,
};

export class Journey {
  private readonly user: User;

  constructor(plan: UserPlan, ctx: JourneyContext) {
    this.user = new User(plan, ctx);
  }

  /** Runs the journey to its end; resolves with how it ended. */
  async run(): Promise<Ending> {
    const u = this.user;
    const { sale } = u.ctx;
    sale.arrived++;
    let state: State = 'signup';
    while (state !== 'done') {
      if (Date.now() > u.ctx.deadlineMs) {
        u.ending = 'cut-off';
        break;
      }
      state = await STEPS[state](u);
    }
    const ending = u.ending ?? 'failed';
    u.moveTo('done');
    sale.end(ending);
    return ending;
  }
}
