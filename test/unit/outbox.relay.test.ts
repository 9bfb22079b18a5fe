import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { retryDelayMs } from '../../src/modules/events/outbox.relay.js';

describe('outbox retry schedule', () => {
  it('doubles from 200 ms with jitter of ±25%', () => {
    expect(retryDelayMs(1, 30_000, () => 0.5)).toBe(200);
    expect(retryDelayMs(4, 30_000, () => 0.5)).toBe(1_600);
    expect(retryDelayMs(4, 30_000, () => 0)).toBe(1_200);
    expect(retryDelayMs(4, 30_000, () => 1)).toBe(2_000);
  });

  it('never waits longer than the cap, however long the outage', () => {
    for (const attempts of [10, 20, 100, 10_000]) {
      expect(retryDelayMs(attempts, 30_000, () => 1)).toBe(30_000);
      expect(retryDelayMs(attempts, 500, () => 0.5)).toBe(500);
    }
  });
});

describe('event delivery settings', () => {
  it('have defaults, and refuse a deduplication retention shorter than a week', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      OUTBOX_RETRY_MAX_MS: 30_000,
      OUTBOX_RETENTION_HOURS: 24,
      PROCESSED_EVENTS_RETENTION_HOURS: 336,
      EVENT_MAX_BYTES: 1_048_576,
    });
    expect(() => loadConfig({ PROCESSED_EVENTS_RETENTION_HOURS: '24' })).toThrow(/PROCESSED_EVENTS_RETENTION_HOURS/);
    expect(() => loadConfig({ OUTBOX_RETRY_MAX_MS: '10' })).toThrow(/OUTBOX_RETRY_MAX_MS/);
  });
});
