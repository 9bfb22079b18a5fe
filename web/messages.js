// What a person reads for every problem the API can return: no codes, no JSON.
import { money } from './format.js';

const seat = (c) => (c.seat ? `Seat ${c.seat}` : 'That seat');

/** Each problem `code` of the API (and NETWORK, when the service cannot be reached) → a sentence. */
export const MESSAGES = {
  VALIDATION_FAILED: () => 'Something you entered is not valid. Check the form and try again.',
  UNAUTHENTICATED: () => 'Your account was not recognised, so you have been signed out. Sign up again to continue.',
  QUEUE_TOKEN_INVALID: () => 'Your place in line could not be verified. Join the line again.',
  FORBIDDEN: () => 'You are not allowed to do that.',
  QUEUE_TOKEN_MISMATCH: () => 'That place in line belongs to another concert or account. Join the line again.',
  QUEUE_NOT_ACTIVE: (c, body) =>
    body.queueStatus === 'WAITING'
      ? `It is not your turn yet${body.position ? `: you are number ${body.position} in line` : ''}. Seats open for you when you are admitted.`
      : 'Your turn to book has ended. Join the line again to pick seats.',
  NOT_FOUND: () => 'That could not be found: it may have been removed or never existed.',
  SEAT_UNAVAILABLE: (c) => `${seat(c)} was just taken by someone else. Pick another seat.`,
  HOLD_LIMIT_REACHED: () => 'You already hold as many seats as allowed for this date. Pay for or release one first.',
  HOLD_EXPIRED: (c) => `Your hold on ${c.seat ? `seat ${c.seat}` : 'this seat'} ran out before payment, so nothing was charged. The seat is free again: hold it again to buy it.`,
  RESERVATION_NOT_PAYABLE: () => 'This reservation is already paid for or cancelled, so there is nothing to pay.',
  RESERVATION_NOT_CANCELLABLE: () => 'This reservation can no longer be cancelled: it has expired, was cancelled already, or the show has started.',
  BOOKING_NOT_OPEN: () => 'Booking for this date has not opened yet. Come back when it opens.',
  BOOKING_CLOSED: () => 'Booking for this date has closed.',
  INSUFFICIENT_BALANCE: (c) =>
    `Your balance is too low for this seat${c.price ? ` (${money(c.price)})` : ''}. Nothing was charged: top up, then pay again.`,
  BALANCE_LIMIT_EXCEEDED: () => `That top-up would take your balance above ${money(1_000_000_000)}. Try a smaller amount.`,
  IDEMPOTENCY_KEY_IN_USE: () => 'Your previous attempt is still being processed. Wait a moment, then check your reservations.',
  IDEMPOTENCY_KEY_MISMATCH: () => 'This request clashed with an earlier one. Reload the page and try again.',
  RATE_LIMITED: (c, body, problem) =>
    `Too many requests at once. Wait ${problem.retryAfterSeconds ?? 'a few'} seconds and try again.`,
  UNAVAILABLE: () => 'The ticket service is briefly unavailable. Try again in a few seconds.',
  PAYLOAD_TOO_LARGE: () => 'What you sent is too large. Shorten it and try again.',
  UNSUPPORTED_MEDIA_TYPE: () => 'The page sent something the service does not understand. Reload the page and try again.',
  INTERNAL_ERROR: () => 'Something went wrong on our side. Nothing you did caused it; try again shortly.',
  NETWORK: () => 'The ticket service cannot be reached. Check your connection and try again.',
};

/**
 * The sentence for an ApiProblem (or any error). `context` names what the action was about:
 * `{ seat, price }`.
 */
export function messageFor(problem, context = {}) {
  const say = MESSAGES[problem?.code];
  if (say) return say(context, problem.body ?? {}, problem);
  if (problem?.status >= 500) return MESSAGES.INTERNAL_ERROR();
  if (problem?.status >= 400) return 'That did not work. Reload the page and try again.';
  return 'Something went wrong in this page. Reload it and try again.';
}
