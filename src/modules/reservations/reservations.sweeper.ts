import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import { startLoop } from '../../platform/loop.js';
import { expireDueHolds } from './release.repository.js';

/** Expires due holds in batches until none is left; returns how many it expired. */
export async function sweepExpiredHolds(
  db: Database,
  clock: Clock,
  batch = 500,
  onSeatsFreed?: (seats: { scheduleId: string; concertId: string }[]) => Promise<void>,
): Promise<number> {
  let total = 0;
  for (;;) {
    const expired = await expireDueHolds(db, clock.now(), batch);
    total += expired.length;
    if (expired.length > 0) await onSeatsFreed?.(expired);
    if (expired.length < batch) return total;
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
  /** Told after every pass how many holds it expired (0 included: a pass ran). */
  onSwept?: (expired: number) => void;
  /** Told which schedules had seats freed, to drop their cached seat maps. */
  onSeatsFreed?: (seats: { scheduleId: string; concertId: string }[]) => Promise<void>;
  housekeeping?: () => Promise<unknown>;
  housekeepingEveryMs?: number;
}) {
  let lastHousekeeping = 0;
  return startLoop({
    intervalMs: opts.intervalMs,
    onError: (err) => opts.log.warn({ err }, 'hold sweep failed; will retry'),
    run: async () => {
      const count = await sweepExpiredHolds(opts.db, opts.clock, 500, opts.onSeatsFreed);
      opts.onSwept?.(count);
      if (opts.housekeeping && Date.now() - lastHousekeeping >= (opts.housekeepingEveryMs ?? 60_000)) {
        lastHousekeeping = Date.now();
        await opts.housekeeping();
      }
    },
  });
}
