import { describe, expect, it } from 'vitest';
import { manualClock } from '../../src/platform/clock.js';
import { DomainError } from '../../src/platform/errors.js';
import {
  assertPayable,
  assertUnderHoldLimit,
  cancellation,
  effectiveStatus,
  holdExpiry,
} from '../../src/modules/reservations/reservations.rules.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.code : 'not a domain error';
  }
  return undefined;
};

describe('hold expiry', () => {
  const clock = manualClock('2030-05-01T12:00:00.000Z');
  const heldUntil = holdExpiry(clock.now(), 300);

  it('lasts exactly the TTL', () => {
    expect(heldUntil.toISOString()).toBe('2030-05-01T12:05:00.000Z');
  });

  it('reads HELD until the last millisecond and EXPIRED from heldUntil on', () => {
    clock.set(new Date(heldUntil.getTime() - 1));
    expect(effectiveStatus({ status: 'HELD', held_until: heldUntil }, clock.now())).toBe('HELD');
    clock.set(heldUntil);
    expect(effectiveStatus({ status: 'HELD', held_until: heldUntil }, clock.now())).toBe('EXPIRED');
  });

  it('does not change confirmed, cancelled or expired reservations', () => {
    const late = new Date(heldUntil.getTime() + 60_000);
    for (const status of ['CONFIRMED', 'CANCELLED', 'EXPIRED'] as const) {
      expect(effectiveStatus({ status, held_until: heldUntil }, late)).toBe(status);
    }
  });
});

describe('paying', () => {
  const heldUntil = new Date('2030-05-01T12:05:00.000Z');
  const before = new Date('2030-05-01T12:04:59.999Z');

  it('accepts a live hold', () => {
    expect(codeOf(() => assertPayable({ status: 'HELD', held_until: heldUntil }, before))).toBeUndefined();
  });

  it('refuses a hold at or after heldUntil, swept or not, with HOLD_EXPIRED', () => {
    expect(codeOf(() => assertPayable({ status: 'HELD', held_until: heldUntil }, heldUntil))).toBe('HOLD_EXPIRED');
    expect(codeOf(() => assertPayable({ status: 'EXPIRED', held_until: heldUntil }, before))).toBe('HOLD_EXPIRED');
  });

  it('refuses confirmed and cancelled reservations with RESERVATION_NOT_PAYABLE', () => {
    expect(codeOf(() => assertPayable({ status: 'CONFIRMED', held_until: heldUntil }, before))).toBe('RESERVATION_NOT_PAYABLE');
    expect(codeOf(() => assertPayable({ status: 'CANCELLED', held_until: heldUntil }, before))).toBe('RESERVATION_NOT_PAYABLE');
  });
});

describe('cancelling', () => {
  const heldUntil = new Date('2030-05-01T12:05:00.000Z');
  const show = new Date('2030-06-01T19:00:00.000Z');
  const now = new Date('2030-05-01T12:00:00.000Z');

  it('releases a live hold', () => {
    expect(cancellation({ status: 'HELD', held_until: heldUntil }, show, now)).toBe('RELEASE_HOLD');
  });

  it('refunds a confirmed seat before the show and refuses from its start on', () => {
    expect(cancellation({ status: 'CONFIRMED', held_until: heldUntil }, show, now)).toBe('REFUND');
    expect(codeOf(() => cancellation({ status: 'CONFIRMED', held_until: heldUntil }, show, show))).toBe(
      'RESERVATION_NOT_CANCELLABLE',
    );
  });

  it('refuses expired (marked or not) and cancelled reservations', () => {
    expect(codeOf(() => cancellation({ status: 'HELD', held_until: heldUntil }, show, heldUntil))).toBe(
      'RESERVATION_NOT_CANCELLABLE',
    );
    expect(codeOf(() => cancellation({ status: 'EXPIRED', held_until: heldUntil }, show, now))).toBe(
      'RESERVATION_NOT_CANCELLABLE',
    );
    expect(codeOf(() => cancellation({ status: 'CANCELLED', held_until: heldUntil }, show, now))).toBe(
      'RESERVATION_NOT_CANCELLABLE',
    );
  });
});

describe('hold limit', () => {
  it('allows up to the limit and refuses at it', () => {
    expect(codeOf(() => assertUnderHoldLimit(3, 4))).toBeUndefined();
    expect(codeOf(() => assertUnderHoldLimit(4, 4))).toBe('HOLD_LIMIT_REACHED');
  });
});
