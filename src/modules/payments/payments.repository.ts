import { sql, type RawBuilder } from 'kysely';
import { precompiled, type Database } from '../../platform/db.js';
import { col, eventRows, insertEvents, isoSql, payloadOf, reservationPayload } from '../events/outbox.sql.js';
import { answerArrays, answerKeys, type BatchKey } from '../idempotency/idempotency.sql.js';
import { reservationColumns, type ReservationRow } from '../reservations/reservations.repository.js';

/** The event of a payment statement: reservation.confirmed per row of `confirmed`, with the paying request's trace context. */
const confirmedEvents = (now: RawBuilder<unknown>, traceContext: RawBuilder<unknown>) =>
  insertEvents(
    eventRows(
      'reservation.confirmed',
      'confirmed',
      col('confirmed', 'id'),
      reservationPayload('confirmed', { confirmedAt: isoSql(col('confirmed', 'confirmed_at')) }),
      now,
      traceContext,
    ),
  );

/**
 * Pays a live hold in one statement: seat HELD → SOLD, wallet debited only if it covers the price,
 * reservation CONFIRMED, payment, ledger row and event. If the seat was taken but the debit was
 * refused, ticketing_assert aborts the whole statement (SQLSTATE TK001), so nothing is half done.
 */
const payHoldStatement = precompiled(
  ['reservationId', 'userId', 'concertId', 'paymentId', 'ledgerId', 'now', 'traceContext'] as const,
  (p) => sql<{ payable: boolean; balance: number | null; other_holds: number } & { [K in keyof ReservationRow]: ReservationRow[K] | null }>`
    WITH r AS (
      SELECT * FROM reservations
       WHERE id = ${p.reservationId}::uuid AND user_id = ${p.userId}::uuid AND concert_id = ${p.concertId}::uuid
         AND status = 'HELD' AND held_until > ${p.now}::timestamptz
    ), seat AS (
      UPDATE seats s SET status = 'SOLD', held_until = NULL
        FROM r
       WHERE s.schedule_id = r.schedule_id AND s.number = r.seat_number
         AND s.reservation_id = r.id AND s.status = 'HELD' AND s.held_until > ${p.now}::timestamptz
      RETURNING r.price
    ), wallet AS (
      UPDATE wallets w SET balance = w.balance - seat.price, updated_at = ${p.now}::timestamptz
        FROM seat
       WHERE w.user_id = ${p.userId}::uuid AND w.balance >= seat.price
      RETURNING w.balance
    ), confirmed AS (
      UPDATE reservations SET status = 'CONFIRMED', confirmed_at = ${p.now}::timestamptz
       WHERE id = ${p.reservationId}::uuid AND status = 'HELD' AND EXISTS (SELECT 1 FROM wallet)
      RETURNING *
    ), payment AS (
      INSERT INTO payments (id, reservation_id, user_id, amount, status, paid_at)
      SELECT ${p.paymentId}::uuid, confirmed.id, confirmed.user_id, confirmed.price, 'PAID', ${p.now}::timestamptz
        FROM confirmed
    ), ledger AS (
      INSERT INTO ledger_entries (id, user_id, type, amount, balance_after, reservation_id, created_at)
      SELECT ${p.ledgerId}::uuid, confirmed.user_id, 'PAYMENT', -confirmed.price, wallet.balance, confirmed.id, ${p.now}::timestamptz
        FROM confirmed, wallet
       WHERE confirmed.price > 0
    ), events AS (
      ${confirmedEvents(p.now, p.traceContext)}
    ), complete AS (
      SELECT ticketing_assert((SELECT count(*) FROM seat) = (SELECT count(*) FROM confirmed),
                              'INSUFFICIENT_BALANCE price=' || COALESCE((SELECT max(price) FROM seat), 0)) AS ok
    )
    SELECT EXISTS (SELECT 1 FROM r) AS payable, (SELECT balance FROM wallet) AS balance,
           (SELECT count(*)::int FROM reservations o
             WHERE o.user_id = ${p.userId}::uuid AND o.concert_id = ${p.concertId}::uuid AND o.id <> ${p.reservationId}::uuid
               AND o.status = 'HELD' AND o.held_until > ${p.now}::timestamptz) AS other_holds,
           confirmed.*
      FROM complete LEFT JOIN confirmed ON true`,
);

