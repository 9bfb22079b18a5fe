import { DomainError } from '../../platform/errors.js';

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
