// Concerts by id, fetched once per page: reservations name their concert and date from here.
import { request } from './api.js';

const concerts = new Map();

/** The concert with its schedules; a failed fetch is forgotten, so the next call tries again. */
export function concertById(id) {
  if (!concerts.has(id)) {
    const loading = request(`/concerts/${encodeURIComponent(id)}`).then((r) => r.data);
    loading.catch(() => concerts.delete(id));
    concerts.set(id, loading);
  }
  return concerts.get(id);
}

/** Seats left, sold out, not yet open, or past: what a date offers now. */
export function dateState(schedule, now = Date.now()) {
  if (Date.parse(schedule.startsAt) <= now) return { open: false, text: 'Already took place' };
  if (Date.parse(schedule.bookingOpensAt) > now) return { open: false, text: `Booking opens ${new Date(schedule.bookingOpensAt).toLocaleString()}` };
  if (schedule.availableSeats === 0) return { open: false, text: 'Sold out' };
  return { open: true, text: `${schedule.availableSeats} of ${schedule.seatCount} seats left` };
}
