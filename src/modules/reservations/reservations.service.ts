import type { Clock } from '../../platform/clock.js';
import { createBatcher } from '../../platform/batcher.js';
import { pgCode, withRetry, type Database } from '../../platform/db.js';
import { DomainError, notFound } from '../../platform/errors.js';
import { isUuid, newId } from '../../platform/ids.js';
import { decodeCursor, page } from '../../platform/pagination.js';
import { AnswerInTransaction, type KeyClaim } from '../idempotency/idempotency.service.js';
import { assertBookable } from '../catalog/catalog.rules.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import {
  findReservation,
  holdSeat,
  holdSeats,
  listUserReservations,
  refundConfirmed,
  releaseHold,
  type BatchKey,
  type HoldAttempt,
  type HoldRequest,
  type ReservationRow,
} from './reservations.repository.js';
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

/** A request that may carry the Idempotency-Key its statement answers. */
export type Keyed<R> = R & { answer?: BatchKey };

/**
 * Runs a batch of requests as one statement (`batch`, retried on deadlock). A lone request without
 * a key goes alone. Should the statement fail as a whole, each request runs alone (`alone`), so that
 * one request's failure stays its own; a keyed one instead goes back to run in its own transaction
 * (AnswerInTransaction), since its answer must commit with its work.
 */
export async function batchThenEach<R extends Keyed<object>, O>(
  requests: R[],
  batch: () => Promise<O[]>,
  alone: (request: R) => Promise<O>,
): Promise<PromiseSettledResult<O>[]> {
  if (requests.length > 1 || requests[0]?.answer) {
    try {
      return (await withRetry(batch)).map((value) => ({ status: 'fulfilled', value }));
    } catch {
      // each on its own below
    }
  }
  return Promise.allSettled(requests.map((r) => (r.answer ? Promise.reject(new AnswerInTransaction()) : withRetry(() => alone(r)))));
}

export function createReservationService(deps: {
  db: Database;
  clock: Clock;
  catalog: CatalogService;
  holdTtlSeconds: number;
  holdLimit: number;
  /** Coalescing of holds that arrive together (see platform/batcher.ts); maxBatch 1 turns it off. */
  batch?: { maxBatch: number; maxInFlight: number };
}) {
  const { db, clock, catalog } = deps;
  const limit = deps.holdLimit;

  /** One hold in its own statement (or in the caller's transaction), a taken seat reported as such. */
  async function holdOne(executor: Database, request: HoldRequest): Promise<HoldAttempt> {
    const now = clock.now();
    try {
      return await holdSeat(executor, { ...request, limit, now, heldUntil: holdExpiry(now, deps.holdTtlSeconds) });
    } catch (err) {
      if (pgCode(err) === '23505') return { active: 0, held: null };
      throw err;
    }
  }

  /**
   * A batch of holds in one statement. Should the statement fail as a whole for a reason other
   * than a deadlock (retried), each hold runs alone, so that one request's failure stays its own.
   */
  const holdMany = (requests: Keyed<HoldRequest>[]) =>
    batchThenEach(
      requests,
      () => {
        const now = clock.now();
        return holdSeats(db, requests, { limit, now, heldUntil: holdExpiry(now, deps.holdTtlSeconds) });
      },
      (r) => holdOne(db, r),
    );

  const batcher =
    deps.batch && deps.batch.maxBatch > 1
      ? createBatcher<Keyed<HoldRequest>, HoldAttempt>({
          run: holdMany,
          settled: true,
          maxBatch: deps.batch.maxBatch,
          maxInFlight: deps.batch.maxInFlight,
          // Requests for one seat, or by one user on one schedule, depend on each other: never in one batch.
          conflictKeys: (r) => [`seat ${r.scheduleId} ${r.seatNumber}`, `user ${r.userId} ${r.scheduleId}`],
        })
      : undefined;

  /** Validates the request against the schedule, then holds: batched, or one statement in `executor`'s transaction. */
  async function holdAs(
    executor: Database,
    userId: string,
    input: { scheduleId: string; seatNumber: number },
    answer?: BatchKey,
  ): Promise<ReservationView> {
    const schedule = await catalog.schedule(input.scheduleId, executor);
    if (input.seatNumber > schedule.seat_count) {
      throw new DomainError('NOT_FOUND', `Seat ${input.seatNumber} does not exist; this date has ${schedule.seat_count} seats`);
    }
    assertBookable(schedule, clock.now());
    const request: Keyed<HoldRequest> = {
      id: newId(),
      userId,
      concertId: schedule.concert_id,
      scheduleId: schedule.id,
      seatNumber: input.seatNumber,
      price: schedule.price,
      ...(answer ? { answer } : {}),
    };
    const attempt = batcher && executor === db ? await batcher.submit(request) : await holdOne(executor, request);
    if (attempt.held) return toReservationView(attempt.held, clock.now());
    assertUnderHoldLimit(attempt.active, limit);
    throw seatUnavailable(input.seatNumber);
  }

  return {
    /** Runs holds as one batch (see holdMany); they must name distinct seats and (user, schedule) pairs. */
    holdBatch: holdMany,

    /**
     * Holds one seat for the user for HOLD_TTL_SECONDS. Inside a transaction (an Idempotency-Key's),
     * it is one statement of that transaction; otherwise it joins the next batch of holds.
     */
    async hold(executor: Database, userId: string, input: { scheduleId: string; seatNumber: number }): Promise<ReservationView> {
      return holdAs(executor, userId, input);
    },

    /**
     * A hold under an Idempotency-Key: it joins the next batch and its answer is stored by the same
     * statement. Without batching, AnswerInTransaction sends it to its own transaction.
     */
    async holdAnswered(userId: string, input: { scheduleId: string; seatNumber: number }, claim: KeyClaim): Promise<ReservationView> {
      if (!batcher) throw new AnswerInTransaction();
      return holdAs(db, userId, input, { key: claim.key, lease: claim.lease, status: claim.status });
    },


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
        if (cancellation(r, schedule.starts_at, now) === 'RELEASE_HOLD') {
          const cancelled = await releaseHold(db, r, now);
          if (cancelled) return toReservationView(cancelled, now);
        } else {
          const refund = await refundConfirmed(db, r, newId(), now);
          if (refund) return toReservationView(refund.cancelled, now);
        }
      }
      throw new DomainError('RESERVATION_NOT_CANCELLABLE', 'The reservation changed while cancelling; read it again');
    },
  };
}

function seatUnavailable(seatNumber: number) {
  return new DomainError('SEAT_UNAVAILABLE', `Seat ${seatNumber} is held or sold`);
}

export type ReservationService = ReturnType<typeof createReservationService>;
