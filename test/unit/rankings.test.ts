import { describe, expect, it } from 'vitest';
import { parseWindow, secondsToSellOut } from '../../src/modules/rankings/rankings.service.js';
import { bucketsFor, HOUR, MINUTE } from '../../src/modules/rankings/rankings.store.js';
import { DomainError } from '../../src/platform/errors.js';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

describe('ranking windows', () => {
  it('parse minutes, hours and days up to seven days', () => {
    expect(parseWindow('15m')).toBe(15 * MINUTE);
    expect(parseWindow('1h')).toBe(HOUR);
    expect(parseWindow('7d')).toBe(7 * 24 * HOUR);
    for (const bad of ['', '1', 'h', '0h', '8d', '1w', '-1h', '1.5h']) expect(() => parseWindow(bad), bad).toThrow(DomainError);
  });

  it('cover the window with minute buckets up to two hours, hour buckets beyond', () => {
    const oneHour = bucketsFor(HOUR, T0 + 30 * 1000);
    expect(oneHour.size).toBe(MINUTE);
    expect(oneHour.starts).toHaveLength(60);
    expect(oneHour.starts.at(-1)).toBe(T0);
    expect(oneHour.starts[0]).toBe(T0 - 59 * MINUTE);
    const day = bucketsFor(24 * HOUR, T0);
    expect(day.size).toBe(HOUR);
    expect(day.starts).toHaveLength(24);
  });

  it('measure sell-out speed from booking opening', () => {
    expect(secondsToSellOut(new Date(T0), new Date(T0 + 93_400))).toBe(93);
    expect(secondsToSellOut(new Date(T0), new Date(T0 - 5))).toBe(0);
  });
});
