import { ROOT_CONTEXT, type Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import { startLoop } from '../../platform/loop.js';
import { inSpan } from '../../platform/tracing.context.js';
import { anyHoldDue, expireDueHolds } from './release.repository.js';

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

type Freed = (seats: { scheduleId: string; concertId: string }[]) => Promise<void>;

/**
 * One pass of the sweeper. Traced (a tracer given), a pass that finds due holds is one span, a
 * trace of its own, with its statements, the cache invalidation and (through the events' trace
 * context) the consumers' handling of reservation.expired below it; it says how many holds it
 * expired. A pass that finds none makes no span: every instance sweeps twice a second, so empty
 * passes would be most of the traces stored (several a second at 100% sampling) and say nothing.
 * Knowing that before the span starts takes one probe of the partial index on held seats: an
 * empty pass runs the probe instead of the expiring statement, a pass with holds due runs both.
 * Untraced, a pass is the expiring statement alone, as before.
 */
export async function sweepPass(opts: { db: Database; clock: Clock; tracer?: Tracer | undefined; onSeatsFreed?: Freed | undefined; batch?: number }): Promise<number> {
  const { db, clock, tracer, onSeatsFreed, batch = 500 } = opts;
  if (!tracer) return sweepExpiredHolds(db, clock, batch, onSeatsFreed);
  if (!(await anyHoldDue(db, clock.now()))) return 0;
  return inSpan(tracer, 'sweep expired holds', {}, ROOT_CONTEXT, async (span) => {
    const expired = await sweepExpiredHolds(db, clock, batch, onSeatsFreed);
    span.setAttribute('holds.expired', expired);
    return expired;
  });
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
  /** Traces the passes that expire holds (sweepPass). */
  tracer?: Tracer | undefined;
  /** Told after every pass how many holds it expired (0 included: a pass ran). */
  onSwept?: (expired: number) => void;
  /** Told which schedules had seats freed, to drop their cached seat maps. */
  onSeatsFreed?: Freed;
  housekeeping?: () => Promise<unknown>;
  housekeepingEveryMs?: number;
}) {
  let lastHousekeeping = 0;
  return startLoop({
    intervalMs: opts.intervalMs,
    onError: (err) => opts.log.warn({ err }, 'hold sweep failed; will retry'),
    run: async () => {
      const count = await sweepPass(opts);
      opts.onSwept?.(count);
      if (opts.housekeeping && Date.now() - lastHousekeeping >= (opts.housekeepingEveryMs ?? 60_000)) {
        lastHousekeeping = Date.now();
        await opts.housekeeping();
      }
    },
  });
}
