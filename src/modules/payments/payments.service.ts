import type { Clock } from '../../platform/clock.js';
import { pgCode, type Database } from '../../platform/db.js';
import { DomainError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { payHold } from '../reservations/reservations.repository.js';
import { assertPayable } from '../reservations/reservations.rules.js';
import { ownReservation } from '../reservations/reservations.service.js';

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

export function createPaymentService({ clock }: { clock: Clock }) {
  return {
    /**
     * Pays a hold from the balance, all or nothing in one statement: owner and expiry checked, seat
     * SOLD, balance debited only if it covers the price, reservation CONFIRMED, payment, ledger row
     * and event. Only a reservation of `concertId` (the queue token's) is paid. Only when it is
     * refused is the reservation read, to say why.
     */
    async pay(executor: Database, userId: string, reservationId: string, concertId: string): Promise<PaymentOutcome> {
      const now = clock.now();
      const paymentId = newId();
      let attempt;
      try {
        attempt = await payHold(executor, { reservationId, userId, concertId, paymentId, ledgerId: newId(), now });
      } catch (err) {
        if (pgCode(err) === 'TK001') {
          // The seat could be taken but not paid for: the statement undid itself. Its message names the price.
          const price = Number(/price=(\d+)/.exec((err as Error).message)?.[1]);
          throw new DomainError('INSUFFICIENT_BALANCE', `The balance does not cover the price of ${price}`, { price });
        }
        throw err;
      }
      const { confirmed, balance } = attempt;
      if (confirmed && balance !== null) {
        return {
          payment: { id: paymentId, reservationId, amount: confirmed.price, balance, status: 'PAID', paidAt: now.toISOString() },
          otherHolds: attempt.otherHolds,
          seat: { scheduleId: confirmed.schedule_id, concertId: confirmed.concert_id },
        };
      }
      // Not this user's live hold of this concert, or changed under us: the reservation says why.
      const r = await ownReservation(executor, userId, reservationId);
      if (r.concert_id !== concertId) throw new DomainError('QUEUE_TOKEN_MISMATCH', 'This Queue-Token is for another concert');
      assertPayable(r, now);
      throw new DomainError('RESERVATION_NOT_PAYABLE', 'The reservation changed while paying; read it again');
    },
  };
}

export type PaymentService = ReturnType<typeof createPaymentService>;
