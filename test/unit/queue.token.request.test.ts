import type { FastifyRequest } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { createQueueService } from '../../src/modules/queue/queue.service.js';
import { createMemoryQueueStore } from '../../src/modules/queue/queue.store.memory.js';
import { createQueueTokens } from '../../src/modules/queue/queue.token.js';
import { requestQueueTokens } from '../../src/modules/queue/queue.token.request.js';
import { manualClock } from '../../src/platform/clock.js';
import { DomainError } from '../../src/platform/errors.js';

const tokens = createQueueTokens({ secret: 'r'.repeat(40) });
const claims = { userId: 'u-1', concertId: 'c-1', entryId: 'e-1', issuedAt: 1_900_000_000_000 };
const requestWith = (token?: string) => ({ headers: token === undefined ? {} : { 'queue-token': token } }) as unknown as FastifyRequest;
const refusalOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('not refused');
};

describe("a request's Queue-Token", () => {
  it('is verified once, whoever asks and however often, with the same claims each time', () => {
    const verify = vi.spyOn(tokens, 'verify');
    const ofRequest = requestQueueTokens(tokens);
    const token = tokens.issue(claims);
    const request = requestWith(token);
    expect(ofRequest.genuine(request)).toEqual(claims);
    expect(ofRequest.verified(request)).toEqual({ token, claims });
    expect(ofRequest.genuine(request)).toBe(ofRequest.verified(request).claims);
    expect(verify).toHaveBeenCalledTimes(1);
    // another request is checked on its own
    expect(ofRequest.genuine(requestWith(token))).toEqual(claims);
    expect(verify).toHaveBeenCalledTimes(2);
    verify.mockRestore();
  });

  it('refused once: every later ask gets the same refusal, QUEUE_TOKEN_INVALID, without checking again', () => {
    const verify = vi.spyOn(tokens, 'verify');
    const ofRequest = requestQueueTokens(tokens);
    const [v, kid, payload, signature] = tokens.issue(claims).split('.') as [string, string, string, string];
    const forged = `${v}.${kid}.${Buffer.from(JSON.stringify({ u: 'someone', c: 'c-1', e: 'e-1', iat: 1 })).toString('base64url')}.${signature}`;
    for (const bad of [undefined, '', 'nonsense', forged, `${v}.ffffffff.${payload}.${signature}`]) {
      verify.mockClear();
      const request = requestWith(bad);
      expect(ofRequest.genuine(request), String(bad)).toBeUndefined();
      const first = refusalOf(() => ofRequest.verified(request));
      expect(first).toBeInstanceOf(DomainError);
      expect((first as DomainError).code).toBe('QUEUE_TOKEN_INVALID');
      expect((first as DomainError).message).toBe((refusalOf(() => tokens.verify(bad)) as DomainError).message);
      expect(refusalOf(() => ofRequest.verified(request))).toBe(first);
      expect(verify, String(bad)).toHaveBeenCalledTimes(2); // once for the request, once above to compare
    }
    verify.mockRestore();
  });

  it('is checked again when the header changed since, or by another checker (another secret)', () => {
    const ofRequest = requestQueueTokens(tokens);
    const request = requestWith('nonsense');
    expect(ofRequest.genuine(request)).toBeUndefined();
    request.headers['queue-token'] = tokens.issue(claims);
    expect(ofRequest.genuine(request)).toEqual(claims);
    expect(requestQueueTokens(createQueueTokens({ secret: 'o'.repeat(40) })).genuine(request)).toBeUndefined();
  });
});

describe('the waiting room without HTTP', () => {
  const service = () =>
    createQueueService({
      store: createMemoryQueueStore(),
      tokens,
      clock: manualClock('2030-01-01T00:00:00.000Z'),
      limits: { maxActive: 10, perSecond: 100, activeTtlMs: 60_000 },
      assertConcertExists: async () => {},
    });

  it('verifies a token given as sent, and takes one verified already without checking it again', async () => {
    const queue = service();
    const { token } = (await queue.join('u', 'c')).view;
    const verify = vi.spyOn(tokens, 'verify');
    expect((await queue.status('u', 'c', token)).status).toBe('ACTIVE');
    expect(verify).toHaveBeenCalledTimes(1);
    await expect(queue.status('u', 'c', 'nonsense')).rejects.toMatchObject({ code: 'QUEUE_TOKEN_INVALID' });
    await expect(queue.status('u', 'c', undefined)).rejects.toMatchObject({ code: 'QUEUE_TOKEN_INVALID' });
    verify.mockClear();
    const verified = { token, claims: tokens.verify(token) };
    expect((await queue.watch('u', 'c', verified, 0)).view.status).toBe('ACTIVE');
    // owner and concert are still checked against verified claims
    await expect(queue.status('someone', 'c', verified)).rejects.toMatchObject({ code: 'QUEUE_TOKEN_MISMATCH' });
    await expect(queue.leave('u', 'another', verified)).rejects.toMatchObject({ code: 'QUEUE_TOKEN_MISMATCH' });
    await queue.leave('u', 'c', verified);
    expect((await queue.status('u', 'c', verified)).status).toBe('EXPIRED');
    expect(verify).toHaveBeenCalledTimes(1); // the one made here to build `verified`
    verify.mockRestore();
  });
});
