import { describe, expect, it } from 'vitest';
import { loadConfig, ConfigError } from '../../src/config.js';
import { assertBookable, isBookable } from '../../src/modules/catalog/catalog.rules.js';
import { canonicalJson, requestFingerprint } from '../../src/modules/idempotency/idempotency.service.js';
import { assertChargeFits, MAX_BALANCE } from '../../src/modules/wallet/wallet.rules.js';
import { DomainError } from '../../src/platform/errors.js';
import { decodeCursor, encodeCursor, page } from '../../src/platform/pagination.js';
import { problem } from '../../src/platform/problem.js';
import { createCatalogService } from '../../src/modules/catalog/catalog.service.js';
import { systemClock } from '../../src/platform/clock.js';

describe('booking window', () => {
  const schedule = { booking_opens_at: new Date('2030-01-01T00:00:00Z'), starts_at: new Date('2030-02-01T19:00:00Z') };
  it('is open from bookingOpensAt until the show starts', () => {
    expect(isBookable(schedule, new Date('2029-12-31T23:59:59Z'))).toBe(false);
    expect(isBookable(schedule, new Date('2030-01-01T00:00:00Z'))).toBe(true);
    expect(isBookable(schedule, new Date('2030-02-01T19:00:00Z'))).toBe(false);
  });
  it('says which side of the window a request is on', () => {
    const code = (at: string) => {
      try {
        assertBookable(schedule, new Date(at));
        return 'open';
      } catch (err) {
        return (err as DomainError).code;
      }
    };
    expect(code('2029-12-31T00:00:00Z')).toBe('BOOKING_NOT_OPEN');
    expect(code('2030-01-15T00:00:00Z')).toBe('open');
    expect(code('2030-03-01T00:00:00Z')).toBe('BOOKING_CLOSED');
  });
});

describe('balance cap', () => {
  it('allows a charge up to the cap and refuses beyond', () => {
    expect(() => assertChargeFits(MAX_BALANCE - 10, 10)).not.toThrow();
    expect(() => assertChargeFits(MAX_BALANCE - 10, 11)).toThrow(DomainError);
  });
});

describe('idempotency fingerprint', () => {
  it('ignores key order but not values or routes', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: null } })).toBe('{"a":{"c":null,"d":[1,2]},"b":1}');
    const one = requestFingerprint('POST', '/payments', { reservationId: 'x' });
    expect(requestFingerprint('POST', '/payments', { reservationId: 'x' })).toBe(one);
    expect(requestFingerprint('POST', '/payments', { reservationId: 'y' })).not.toBe(one);
    expect(requestFingerprint('POST', '/reservations', { reservationId: 'x' })).not.toBe(one);
  });
});

describe('pagination', () => {
  it('round-trips cursors and refuses foreign ones', () => {
    const id = '01890a5d-ac96-774b-bcce-b302099a8057';
    expect(decodeCursor(encodeCursor(id))).toBe(id);
    expect(decodeCursor(undefined)).toBeUndefined();
    expect(() => decodeCursor('not-a-cursor')).toThrow(DomainError);
  });
  it('returns a next cursor only when there is another page', () => {
    const rows = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
    expect(page(rows, 2)).toEqual({ items: [{ id: 'a' }, { id: 'b' }], nextCursor: encodeCursor('b') });
    expect(page(rows, 3).nextCursor).toBeNull();
  });
});

describe('problem details', () => {
  it('maps codes to statuses and titles', () => {
    expect(problem('IDEMPOTENCY_KEY_MISMATCH', 'x', '/p')).toMatchObject({ status: 422, title: 'Idempotency key mismatch' });
    expect(problem('SEAT_UNAVAILABLE', 'x', '/p').type).toMatch(/\/problems\/seat-unavailable$/);
  });
});

describe('config', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      DATA_DIR: '.data',
      HOLD_TTL_SECONDS: 300,
      HOLD_LIMIT_PER_SCHEDULE: 4,
      QUEUE_MAX_ACTIVE: 1000,
      QUEUE_ADMIT_PER_SECOND: 50,
      QUEUE_ACTIVE_TTL_SECONDS: 600,
      DEMO_DATA: true,
      LOG_LEVEL: 'info',
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });
  it('converts values and lists every problem at once', () => {
    expect(loadConfig({ PORT: '8080', DEMO_DATA: 'false' })).toMatchObject({ PORT: 8080, DEMO_DATA: false });
    try {
      loadConfig({ PORT: 'abc', HOLD_TTL_SECONDS: '0', DATABASE_URL: 'mysql://x' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/PORT/);
      expect(problems).toMatch(/HOLD_TTL_SECONDS/);
      expect(problems).toMatch(/DATABASE_URL/);
    }
  });
});

describe('catalog.seatsChanged', () => {
  it('drops what one turn of the event loop reported in one go, and each caller waits for it', async () => {
    const calls: { cache: string; keys: string[] }[] = [];
    const fake = (cache: string) => ({ invalidate: async (...keys: string[]) => void calls.push({ cache, keys }) });
    const catalog = createCatalogService({
      db: undefined as never,
      clock: systemClock,
      caches: { seats: fake('seats'), concert: fake('concert'), concerts: fake('concerts') } as never,
    });
    const waits = [
      catalog.seatsChanged([{ scheduleId: 's1', concertId: 'c1' }]),
      catalog.seatsChanged([{ scheduleId: 's2', concertId: 'c1' }, { scheduleId: 's1', concertId: 'c1' }]),
    ];
    expect(calls).toEqual([]); // nothing yet: the drop waits for the end of this turn
    await Promise.all(waits);
    expect(calls).toEqual([
      { cache: 'seats', keys: ['s1', 's2'] },
      { cache: 'concert', keys: ['c1'] },
    ]);
    await catalog.seatsChanged([{ scheduleId: 's3', concertId: 'c2' }]);
    expect(calls.slice(2)).toEqual([
      { cache: 'seats', keys: ['s3'] },
      { cache: 'concert', keys: ['c2'] },
    ]);
  });
});
