import { describe, expect, it } from 'vitest';
import { problemCodes } from '../../src/platform/problem.js';

// Plain browser JavaScript (web/ has no types): imported by its address.
const { MESSAGES, messageFor } = (await import(new URL('../../web/messages.js', import.meta.url).href)) as {
  MESSAGES: Record<string, unknown>;
  messageFor: (problem: unknown, context?: Record<string, unknown>) => string;
};

describe('the booking page’s problem messages', () => {
  it('have a sentence for every code the service can answer with, and for an unreachable service', () => {
    expect(Object.keys(MESSAGES).sort()).toEqual([...problemCodes(), 'NETWORK'].sort());
  });

  it.each([...problemCodes(), 'NETWORK'])('say %s in words: no code, no JSON', (code) => {
    const text = messageFor({ code, status: 409, body: {} }, { seat: 12, price: 99_000 });
    expect(text).toMatch(/^[A-Z].*\.$/);
    expect(text).not.toContain(code);
    expect(text).not.toMatch(/[{}[\]"]/);
  });

  it('use what the action was about and what the problem says', () => {
    expect(messageFor({ code: 'SEAT_UNAVAILABLE', body: {} }, { seat: 12 })).toBe('Seat 12 was just taken by someone else. Pick another seat.');
    expect(messageFor({ code: 'QUEUE_NOT_ACTIVE', body: { queueStatus: 'WAITING', position: 3 } })).toContain('you are number 3 in line');
    expect(messageFor({ code: 'RATE_LIMITED', body: {}, retryAfterSeconds: 7 })).toContain('Wait 7 seconds');
    expect(messageFor({ code: 'INSUFFICIENT_BALANCE', body: {} }, { price: 99_000 })).toContain('(₩99,000)');
  });

  it('fall back by status for a code this page does not know', () => {
    expect(messageFor({ code: 'SOMETHING_NEW', status: 502, body: {} })).toMatch(/went wrong on our side/);
    expect(messageFor({ code: 'SOMETHING_NEW', status: 418, body: {} })).toBe('That did not work. Reload the page and try again.');
  });
});
