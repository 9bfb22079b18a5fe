import type { SeatStatus } from '../../platform/db.types.js';
import { DomainError } from '../../platform/errors.js';

/** A hold past its heldUntil is gone the instant it passes, whether or not the sweeper has run. */
export function effectiveSeatStatus(status: SeatStatus, heldUntil: Date | null, now: Date): SeatStatus {
  return status === 'HELD' && heldUntil !== null && heldUntil.getTime() <= now.getTime() ? 'AVAILABLE' : status;
}

export interface BookingWindow {
  starts_at: Date;
  booking_opens_at: Date;
}

export function isBookable(schedule: BookingWindow, now: Date): boolean {
  return schedule.booking_opens_at.getTime() <= now.getTime() && now.getTime() < schedule.starts_at.getTime();
}

export function assertBookable(schedule: BookingWindow, now: Date): void {
  if (now.getTime() < schedule.booking_opens_at.getTime()) {
    throw new DomainError('BOOKING_NOT_OPEN', `Booking opens at ${schedule.booking_opens_at.toISOString()}`, {
      bookingOpensAt: schedule.booking_opens_at.toISOString(),
    });
  }
  if (now.getTime() >= schedule.starts_at.getTime()) {
    throw new DomainError('BOOKING_CLOSED', `The show started at ${schedule.starts_at.toISOString()}`);
  }
}
