import { createBatcher } from '../../platform/batcher.js';
import type { Clock } from '../../platform/clock.js';
import { pgCode, type Database } from '../../platform/db.js';
import { DomainError, notFound } from '../../platform/errors.js';
import { isUuid, newId } from '../../platform/ids.js';
import { payHold, payHolds, type BatchedPayAttempt, type PayRequest } from '../reservations/reservations.repository.js';
import { assertPayable } from '../reservations/reservations.rules.js';
import { batchThenEach, ownReservation } from '../reservations/reservations.service.js';
import { AnswerInTransaction, type KeyClaim } from '../idempotency/idempotency.service.js';

export interface PaymentView {
  id: string;
  reservationId: string;
  amount: number;
  balance: number;
  status: 'PAID';
  paidAt: string;
}

export interface PaymentOutcome {
  payment: PaymentView;
  /** The user's other live holds for the concert: with none, they leave the waiting room. */
  otherHolds: number;
  /** The seat that was sold. */
  seat: { scheduleId: string; concertId: string };
}

type Attempt = BatchedPayAttempt & { paidAt: Date };

const insufficient = (price: number) =>
  new DomainError('INSUFFICIENT_BALANCE', `The balance does not cover the price of ${price}`, { price });

export function createPaymentService(deps: {
  clock: Clock;
  db: Database;
  /** Coalescing of payments that arrive together (see platform/batcher.ts); maxBatch 1 turns it off. */
  batch?: { maxBatch: number; maxInFlight: number };
}) {
  const { clock, db } = deps;

  /** One payment in its own statement (or in the caller's transaction). */
  async function payOne(executor: Database, request: PayRequest): Promise<Attempt> {
    const now = clock.now();
    try {
      return { ...(await payHold(executor, { ...request, now })), uncoveredPrice: null, paidAt: now };
    } catch (err) {
      if (pgCode(err) === 'TK001') {
        // The seat could be taken but not paid for: the statement undid itself. Its message names the price.
        throw insufficient(Number(/price=(\d+)/.exec((err as Error).message)?.[1]));
      }
      throw err;
    }
  }

  /**
   * A batch of payments in one statement. Should the statement fail as a whole for a reason other
   * than a deadlock (retried), each payment runs alone, so that one request's failure stays its own.
   */
  const payMany = (requests: PayRequest[]) =>
    batchThenEach<PayRequest, Attempt>(
      requests,
      async () => {
        const now = clock.now();
        return (await payHolds(db, requests, now)).map((a) => ({ ...a, paidAt: now }));
      },
      (r) => payOne(db, r),
    );

  const batcher =
    deps.batch && deps.batch.maxBatch > 1
      ? createBatcher<PayRequest, Attempt>({
          run: payMany,
          settled: true,
          maxBatch: deps.batch.maxBatch,
          maxInFlight: deps.batch.maxInFlight,
          // One wallet or one reservation in two requests: they depend on each other, never in one batch.
          conflictKeys: (r) => [`user ${r.userId}`, `reservation ${r.reservationId}`],
        })
      : undefined;

  /**
   * Pays, batched, or as one statement in `executor`'s transaction; a refusal says why. An id that
   * is not a UUID names no reservation: it is answered here, and never joins a batch (PostgreSQL
   * would refuse the whole statement).
   */
  async function payAs(executor: Database, request: PayRequest): Promise<PaymentOutcome> {
    const { reservationId, userId, concertId } = request;
    if (!isUuid(reservationId)) throw notFound('Reservation');
    const attempt = batcher && executor === db ? await batcher.submit(request) : await payOne(executor, request);
    const { confirmed, balance } = attempt;
    if (confirmed && balance !== null) {
      return {
        payment: {
          id: request.paymentId,
          reservationId,
          amount: confirmed.price,
          balance,
          status: 'PAID',
          paidAt: attempt.paidAt.toISOString(),
        },
        otherHolds: attempt.otherHolds,
        seat: { scheduleId: confirmed.schedule_id, concertId: confirmed.concert_id },
      };
    }
    if (attempt.uncoveredPrice !== null) throw insufficient(attempt.uncoveredPrice);
    // Not this user's live hold of this concert, or changed under us: the reservation says why.
    const r = await ownReservation(executor, userId, reservationId);
    if (r.concert_id !== concertId) throw new DomainError('QUEUE_TOKEN_MISMATCH', 'This Queue-Token is for another concert');
    assertPayable(r, attempt.paidAt);
    throw new DomainError('RESERVATION_NOT_PAYABLE', 'The reservation changed while paying; read it again');
  }

  return {
    /** Runs payments as one batch (see payMany); they must name distinct reservations and users. */
    payBatch: payMany,

    /**
     * Pays a hold from the balance, all or nothing: owner and expiry checked, seat SOLD, balance
     * debited only if it covers the price, reservation CONFIRMED, payment, ledger row and event.
     * Only a reservation of `concertId` (the queue token's) is paid. Only when it is refused is the
     * reservation read, to say why. Inside a transaction (an Idempotency-Key's) it is one statement
     * of that transaction; otherwise it joins the next batch of payments.
     */
    async pay(executor: Database, userId: string, reservationId: string, concertId: string): Promise<PaymentOutcome> {
      return payAs(executor, { reservationId, userId, concertId, paymentId: newId(), ledgerId: newId() });
    },

    /**
     * A payment under an Idempotency-Key: it joins the next batch and its answer is stored by the
     * same statement. Without batching, AnswerInTransaction sends it to its own transaction.
     */
    async payAnswered(userId: string, reservationId: string, concertId: string, claim: KeyClaim): Promise<PaymentOutcome> {
      if (!batcher) throw new AnswerInTransaction();
      const answer = { key: claim.key, lease: claim.lease, status: claim.status };
      return payAs(db, { reservationId, userId, concertId, paymentId: newId(), ledgerId: newId(), answer });
    },
  };
}

export type PaymentService = ReturnType<typeof createPaymentService>;
