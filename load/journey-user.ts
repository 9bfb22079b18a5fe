/**
 * A virtual user as its journey goes: what the context gives every step (the client, the sale, the
 * run's settings), what the user has learnt so far (tokens, the chosen date, the free seats, the
 * hold), and the few moves every step makes (think, change phase, fail).
 */
import type { Answer, Call } from './client.js';
import { thinkMs, type UserPlan } from './plan.js';
import { sleep } from './retrying.js';
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
  /** Seconds a line poll asks the server to hold its answer while the user waits (`?wait=`); 0 or absent: plain polls. */
  pollWaitSeconds?: number;
}

export class User {
  token = '';
  userId = '';
  queueToken = '';
  scheduleId = '';
  allSchedules: string[] = [];
  /** The AVAILABLE seats of the map read last. */
  free: number[] = [];
  reservationId = '';
  heldUntilMs = 0;
  joinedAtMs = 0;
  holdTries = 0;
  holdSeq = 0;
  phase: Phase | undefined;
  ending: Ending | undefined;

  constructor(readonly plan: UserPlan, readonly ctx: JourneyContext) {}

  moveTo(phase: Phase) {
    this.ctx.sale.move(this.phase, phase);
    this.phase = phase;
  }

  think(): Promise<unknown> {
    return sleep(thinkMs(this.plan.random, this.ctx.thinkSeconds));
  }

  pick(ids: string[]): string {
    return ids[Math.floor(this.plan.random() * ids.length)]!;
  }

  /** Ends the journey after an answer nobody designed for; the line is still left when joined. */
  fail(step: string, a: Answer): State {
    this.ending = 'failed';
    if (a.outcome !== 'unexpected') this.ctx.onFailure(step, a);
    const key = `${step} ${a.status || 'network'} ${a.code ?? ''}`.trim();
    this.ctx.sale.failures[key] = (this.ctx.sale.failures[key] ?? 0) + 1;
    return this.queueToken ? 'leave' : 'done';
  }
}
