import { DomainError } from '../../platform/errors.js';

/** The most a balance may hold, in won. */
export const MAX_BALANCE = 1_000_000_000;
/** The most one charge may add, in won. */
export const MAX_CHARGE = 10_000_000;

export function assertChargeFits(balance: number, amount: number): void {
  if (balance + amount > MAX_BALANCE) {
    throw new DomainError(
      'BALANCE_LIMIT_EXCEEDED',
      `A charge of ${amount} would take the balance of ${balance} above ${MAX_BALANCE}`,
      { balance, limit: MAX_BALANCE },
    );
  }
}
