import { describe, expect, it } from 'vitest';
import { problem } from '../../src/platform/problem.js';

describe('problem details', () => {
  it('maps codes to statuses and titles', () => {
    expect(problem('IDEMPOTENCY_KEY_MISMATCH', 'x', '/p')).toMatchObject({ status: 422, title: 'Idempotency key mismatch' });
    expect(problem('SEAT_UNAVAILABLE', 'x', '/p').type).toMatch(/\/problems\/seat-unavailable$/);
  });
});
