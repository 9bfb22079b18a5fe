import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import { startLoop } from '../../platform/loop.js';
import { expireDueHolds } from './reservations.repository.js';

/** Expires due holds in batches until none is left; returns how many it expired. */
export async function sweepExpiredHolds(db: Database, clock: Clock, batch = 500): Promise<number> {
  let total = 0;
  for (;;) {
    const expired = await expireDueHolds(db, clock.now(), batch);
    total += expired;
    if (expired < batch) return total;
  }
}

/**
 * Runs sweeps on a timer. Every read already treats a passed hold as expired; the sweeper makes it
 * durable (status EXPIRED, seat row freed) and emits reservation.expired within about one interval.
 */
export function startSweeper(opts: {
  db: Database;
  clock: Clock;
  intervalMs: number;
  log: Logger;
  onExpired?: (count: number) => void;
  housekeeping?: () => Promise<unknown>;
  housekeepingEveryMs?: number;
}) {
  let lastHousekeeping = 0;
  return startLoop({
    intervalMs: opts.intervalMs,
    onError: (err) => opts.log.warn({ err }, 'hold sweep failed; will retry'),
    run: async () => {
      const count = await sweepExpiredHolds(opts.db, opts.clock);
      if (count > 0) opts.onExpired?.(count);
      if (opts.housekeeping && Date.now() - lastHousekeeping >= (opts.housekeepingEveryMs ?? 60_000)) {
        lastHousekeeping = Date.now();
        await opts.housekeeping();
      }
    },
  });
}
