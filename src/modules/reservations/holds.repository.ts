import { sql, type RawBuilder } from 'kysely';
import { precompiled, type Database } from '../../platform/db.js';
import { col, eventRows, insertEvents, isoSql, payloadOf, reservationPayload } from '../events/outbox.sql.js';
import { answerArrays, answerKeys, type BatchKey } from '../idempotency/idempotency.sql.js';
import type { ReservationRow } from './reservations.repository.js';

export interface HoldAttempt {
  /** Seats (held or confirmed) the user had on the schedule before this attempt. */
  active: number;
  /** The new reservation, if the seat was free and the user under the limit. */
  held: ReservationRow | null;
}

/**
 * The events of a hold statement: reservation.held per new hold, reservation.expired per hold it
 * replaced; each with the trace context of the request that made the hold.
 */
const holdEvents = (now: RawBuilder<unknown>, trace: { held: RawBuilder<unknown>; replaced: RawBuilder<unknown> }) =>
  insertEvents(
    eventRows('reservation.held', 'held', col('held', 'id'), reservationPayload('held', { heldUntil: isoSql(col('held', 'held_until')) }), now, trace.held),
    eventRows('reservation.expired', 'replaced', col('replaced', 'id'), reservationPayload('replaced', { heldUntil: isoSql(col('replaced', 'held_until')) }), now, trace.replaced),
  );

export interface HoldRequest {
  id: string;
  userId: string;
  concertId: string;
  scheduleId: string;
  seatNumber: number;
  price: number;
  /** The traceparent of the traced request it comes from (stored with its events). */
  traceContext?: string;
}

/**
 * One statement, so one round trip and its own transaction: locks the user's holds on the schedule
 * and counts them, takes the seat only if it is free (or its hold has passed) and the count is
 * under the limit, marks a replaced hold EXPIRED, inserts the reservation and both events. The
 * seat row's lock serialises racers; the partial unique index backs it up.
 */
const holdSeatStatement = precompiled(
  ['id', 'userId', 'concertId', 'scheduleId', 'seatNumber', 'price', 'limit', 'now', 'heldUntil', 'traceContext'] as const,
  (p) => sql<{ active: number } & { [K in keyof ReservationRow]: ReservationRow[K] | null }>`
    WITH active AS (
      SELECT ticketing_lock_and_count_seats(${p.userId}::uuid, ${p.scheduleId}::uuid, ${p.now}::timestamptz) AS n
    ), seat AS (
      UPDATE seats SET status = 'HELD', reservation_id = ${p.id}::uuid, held_until = ${p.heldUntil}::timestamptz
       WHERE schedule_id = ${p.scheduleId}::uuid AND number = ${p.seatNumber}::int
         AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_until <= ${p.now}::timestamptz))
         AND (SELECT n FROM active) < ${p.limit}::int
      RETURNING number
    ), replaced AS (
      UPDATE reservations SET status = 'EXPIRED'
       WHERE schedule_id = ${p.scheduleId}::uuid AND seat_number = ${p.seatNumber}::int
         AND status = 'HELD' AND held_until <= ${p.now}::timestamptz
         AND EXISTS (SELECT 1 FROM seat)
      RETURNING *
    ), held AS (
      INSERT INTO reservations (id, user_id, concert_id, schedule_id, seat_number, price, status, held_until, created_at)
      SELECT ${p.id}::uuid, ${p.userId}::uuid, ${p.concertId}::uuid, ${p.scheduleId}::uuid, ${p.seatNumber}::int,
             ${p.price}::bigint, 'HELD', ${p.heldUntil}::timestamptz, ${p.now}::timestamptz
        FROM seat
       WHERE (SELECT count(*) FROM replaced) >= 0
      RETURNING *
    ), events AS (
      ${holdEvents(p.now, { held: p.traceContext, replaced: p.traceContext })}
    )
    SELECT active.n AS active, held.* FROM active LEFT JOIN held ON true`,
);

/** Runs holdSeatStatement for one request. */
export async function holdSeat(
  db: Database,
  h: HoldRequest & { limit: number; now: Date; heldUntil: Date },
): Promise<HoldAttempt> {
  const { active, ...held } = (await holdSeatStatement(db, { ...h, traceContext: h.traceContext ?? null }))[0]!;
  return { active, held: held.id === null ? null : (held as ReservationRow) };
}

/**
 * Many holds in one statement (one round trip, one commit): ticketing_claim_seats takes the
 * hold-limit locks and the free seats' locks in a fixed order, then every request whose seat was
 * free and whose user is under the limit gets its seat, its reservation and its events, as holdSeat
 * would have done one by one. The requests must name distinct seats and distinct
 * (user, schedule) pairs, so that none of them depends on another's outcome.
 */
