import { afterCommit, type StepLogger } from '../../platform/after-commit.js';
import type { Clock } from '../../platform/clock.js';
import { pgCode, type Database } from '../../platform/db.js';
import { DomainError, notFound, outcomeOf } from '../../platform/errors.js';
import { isUuid, newId } from '../../platform/ids.js';
import { decodeCursor, page } from '../../platform/pagination.js';
import { createKeyedStatement, type Keyed } from '../idempotency/idempotency.batch.js';
import type { KeyClaim } from '../idempotency/idempotency.service.js';
import { assertBookable } from '../catalog/catalog.rules.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import { holdSeat, holdSeats, type HoldAttempt, type HoldRequest } from './holds.repository.js';
import { refundConfirmed, releaseHold } from './release.repository.js';
import { findReservation, listUserReservations, type ReservationRow } from './reservations.repository.js';
import { assertUnderHoldLimit, cancellation, effectiveStatus, holdExpiry } from './reservations.rules.js';

export interface ReservationView {
  id: string;
  userId: string;
  concertId: string;
  scheduleId: string;
  seatNumber: number;
  price: number;
  status: ReservationRow['status'];
  heldUntil: string;
  createdAt: string;
  confirmedAt?: string;
  cancelledAt?: string;
}

export function toReservationView(r: ReservationRow, now: Date): ReservationView {
  return {
    id: r.id,
    userId: r.user_id,
    concertId: r.concert_id,
    scheduleId: r.schedule_id,
    seatNumber: r.seat_number,
    price: r.price,
    status: effectiveStatus(r, now),
    heldUntil: r.held_until.toISOString(),
    createdAt: r.created_at.toISOString(),
    ...(r.confirmed_at ? { confirmedAt: r.confirmed_at.toISOString() } : {}),
    ...(r.cancelled_at ? { cancelledAt: r.cancelled_at.toISOString() } : {}),
  };
}

/** The caller's own reservation, or NOT_FOUND (someone else's is not admitted to exist). */
export async function ownReservation(db: Database, userId: string, id: string): Promise<ReservationRow> {
  const r = isUuid(id) ? await findReservation(db, id) : undefined;
  if (!r || r.user_id !== userId) throw notFound('Reservation');
  return r;
}

/** What the reservation use cases report (for metrics); every method optional. */
export interface ReservationObserver {
  /** A hold request ended: `created`, or its refusal code (`error` for a failure that is no refusal). */
  hold?(outcome: string): void;
  /** A reservation was cancelled: a hold released, or a paid seat refunded (`refunded` won back). */
  cancelled?(kind: 'released' | 'refunded', refunded: number): void;
  /** A batched statement of holds ran (see createKeyedStatement's onStatement). */
  statement?(size: number, seconds: number): void;
}

