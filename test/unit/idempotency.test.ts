import { describe, expect, it } from 'vitest';
import { canonicalJson, requestFingerprint } from '../../src/modules/idempotency/idempotency.service.js';

describe('idempotency fingerprint', () => {
  it('ignores key order but not values or routes', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: null } })).toBe('{"a":{"c":null,"d":[1,2]},"b":1}');
    const one = requestFingerprint('POST', '/payments', { reservationId: 'x' });
    expect(requestFingerprint('POST', '/payments', { reservationId: 'x' })).toBe(one);
    expect(requestFingerprint('POST', '/payments', { reservationId: 'y' })).not.toBe(one);
    expect(requestFingerprint('POST', '/reservations', { reservationId: 'x' })).not.toBe(one);
  });
});