export interface PayRequest {
  reservationId: string;
  userId: string;
  concertId: string;
  paymentId: string;
  ledgerId: string;
  /** The traceparent of the traced request it comes from (stored with its event). */
  traceContext?: string;
}

export interface PayAttempt {
  /** False when the reservation is not the user's live hold of that concert (read it to say why). */
  payable: boolean;
  confirmed: ReservationRow | null;
  balance: number | null;
  /** The user's other live holds for the concert. */
  otherHolds: number;
}

/** Runs payHoldStatement for one payment. */
export async function payHold(db: Database, p: PayRequest & { now: Date }): Promise<PayAttempt> {
  const { payable, balance, other_holds, ...confirmed } = (await payHoldStatement(db, { ...p, traceContext: p.traceContext ?? null }))[0]!;
  return { payable, balance, otherHolds: other_holds, confirmed: confirmed.id === null ? null : (confirmed as ReservationRow) };
}

export interface BatchedPayAttempt extends PayAttempt {
  /** The price, when the hold was payable but the balance did not cover it (nothing was done). */
  uncoveredPrice: number | null;
}

/**
 * Many payments in one statement (one round trip, one commit): ticketing_claim_payments locks the
 * held seats, then the wallets, each in a fixed order, and says which requests are payable and
 * covered; those are paid exactly as payHold pays one. A payable request that the balance does not
 * cover changes nothing and comes back with its price. The requests must name distinct
 * reservations and distinct users (wallets), so that none depends on another's outcome.
 */