export function createReservationService(deps: {
  db: Database;
  clock: Clock;
  catalog: CatalogService;
  log: StepLogger;
  holdTtlSeconds: number;
  holdLimit: number;
  /** Coalescing of holds that arrive together (see platform/batcher.ts); maxBatch 1 turns it off. */
  batch?: { maxBatch: number; maxInFlight: number };
  observe?: ReservationObserver;
}) {
  const { db, clock, catalog, log } = deps;
  const observe = deps.observe ?? {};
  const limit = deps.holdLimit;
  const timing = () => {
    const now = clock.now();
    return { limit, now, heldUntil: holdExpiry(now, deps.holdTtlSeconds) };
  };

  const holds = createKeyedStatement<HoldRequest, HoldAttempt, ReservationView>({
    db,
    name: 'hold',
    batch: deps.batch,
    async one(executor, request) {
      try {
        return await holdSeat(executor, { ...request, ...timing() });
      } catch (err) {
        if (pgCode(err) === '23505') return { active: 0, held: null }; // the seat was taken at the same instant
        throw err;
      }
    },
    many: (requests) => holdSeats(db, requests, timing()),
    // Requests for one seat, or by one user on one schedule, depend on each other: never in one batch.
    conflictKeys: (r) => [`seat ${r.scheduleId} ${r.seatNumber}`, `user ${r.userId} ${r.scheduleId}`],
    async outcome(_executor, request, attempt) {
      if (attempt.held) return toReservationView(attempt.held, clock.now());
      assertUnderHoldLimit(attempt.active, limit);
      throw new DomainError('SEAT_UNAVAILABLE', `Seat ${request.seatNumber} is held or sold`);
    },
    onStatement: observe.statement,
  });

  /** After a commit that changed seats: the seat maps show it (see platform/after-commit.ts). */
  const seatsChanged = (seat: { scheduleId: string; concertId: string }) =>
    afterCommit(log, 'seat map invalidation', () => catalog.seatsChanged([seat]));

  return {
    /**
     * Holds one seat for the user for HOLD_TTL_SECONDS: one statement, which joins the next batch
     * of holds. Under an Idempotency-Key (`claim`) the answer commits with the hold.
     */
    async hold(userId: string, input: { scheduleId: string; seatNumber: number }, claim?: KeyClaim): Promise<ReservationView> {
      try {
        const schedule = await catalog.schedule(input.scheduleId);
        if (input.seatNumber > schedule.seat_count) {
          throw new DomainError('NOT_FOUND', `Seat ${input.seatNumber} does not exist; this date has ${schedule.seat_count} seats`);
        }
        assertBookable(schedule, clock.now());
        const held = await holds.run(
          { id: newId(), userId, concertId: schedule.concert_id, scheduleId: schedule.id, seatNumber: input.seatNumber, price: schedule.price },
          claim,
        );
        observe.hold?.('created');
        await seatsChanged(held);
        return held;
      } catch (err) {
        observe.hold?.(outcomeOf(err));
        throw err;
      }
    },

    /** Runs holds as one batch; they must name distinct seats and (user, schedule) pairs. */
    holdBatch: (requests: Keyed<HoldRequest>[]) => holds.runBatch(requests),

    async get(userId: string, id: string): Promise<ReservationView> {
      return toReservationView(await ownReservation(db, userId, id), clock.now());
    },

    async list(userId: string, limit: number, cursor?: string) {
      const now = clock.now();
      const { items, nextCursor } = page(await listUserReservations(db, userId, limit, decodeCursor(cursor)), limit);
      return { items: items.map((r) => toReservationView(r, now)), nextCursor };
    },

    /**
     * Cancels a live hold (seat released) or, before the show, a confirmed seat (refunded and
     * released). Each is one conditional statement; if the reservation changed since it was read,
     * the statement does nothing and the decision is made again on the new state. A reservation
     * moves at most twice (HELD, CONFIRMED, then CANCELLED or EXPIRED), so three readings reach a
     * final state; should they not, the client is told to read it again, as a payment is.
     */
    async cancel(userId: string, id: string): Promise<ReservationView> {
      for (let attempt = 1; attempt <= 3; attempt++) {
        const r = await ownReservation(db, userId, id);
        const schedule = await catalog.schedule(r.schedule_id);
        const now = clock.now();
        const release = cancellation(r, schedule.starts_at, now) === 'RELEASE_HOLD';
        const refund = release ? undefined : await refundConfirmed(db, r, newId(), now);
        const cancelled = release ? await releaseHold(db, r, now) : refund?.cancelled;
        if (cancelled) {
          observe.cancelled?.(release ? 'released' : 'refunded', refund?.refunded ?? 0);
          const view = toReservationView(cancelled, now);
          await seatsChanged(view);
          return view;
        }
      }
      throw new DomainError('RESERVATION_NOT_CANCELLABLE', 'The reservation changed while cancelling; read it again');
    },
  };
}

export type ReservationService = ReturnType<typeof createReservationService>;
