import { describe, expect, it } from 'vitest';
import { assertBookable, isBookable } from '../../src/modules/catalog/catalog.rules.js';
import { createCatalogService } from '../../src/modules/catalog/catalog.service.js';
import { systemClock } from '../../src/platform/clock.js';
import { DomainError } from '../../src/platform/errors.js';

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
