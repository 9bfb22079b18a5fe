import type { Clock } from '../../platform/clock.js';
import type { Trx } from '../../platform/db.js';
import { DomainError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { appendEvents } from '../outbox/outbox.repository.js';
import { confirmHold, insertPayment } from '../reservations/reservations.repository.js';
import { assertPayable } from '../reservations/reservations.rules.js';
import { ownReservation, reservationEvent } from '../reservations/reservations.service.js';
import { insertLedgerEntry } from '../wallet/wallet.repository.js';

export interface PaymentView {
  id: string;
  reservationId: string;
  amount: number;
  balance: number;
  status: 'PAID';
  paidAt: string;
}

export function createPaymentService({ clock }: { clock: Clock }) {
  return {
    /**
     * Pays a hold from the balance, all or nothing in the caller's transaction: owner and expiry
     * checked, seat SOLD, balance debited only if it covers the price, reservation CONFIRMED,
     * ledger row, payment row and event.
     */
    async pay(trx: Trx, userId: string, reservationId: string): Promise<PaymentView> {
      const r = await ownReservation(trx, userId, reservationId);
      const now = clock.now();
      assertPayable(r, now);
      const result = await confirmHold(trx, {
        reservationId: r.id,
        userId,
        scheduleId: r.schedule_id,
        seatNumber: r.seat_number,
        price: r.price,
        now,
      });
      if (!result.seatTaken) {
        // Another request paid, cancelled or the hold expired since we read it: report that.
        assertPayable(await ownReservation(trx, userId, reservationId), now);
        throw new DomainError('RESERVATION_NOT_PAYABLE', 'The reservation changed while paying; read it again');
      }
      if (result.balance === null) {
        throw new DomainError('INSUFFICIENT_BALANCE', `The balance does not cover the price of ${r.price}`, {
          price: r.price,
        });
      }
      const confirmed = result.confirmed;
      if (!confirmed) throw new Error(`seat of reservation ${r.id} was sold but the reservation was not HELD`);
      const paymentId = newId();
      await insertPayment(trx, { id: paymentId, reservationId: r.id, userId, amount: r.price, paidAt: now });
      if (r.price > 0) {
        await insertLedgerEntry(trx, {
          id: newId(),
          userId,
          type: 'PAYMENT',
          amount: -r.price,
          balanceAfter: result.balance,
          reservationId: r.id,
          at: now,
        });
      }
      await appendEvents(trx, [
        reservationEvent('reservation.confirmed', confirmed, now, { paymentId, confirmedAt: now.toISOString() }),
      ]);
      return { id: paymentId, reservationId: r.id, amount: r.price, balance: result.balance, status: 'PAID', paidAt: now.toISOString() };
    },
  };
}

export type PaymentService = ReturnType<typeof createPaymentService>;
