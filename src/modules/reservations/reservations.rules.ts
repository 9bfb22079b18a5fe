import type { ReservationStatus } from '../../platform/db.types.js';
import { DomainError } from '../../platform/errors.js';

export interface ReservationState {
  status: ReservationStatus;
  held_until: Date;
}

const passed = (at: Date, now: Date) => at.getTime() <= now.getTime();

/** A HELD reservation whose heldUntil has passed is EXPIRED from that instant, swept or not. */
export function effectiveStatus(r: ReservationState, now: Date): ReservationStatus {
  return r.status === 'HELD' && passed(r.held_until, now) ? 'EXPIRED' : r.status;
}

export function holdExpiry(now: Date, ttlSeconds: number): Date {
  return new Date(now.getTime() + ttlSeconds * 1000);
}

/** Throws unless the reservation can be paid now. */
export function assertPayable(r: ReservationState, now: Date): void {
  const status = effectiveStatus(r, now);
  if (status === 'EXPIRED') {
    throw new DomainError('HOLD_EXPIRED', `The hold expired at ${r.held_until.toISOString()}; hold the seat again`);
  }
  if (status !== 'HELD') {
    throw new DomainError('RESERVATION_NOT_PAYABLE', `The reservation is ${status} and cannot be paid`, { reservationStatus: status });
  }
}

export type Cancellation = 'RELEASE_HOLD' | 'REFUND';

/** What cancelling means now: release a live hold, refund a confirmed seat before the show, or refuse. */
export function cancellation(r: ReservationState, showStartsAt: Date, now: Date): Cancellation {
  const status = effectiveStatus(r, now);
  if (status === 'HELD') return 'RELEASE_HOLD';
  if (status === 'CONFIRMED') {
    if (passed(showStartsAt, now)) {
      throw new DomainError(
        'RESERVATION_NOT_CANCELLABLE',
        `The show started at ${showStartsAt.toISOString()}; a confirmed seat can be cancelled only before it`,
      );
    }
    return 'REFUND';
  }
  throw new DomainError('RESERVATION_NOT_CANCELLABLE', `The reservation is ${status} and cannot be cancelled`, { reservationStatus: status });
}

export function assertUnderHoldLimit(activeSeats: number, limit: number): void {
  if (activeSeats >= limit) {
    throw new DomainError('HOLD_LIMIT_REACHED', `You already hold ${activeSeats} of at most ${limit} seats for this date`, {
      limit,
    });
  }
}
