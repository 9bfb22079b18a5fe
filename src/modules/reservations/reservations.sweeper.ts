import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
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
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastHousekeeping = 0;
  let running: Promise<void> = Promise.resolve();

  const tick = async () => {
    try {
      const count = await sweepExpiredHolds(opts.db, opts.clock);
      if (count > 0) opts.onExpired?.(count);
      if (opts.housekeeping && Date.now() - lastHousekeeping >= (opts.housekeepingEveryMs ?? 60_000)) {
        lastHousekeeping = Date.now();
        await opts.housekeeping();
      }
    } catch (err) {
      opts.log.warn({ err }, 'hold sweep failed; will retry');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(schedule);
    }, opts.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