const holdSeatsStatement = precompiled(
  ['ids', 'userIds', 'concertIds', 'scheduleIds', 'seatNumbers', 'prices', 'limit', 'now', 'heldUntil', 'keys', 'claimedAts', 'statuses', 'traceContexts'] as const,
  (p) => sql<{ ord: number; active: number } & { [K in keyof ReservationRow]: ReservationRow[K] | null }>`
    WITH req AS (
      SELECT r.id, r.user_id, r.concert_id, r.schedule_id, r.seat_number, r.price, r.idem_key, r.idem_claimed_at, r.idem_status, r.trace_context, r.ord::int AS pos
        FROM unnest(${p.ids}::uuid[], ${p.userIds}::uuid[], ${p.concertIds}::uuid[], ${p.scheduleIds}::uuid[],
                    ${p.seatNumbers}::int[], ${p.prices}::bigint[], ${p.keys}::text[], ${p.claimedAts}::timestamptz[], ${p.statuses}::int[],
                    ${p.traceContexts}::text[])
             WITH ORDINALITY AS r(id, user_id, concert_id, schedule_id, seat_number, price, idem_key, idem_claimed_at, idem_status, trace_context, ord)
    ), claim AS (
      SELECT * FROM ticketing_claim_seats(${p.userIds}::uuid[], ${p.scheduleIds}::uuid[], ${p.seatNumbers}::int[], ${p.now}::timestamptz)
    ), won AS (
      SELECT req.* FROM req JOIN claim ON claim.ord = req.pos WHERE claim.seat_free AND claim.active < ${p.limit}::int
    ), seat AS (
      UPDATE seats s SET status = 'HELD', reservation_id = won.id, held_until = ${p.heldUntil}::timestamptz
        FROM won
       WHERE s.schedule_id = won.schedule_id AND s.number = won.seat_number
         AND (s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until <= ${p.now}::timestamptz))
      RETURNING won.id
    ), replaced AS (
      UPDATE reservations r SET status = 'EXPIRED'
        FROM won
       WHERE r.schedule_id = won.schedule_id AND r.seat_number = won.seat_number
         AND r.status = 'HELD' AND r.held_until <= ${p.now}::timestamptz
         AND won.id IN (SELECT id FROM seat)
      RETURNING r.*, won.trace_context
    ), held AS (
      INSERT INTO reservations (id, user_id, concert_id, schedule_id, seat_number, price, status, held_until, created_at)
      SELECT won.id, won.user_id, won.concert_id, won.schedule_id, won.seat_number, won.price,
             'HELD', ${p.heldUntil}::timestamptz, ${p.now}::timestamptz
        FROM won JOIN seat ON seat.id = won.id
       WHERE (SELECT count(*) FROM replaced) >= 0
      RETURNING *
    ), events AS (
      ${holdEvents(p.now, { held: sql`(SELECT req.trace_context FROM req WHERE req.id = held.id)`, replaced: col('replaced', 'trace_context') })}
    ), held_keys AS (
      SELECT held.*, req.idem_key, req.idem_claimed_at, req.idem_status FROM held JOIN req ON req.id = held.id
    ), ${answerKeys({
      relation: 'held_keys',
      userId: col('held_keys', 'user_id'),
      key: col('held_keys', 'idem_key'),
      claimedAt: col('held_keys', 'idem_claimed_at'),
      status: col('held_keys', 'idem_status'),
      body: payloadOf({
        id: col('held_keys', 'id'),
        userId: col('held_keys', 'user_id'),
        concertId: col('held_keys', 'concert_id'),
        scheduleId: col('held_keys', 'schedule_id'),
        seatNumber: col('held_keys', 'seat_number'),
        price: col('held_keys', 'price'),
        status: col('held_keys', 'status'),
        heldUntil: isoSql(col('held_keys', 'held_until')),
        createdAt: isoSql(col('held_keys', 'created_at')),
      }),
    })}
    SELECT claim.ord, claim.active, held.*
      FROM answers_checked, claim JOIN req ON req.pos = claim.ord LEFT JOIN held ON held.id = req.id
     ORDER BY claim.ord`,
);

/** Runs holdSeatsStatement; the attempts come back in the order of the requests. */
export async function holdSeats(
  db: Database,
  requests: readonly (HoldRequest & { claim?: BatchKey })[],
  opts: { limit: number; now: Date; heldUntil: Date },
): Promise<HoldAttempt[]> {
  const rows = await holdSeatsStatement(db, {
    ids: requests.map((r) => r.id),
    userIds: requests.map((r) => r.userId),
    concertIds: requests.map((r) => r.concertId),
    scheduleIds: requests.map((r) => r.scheduleId),
    seatNumbers: requests.map((r) => r.seatNumber),
    prices: requests.map((r) => r.price),
    traceContexts: requests.map((r) => r.traceContext ?? null),
    ...answerArrays(requests),
    ...opts,
  });
  if (rows.length !== requests.length) throw new Error(`batched hold returned ${rows.length} rows for ${requests.length} requests`);
  return rows.map(({ ord: _ord, active, ...held }) => ({ active, held: held.id === null ? null : (held as ReservationRow) }));
}

