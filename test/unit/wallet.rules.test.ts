import { describe, expect, it } from 'vitest';
import { assertChargeFits, MAX_BALANCE } from '../../src/modules/wallet/wallet.rules.js';
import { DomainError } from '../../src/platform/errors.js';

describe('balance cap', () => {
  it('allows a charge up to the cap and refuses beyond', () => {
    expect(() => assertChargeFits(MAX_BALANCE - 10, 10)).not.toThrow();
    expect(() => assertChargeFits(MAX_BALANCE - 10, 11)).toThrow(DomainError);
  });
});