const payHoldsStatement = precompiled(
  ['reservationIds', 'userIds', 'concertIds', 'paymentIds', 'ledgerIds', 'now', 'keys', 'claimedAts', 'statuses', 'traceContexts'] as const,
  (p) => sql<
    { ord: number; payable: boolean; covered: boolean; claim_price: number | null; balance: number | null; other_holds: number } & {
      [K in keyof ReservationRow]: ReservationRow[K] | null;
    }
  >`
    WITH req AS (
      SELECT q.reservation_id, q.user_id, q.concert_id, q.payment_id, q.ledger_id, q.idem_key, q.idem_claimed_at, q.idem_status, q.trace_context,
             q.ord::int AS pos
        FROM unnest(${p.reservationIds}::uuid[], ${p.userIds}::uuid[], ${p.concertIds}::uuid[], ${p.paymentIds}::uuid[], ${p.ledgerIds}::uuid[],
                    ${p.keys}::text[], ${p.claimedAts}::timestamptz[], ${p.statuses}::int[], ${p.traceContexts}::text[])
             WITH ORDINALITY AS q(reservation_id, user_id, concert_id, payment_id, ledger_id, idem_key, idem_claimed_at, idem_status, trace_context, ord)
    ), claim AS (
      SELECT * FROM ticketing_claim_payments(${p.reservationIds}::uuid[], ${p.userIds}::uuid[], ${p.concertIds}::uuid[], ${p.now}::timestamptz)
    ), paying AS (
      SELECT req.*, claim.price FROM req JOIN claim ON claim.ord = req.pos WHERE claim.covered
    ), seat AS (
      UPDATE seats s SET status = 'SOLD', held_until = NULL
        FROM paying JOIN reservations r ON r.id = paying.reservation_id
       WHERE s.schedule_id = r.schedule_id AND s.number = r.seat_number
         AND s.reservation_id = r.id AND s.status = 'HELD' AND s.held_until > ${p.now}::timestamptz
      RETURNING paying.reservation_id
    ), wallet AS (
      UPDATE wallets w SET balance = w.balance - paying.price, updated_at = ${p.now}::timestamptz
        FROM paying
       WHERE w.user_id = paying.user_id AND w.balance >= paying.price
         AND paying.reservation_id IN (SELECT reservation_id FROM seat)
      RETURNING w.user_id, w.balance
    ), confirmed AS (
      UPDATE reservations r SET status = 'CONFIRMED', confirmed_at = ${p.now}::timestamptz
        FROM paying JOIN wallet ON wallet.user_id = paying.user_id
       WHERE r.id = paying.reservation_id AND r.status = 'HELD'
      RETURNING r.*, paying.payment_id, paying.ledger_id, wallet.balance AS balance_after,
                paying.idem_key, paying.idem_claimed_at, paying.idem_status, paying.trace_context
    ), payment AS (
      INSERT INTO payments (id, reservation_id, user_id, amount, status, paid_at)
      SELECT payment_id, id, user_id, price, 'PAID', ${p.now}::timestamptz FROM confirmed
    ), ledger AS (
      INSERT INTO ledger_entries (id, user_id, type, amount, balance_after, reservation_id, created_at)
      SELECT ledger_id, user_id, 'PAYMENT', -price, balance_after, id, ${p.now}::timestamptz FROM confirmed WHERE price > 0
    ), events AS (
      ${confirmedEvents(p.now, col('confirmed', 'trace_context'))}
    ), complete AS (
      SELECT ticketing_assert((SELECT count(*) FROM seat) = (SELECT count(*) FROM paying)
                              AND (SELECT count(*) FROM confirmed) = (SELECT count(*) FROM paying),
                              'a batched payment went only part way') AS ok
    ), ${answerKeys({
      relation: 'confirmed',
      userId: col('confirmed', 'user_id'),
      key: col('confirmed', 'idem_key'),
      claimedAt: col('confirmed', 'idem_claimed_at'),
      status: col('confirmed', 'idem_status'),
      body: payloadOf({
        id: col('confirmed', 'payment_id'),
        reservationId: col('confirmed', 'id'),
        amount: col('confirmed', 'price'),
        balance: col('confirmed', 'balance_after'),
        status: sql`'PAID'`,
        paidAt: isoSql(sql`${p.now}::timestamptz`),
      }),
    })}
    SELECT claim.ord, claim.payable, claim.covered, claim.price AS claim_price, confirmed.balance_after AS balance,
           CASE WHEN confirmed.id IS NULL THEN 0 ELSE
             (SELECT count(*)::int FROM reservations o
               WHERE o.user_id = req.user_id AND o.concert_id = req.concert_id AND o.id <> req.reservation_id
                 AND o.status = 'HELD' AND o.held_until > ${p.now}::timestamptz) END AS other_holds,
           ${sql.join(reservationColumns.map((c) => sql.ref(`confirmed.${c}`)))}
      FROM complete, answers_checked, claim JOIN req ON req.pos = claim.ord LEFT JOIN confirmed ON confirmed.id = req.reservation_id
     ORDER BY claim.ord`,
);

/** Runs payHoldsStatement; the attempts come back in the order of the requests. */
export async function payHolds(db: Database, requests: readonly (PayRequest & { claim?: BatchKey })[], now: Date): Promise<BatchedPayAttempt[]> {
  const rows = await payHoldsStatement(db, {
    reservationIds: requests.map((r) => r.reservationId),
    userIds: requests.map((r) => r.userId),
    concertIds: requests.map((r) => r.concertId),
    paymentIds: requests.map((r) => r.paymentId),
    ledgerIds: requests.map((r) => r.ledgerId),
    now,
    traceContexts: requests.map((r) => r.traceContext ?? null),
    ...answerArrays(requests),
  });
  if (rows.length !== requests.length) throw new Error(`batched payment returned ${rows.length} rows for ${requests.length} requests`);
  return rows.map(({ ord: _ord, payable, covered, claim_price, balance, other_holds, ...confirmed }) => ({
    payable,
    balance,
    otherHolds: other_holds,
    confirmed: confirmed.id === null ? null : (confirmed as ReservationRow),
    uncoveredPrice: payable && !covered ? claim_price : null,
  }));
}

