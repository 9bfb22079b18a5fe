import { afterCommit, type StepLogger } from '../../platform/after-commit.js';
import type { Clock } from '../../platform/clock.js';
import { pgCode, type Database } from '../../platform/db.js';
import { DomainError, notFound, outcomeOf } from '../../platform/errors.js';
import { isUuid, newId } from '../../platform/ids.js';
import { createKeyedStatement, type Keyed } from '../idempotency/idempotency.batch.js';
import type { KeyClaim } from '../idempotency/idempotency.service.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import type { QueueService } from '../queue/queue.service.js';
import { assertPayable } from '../reservations/reservations.rules.js';
import { ownReservation } from '../reservations/reservations.service.js';
import { payHold, payHolds, type BatchedPayAttempt, type PayRequest } from './payments.repository.js';

export interface PaymentView {
  id: string;
  reservationId: string;
  amount: number;
  balance: number;
  status: 'PAID';
  paidAt: string;
}

interface PaymentOutcome {
  payment: PaymentView;
  /** The user's other live holds for the concert: with none, they leave the waiting room. */
  otherHolds: number;
  /** The seat that was sold. */
  seat: { scheduleId: string; concertId: string };
}

type Attempt = BatchedPayAttempt & { paidAt: Date };

const insufficient = (price: number) =>
  new DomainError('INSUFFICIENT_BALANCE', `The balance does not cover the price of ${price}`, { price });

/** What the payment use case reports (for metrics); every method optional. */
export interface PaymentObserver {
  /** A payment request ended: `paid`, or its refusal code (`error` for a failure that is no refusal). */
  payment?(outcome: string): void;
  /** A batched statement of payments ran (see createKeyedStatement's onStatement). */
  statement?(size: number, seconds: number): void;
}

export function createPaymentService(deps: {
  clock: Clock;
  db: Database;
  catalog: CatalogService;
  queue: QueueService;
  log: StepLogger;
  /** Coalescing of payments that arrive together (see platform/batcher.ts); maxBatch 1 turns it off. */
  batch?: { maxBatch: number; maxInFlight: number };
  observe?: PaymentObserver;
}) {
  const { clock, db, catalog, queue, log } = deps;
  const observe = deps.observe ?? {};

  const payments = createKeyedStatement<PayRequest, Attempt, PaymentOutcome>({
    db,
    name: 'payment',
    batch: deps.batch,
    async one(executor, request) {
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
    },
    async many(requests) {
      const now = clock.now();
      return (await payHolds(db, requests, now)).map((a) => ({ ...a, paidAt: now }));
    },
    // One wallet or one reservation in two requests: they depend on each other, never in one batch.
    conflictKeys: (r) => [`user ${r.userId}`, `reservation ${r.reservationId}`],
    async outcome(executor, request, attempt) {
      const { confirmed, balance } = attempt;
      if (confirmed && balance !== null) {
        return {
          payment: {
            id: request.paymentId,
            reservationId: request.reservationId,
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
      const r = await ownReservation(executor, request.userId, request.reservationId);
      if (r.concert_id !== request.concertId) throw new DomainError('QUEUE_TOKEN_MISMATCH', 'This Queue-Token is for another concert');
      assertPayable(r, attempt.paidAt);
      throw new DomainError('RESERVATION_NOT_PAYABLE', 'The reservation changed while paying; read it again');
    },
    answer: (outcome) => outcome.payment,
    onStatement: observe.statement,
  });

  return {
    /**
     * Pays a hold from the balance, all or nothing: owner and expiry checked, seat SOLD, balance
     * debited only if it covers the price, reservation CONFIRMED, payment, ledger row and event.
     * Only a reservation of `concertId` (the queue token's) is paid. One statement, which joins the
     * next batch of payments; only when it is refused is the reservation read, to say why. Under an
     * Idempotency-Key (`claim`) the answer commits with the payment. Then the seat shows SOLD, and
     * a user who holds nothing else for the concert leaves the waiting room.
     */
    async pay(userId: string, reservationId: string, concertId: string, claim?: KeyClaim): Promise<PaymentView> {
      // An id that is not a UUID names no reservation: answered here, it never joins a batch
      // (PostgreSQL would refuse the whole statement).
      let outcome: PaymentOutcome;
      try {
        if (!isUuid(reservationId)) throw notFound('Reservation');
        outcome = await payments.run({ reservationId, userId, concertId, paymentId: newId(), ledgerId: newId() }, claim);
      } catch (err) {
        observe.payment?.(outcomeOf(err));
        throw err;
      }
      observe.payment?.('paid');
      await afterCommit(log, 'seat map invalidation', () => catalog.seatsChanged([outcome.seat]));
      if (outcome.otherHolds === 0) await afterCommit(log, 'leaving the waiting room', () => queue.leaveAfterPayment(userId, concertId));
      return outcome.payment;
    },

    /** Runs payments as one batch; they must name distinct reservations and users. */
    payBatch: (requests: Keyed<PayRequest>[]) => payments.runBatch(requests),
  };
}

export type PaymentService = ReturnType<typeof createPaymentService>;
