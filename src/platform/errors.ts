/**
 * Domain errors carry a stable code from the public contract. Services throw them; the HTTP layer
 * alone decides status codes and problem+json bodies (see problem.ts).
 */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNAUTHENTICATED'
  | 'QUEUE_TOKEN_INVALID'
  | 'FORBIDDEN'
  | 'QUEUE_TOKEN_MISMATCH'
  | 'QUEUE_NOT_ACTIVE'
  | 'NOT_FOUND'
  | 'SEAT_UNAVAILABLE'
  | 'HOLD_LIMIT_REACHED'
  | 'HOLD_EXPIRED'
  | 'RESERVATION_NOT_PAYABLE'
  | 'RESERVATION_NOT_CANCELLABLE'
  | 'BOOKING_NOT_OPEN'
  | 'BOOKING_CLOSED'
  | 'INSUFFICIENT_BALANCE'
  | 'BALANCE_LIMIT_EXCEEDED'
  | 'IDEMPOTENCY_KEY_IN_USE'
  | 'IDEMPOTENCY_KEY_MISMATCH'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE';

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string) => new DomainError('NOT_FOUND', `${what} not found`);

/** What a use case's failure is called in metrics: its refusal code, or `error` for anything else. */
export const outcomeOf = (err: unknown): ErrorCode | 'error' => (err instanceof DomainError ? err.code : 'error');
