import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { queueTokenVoucher } from '../../src/modules/queue/queue.gate.js';
import type { QueueService } from '../../src/modules/queue/queue.service.js';
import { estimatedWaitSeconds, measuredRate, refreshAfterSeconds } from '../../src/modules/queue/queue.rules.js';
import { createQueueTokens, keyIdOf } from '../../src/modules/queue/queue.token.js';
import { requestQueueTokens } from '../../src/modules/queue/queue.token.request.js';
import { bearerBinding } from '../../src/modules/users/users.auth.js';
import { DomainError } from '../../src/platform/errors.js';

const SECRET = 'a'.repeat(40);
const claims = { userId: 'u-1', concertId: 'c-1', entryId: 'e-1', issuedAt: 1_900_000_000_000 };

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err instanceof DomainError ? err.code : String(err);
  }
};

describe('queue tokens', () => {
  const tokens = createQueueTokens({ secret: SECRET });

  it('round-trip their claims and name their key', () => {
    const token = tokens.issue(claims);
    expect(token.split('.')[1]).toBe(keyIdOf(SECRET));
    expect(tokens.verify(token)).toEqual(claims);
    // Where the entry stood and until when it was active, when known, travel signed as well.
    const placed = { ...claims, place: { order: 1_900_000_000_000 * 1024 + 3, epoch: 'ep-1' }, activeUntil: 1_900_000_600_000 };
    expect(tokens.verify(tokens.issue(placed))).toEqual(placed);
  });

  it('carry the binding of the bearer token they were issued for, when given one', () => {
    const bound = { ...claims, bearer: bearerBinding('tk_secret-of-the-joining-user') };
    expect(tokens.verify(tokens.issue(bound))).toEqual(bound);
    expect(bound.bearer).toHaveLength(22);
    expect(bound.bearer).not.toBe(bearerBinding('tk_secret-of-another-user'));
    expect(JSON.stringify(tokens.verify(tokens.issue(bound)))).not.toContain('tk_secret');
  });

  it('refuse missing, malformed, tampered and forged tokens', () => {
    const token = tokens.issue(claims);
    const [v, kid, payload, sig] = token.split('.') as [string, string, string, string];
    const otherPayload = Buffer.from(JSON.stringify({ u: 'u-2', c: 'c-1', e: 'e-1', iat: 1 })).toString('base64url');
    const forged = createQueueTokens({ secret: 'b'.repeat(40) }).issue(claims);
    for (const bad of [
      undefined,
      '',
      'garbage',
      `${v}.${kid}.${payload}`,
      `qt2.${kid}.${payload}.${sig}`,
      `${v}.${kid}.${otherPayload}.${sig}`,
      `${v}.${kid}.${payload}.${sig.slice(0, -2)}AA`,
      `${v}.${kid}.${payload}.`,
      forged,
    ]) {
      expect(codeOf(() => tokens.verify(bad)), String(bad)).toBe('QUEUE_TOKEN_INVALID');
    }
  });

  it('keep verifying tokens of the previous secret during a rotation, and only then', () => {
    const old = createQueueTokens({ secret: SECRET }).issue(claims);
    const rotated = createQueueTokens({ secret: 'c'.repeat(40), previousSecrets: [SECRET] });
    expect(rotated.verify(old)).toEqual(claims);
    expect(rotated.issue(claims).split('.')[1]).toBe(keyIdOf('c'.repeat(40)));
    const after = createQueueTokens({ secret: 'c'.repeat(40) });
    expect(codeOf(() => after.verify(old))).toBe('QUEUE_TOKEN_INVALID');
  });
});

describe('wait estimates', () => {
  it('use the measured rate, and the configured one only before any admission', () => {
    expect(measuredRate(300, 30_000, 50)).toBe(10);
    expect(measuredRate(0, 30_000, 50)).toBe(50);
  });

  it('grow with the position', () => {
    expect(estimatedWaitSeconds(1, 10)).toBe(1);
    expect(estimatedWaitSeconds(100, 10)).toBe(10);
    expect(estimatedWaitSeconds(100_000, 50)).toBe(2_000);
    expect(estimatedWaitSeconds(0, 10)).toBe(0);
  });

  it('ask far-away users to poll rarely and the head of the line often', () => {
    expect(refreshAfterSeconds(1)).toBe(1);
    expect(refreshAfterSeconds(35)).toBe(4);
    expect(refreshAfterSeconds(2_000)).toBe(60);
    const positions = [1, 10, 100, 1_000, 10_000, 100_000];
    const refresh = positions.map((p) => refreshAfterSeconds(estimatedWaitSeconds(p, 50)));
    expect([...refresh].sort((a, b) => a - b)).toEqual(refresh);
    // 100,000 waiting users at 50 admissions/s poll at well under 5,000 requests per second
    let load = 0;
    for (let p = 1; p <= 100_000; p++) load += 1 / refreshAfterSeconds(estimatedWaitSeconds(p, 50));
    expect(load).toBeLessThan(5_000);
  });
});

describe('a Queue-Token standing in for a bearer lookup', () => {
  const OLD = 'o'.repeat(40);
  const NEW = 'n'.repeat(40);
  // Someone who has a secret signs a token naming a victim, bound to a bearer of their choosing.
  const forgeWith = (secret: string) => createQueueTokens({ secret }).issue({ ...claims, userId: 'victim', bearer: bearerBinding('chosen') });
  const tokens = createQueueTokens({ secret: NEW, previousSecrets: [OLD] });
  const queue = { verify: tokens.verify, signedWithCurrentKey: tokens.signedWithCurrentKey } as unknown as QueueService;
  const vouch = queueTokenVoucher(queue, requestQueueTokens(tokens));
  const request = (url: string, token: string) => ({ headers: { 'queue-token': token }, routeOptions: { url } }) as unknown as FastifyRequest;

  it('vouches on the line, the seat map, holds and payments, with a token of the current secret', () => {
    for (const url of ['/concerts/:concertId/queue', '/schedules/:scheduleId/seats', '/reservations', '/payments']) {
      expect(vouch(request(url, forgeWith(NEW)), 'chosen')).toBe('victim');
      expect(vouch(request(url, forgeWith(NEW)), 'another bearer')).toBeUndefined();
    }
  });

  it('never on other routes (balance, top-ups, cancels), and never with a secret rotated out: the bearer is looked up', () => {
    for (const url of ['/users/me', '/users/me/balance/charges', '/reservations/:id', '/users/me/reservations']) {
      expect(vouch(request(url, forgeWith(NEW)), 'chosen')).toBeUndefined();
    }
    expect(tokens.verify(forgeWith(OLD)).userId).toBe('victim'); // still a valid Queue-Token for the gate
    expect(vouch(request('/payments', forgeWith(OLD)), 'chosen')).toBeUndefined();
  });
});
