import { describe, expect, it } from 'vitest';
import { createQueueService } from '../../src/modules/queue/queue.service.js';
import { createMemoryQueueStore } from '../../src/modules/queue/queue.store.memory.js';
import { RESTORE_WAITING_WITHIN_MS, type QueueStore } from '../../src/modules/queue/queue.store.js';
import { createQueueTokens } from '../../src/modules/queue/queue.token.js';
import { manualClock } from '../../src/platform/clock.js';

/**
 * A poll re-issues the Queue-Token of a waiting user, so the token says how recently its entry was
 * known to be in line; a line lost since puts back the users whose tokens are recent, and not an
 * entry whose token was last issued long ago.
 */
const tokens = createQueueTokens({ secret: 's'.repeat(40) });
const limits = { maxActive: 1, perSecond: 100, activeTtlMs: 60_000 };

function serviceOn(store: QueueStore, clock: ReturnType<typeof manualClock>) {
  return createQueueService({ store, tokens, clock, limits, assertConcertExists: async () => {} });
}

describe('a waiting user polling', () => {
  it('gets the token re-issued for the same entry and place, and only a recent token brings the entry back after a loss', async () => {
    const clock = manualClock('2030-01-01T00:00:00.000Z');
    const t0 = clock.now().getTime();
    const before = serviceOn(createMemoryQueueStore(), clock);
    await before.join('first', 'c');
    const joined = (await before.join('late', 'c')).view;
    const other = (await before.join('other', 'c')).view;
    expect([joined.status, joined.position]).toEqual(['WAITING', 1]);

    clock.advance(30 * 60_000); // half an hour in line
    const polled = await before.status('late', 'c', joined.token);
    expect([polled.status, polled.position]).toEqual(['WAITING', 1]);
    const was = tokens.verify(joined.token);
    const now = tokens.verify(polled.token);
    expect(now).toEqual({ ...was, issuedAt: t0 + 30 * 60_000 });
    expect(now.activeUntil).toBeUndefined();

    // The line is lost (a new store); a minute later both poll again.
    clock.advance(60_000);
    const after = serviceOn(createMemoryQueueStore(), clock);
    expect((await after.status('other', 'c', other.token)).status).toBe('EXPIRED'); // last issued 31 minutes ago
    // Put back at the head of an empty line, so admitted at once.
    expect((await after.status('late', 'c', polled.token)).status).toBe('ACTIVE');
    expect(RESTORE_WAITING_WITHIN_MS).toBeGreaterThan(60_000);
  });
});
