import type { Logger } from 'pino';
import { startLoop } from '../../platform/loop.js';
import type { QueueService } from './queue.service.js';

/**
 * Runs admission passes every `intervalMs` (so a freed place is refilled well within a second),
 * and forgets ended queue entries every `purgeEveryMs` (a minute).
 * Every instance runs one; the store makes concurrent passes safe. While the database is not
 * ready, admission pauses (admitting people who cannot book would only burn their active time)
 * and resumes by itself when it answers again.
 */
export function startQueueTicker(opts: {
  queue: QueueService;
  intervalMs: number;
  databaseReady: () => boolean | Promise<boolean>;
  log: Logger;
  onPaused?: (paused: boolean) => void;
  /** How often ended entries are forgotten (QueueStore.purgeEnded). */
  purgeEveryMs?: number;
}) {
  let paused = false;
  let lastPurge = Date.now();
  return startLoop({
    intervalMs: opts.intervalMs,
    onError: (err) => opts.log.warn({ err }, 'queue admission pass failed; will retry'),
    run: async () => {
      const ready = await opts.databaseReady();
      if (ready === paused) {
        paused = !ready;
        opts.onPaused?.(paused);
        if (paused) opts.log.warn('queue admission paused: database not ready');
        else opts.log.info('queue admission resumed');
      }
      if (paused) return;
      await opts.queue.tick();
      if (Date.now() - lastPurge >= (opts.purgeEveryMs ?? 60_000)) {
        lastPurge = Date.now();
        await opts.queue.purgeEnded();
      }
    },
  });
}
