import { sql, type RawBuilder, type Selectable } from 'kysely';
import { precompiled, type Database } from '../../platform/db.js';
import type { ReservationsTable } from '../../platform/db.types.js';
import { col, eventRows, insertEvents, isoSql, payloadOf, reservationPayload } from '../events/outbox.sql.js';

export type ReservationRow = Selectable<ReservationsTable>;

const columns = [
  'id',
  'user_id',
  'concert_id',
  'schedule_id',
  'seat_number',
  'price',
  'status',
  'held_until',
  'created_at',
  'confirmed_at',
  'cancelled_at',
] as const;

export async function findReservation(db: Database, id: string): Promise<ReservationRow | undefined> {
  return db.selectFrom('reservations').select(columns).where('id', '=', id).executeTakeFirst();
}

export async function listUserReservations(db: Database, userId: string, limit: number, before?: string) {
  let query = db
    .selectFrom('reservations')
    .select(columns)
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (before) query = query.where('id', '<', before);
  return query.execute();
}

export interface HoldAttempt {
  /** Seats (held or confirmed) the user had on the schedule before this attempt. */
  active: number;
  /** The new reservation, if the seat was free and the user under the limit. */
  held: ReservationRow | null;
}

/** The events of a hold statement: reservation.held per new hold, reservation.expired per hold it replaced. */
const holdEvents = (now: RawBuilder<unknown>) =>
  insertEvents(
    eventRows('reservation.held', 'held', col('held', 'id'), reservationPayload('held', { heldUntil: isoSql(col('held', 'held_until')) }), now),
    eventRows('reservation.expired', 'replaced', col('replaced', 'id'), reservationPayload('replaced', { heldUntil: isoSql(col('replaced', 'held_until')) }), now),
  );

export interface HoldRequest {
  id: string;
  userId: string;
  concertId: string;
  scheduleId: string;
  seatNumber: number;
  price: number;
}

/** An Idempotency-Key a batched request holds: a success stores its answer with the work. */
export interface BatchKey {
  key: string;
  lease: Date;
  status: number;
}

/** The key, lease and status columns of a batch (null where a request has no key). */
const answerArrays = (requests: readonly { answer?: BatchKey }[]) => ({
  keys: requests.map((r) => r.answer?.key ?? null),
  leases: requests.map((r) => r.answer?.lease ?? null),
  statuses: requests.map((r) => r.answer?.status ?? null),
});

/**
 * Marks the keys of the batch's successes DONE with their answers (only under the lease each
 * request holds), and aborts the whole statement if any such key could not be marked.
 */
function answerKeys(answers: { relation: string; userId: RawBuilder<unknown>; key: RawBuilder<unknown>; lease: RawBuilder<unknown>; status: RawBuilder<unknown>; body: RawBuilder<unknown> }) {
  return sql`answered AS (
      UPDATE idempotency_keys k SET state = 'DONE', response_status = ${answers.status}, response_body = ${answers.body}
        FROM ${sql.table(answers.relation)}
       WHERE ${answers.key} IS NOT NULL AND k.user_id = ${answers.userId} AND k.key = ${answers.key}
         AND k.state = 'IN_PROGRESS' AND k.locked_until = ${answers.lease}
      RETURNING k.key
    ), answers_checked AS (
      SELECT ticketing_assert((SELECT count(*) FROM answered) = (SELECT count(*) FROM ${sql.table(answers.relation)} WHERE ${answers.key} IS NOT NULL),
                              'IDEMPOTENCY_LEASE_LOST') AS ok
    )`;
}

/**
 * One statement, so one round trip and its own transaction: locks the user's holds on the schedule
 * and counts them, takes the seat only if it is free (or its hold has passed) and the count is
 * under the limit, marks a replaced hold EXPIRED, inserts the reservation and both events. The
 * seat row's lock serialises racers; the partial unique index backs it up.
 */
const holdSeatStatement = precompiled(
  ['id', 'userId', 'concertId', 'scheduleId', 'seatNumber', 'price', 'limit', 'now', 'heldUntil'] as const,
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
      ${holdEvents(p.now)}
    )
    SELECT active.n AS active, held.* FROM active LEFT JOIN held ON true`,
);

/** Runs holdSeatStatement for one request. */
export async function holdSeat(
  db: Database,
  h: HoldRequest & { limit: number; now: Date; heldUntil: Date },
): Promise<HoldAttempt> {
  const { active, ...held } = (await holdSeatStatement(db, h))[0]!;
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
  ['ids', 'userIds', 'concertIds', 'scheduleIds', 'seatNumbers', 'prices', 'limit', 'now', 'heldUntil', 'keys', 'leases', 'statuses'] as const,
  (p) => sql<{ ord: number; active: number } & { [K in keyof ReservationRow]: ReservationRow[K] | null }>`
    WITH req AS (
      SELECT r.id, r.user_id, r.concert_id, r.schedule_id, r.seat_number, r.price, r.idem_key, r.idem_lease, r.idem_status, r.ord::int AS pos
        FROM unnest(${p.ids}::uuid[], ${p.userIds}::uuid[], ${p.concertIds}::uuid[], ${p.scheduleIds}::uuid[],
                    ${p.seatNumbers}::int[], ${p.prices}::bigint[], ${p.keys}::text[], ${p.leases}::timestamptz[], ${p.statuses}::int[])
             WITH ORDINALITY AS r(id, user_id, concert_id, schedule_id, seat_number, price, idem_key, idem_lease, idem_status, ord)
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
      RETURNING r.*
    ), held AS (
      INSERT INTO reservations (id, user_id, concert_id, schedule_id, seat_number, price, status, held_until, created_at)
      SELECT won.id, won.user_id, won.concert_id, won.schedule_id, won.seat_number, won.price,
             'HELD', ${p.heldUntil}::timestamptz, ${p.now}::timestamptz
        FROM won JOIN seat ON seat.id = won.id
       WHERE (SELECT count(*) FROM replaced) >= 0
      RETURNING *
    ), events AS (
      ${holdEvents(p.now)}
    ), held_keys AS (
      SELECT held.*, req.idem_key, req.idem_lease, req.idem_status FROM held JOIN req ON req.id = held.id
    ), ${answerKeys({
      relation: 'held_keys',
      userId: col('held_keys', 'user_id'),
      key: col('held_keys', 'idem_key'),
      lease: col('held_keys', 'idem_lease'),
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
  requests: readonly (HoldRequest & { answer?: BatchKey })[],
  opts: { limit: number; now: Date; heldUntil: Date },
): Promise<HoldAttempt[]> {
  const rows = await holdSeatsStatement(db, {
    ids: requests.map((r) => r.id),
    userIds: requests.map((r) => r.userId),
    concertIds: requests.map((r) => r.concertId),
    scheduleIds: requests.map((r) => r.scheduleId),
    seatNumbers: requests.map((r) => r.seatNumber),
    prices: requests.map((r) => r.price),
    ...answerArrays(requests),
    ...opts,
  });
  if (rows.length !== requests.length) throw new Error(`batched hold returned ${rows.length} rows for ${requests.length} requests`);
  return rows.map(({ ord: _ord, active, ...held }) => ({ active, held: held.id === null ? null : (held as ReservationRow) }));
}

/** The event of a payment statement: reservation.confirmed per row of `confirmed`. */
const confirmedEvents = (now: RawBuilder<unknown>) =>
  insertEvents(
    eventRows('reservation.confirmed', 'confirmed', col('confirmed', 'id'), reservationPayload('confirmed', { confirmedAt: isoSql(col('confirmed', 'confirmed_at')) }), now),
  );

/**
 * Pays a live hold in one statement: seat HELD → SOLD, wallet debited only if it covers the price,
 * reservation CONFIRMED, payment, ledger row and event. If the seat was taken but the debit was
 * refused, ticketing_assert aborts the whole statement (SQLSTATE TK001), so nothing is half done.
 */
const payHoldStatement = precompiled(
  ['reservationId', 'userId', 'concertId', 'paymentId', 'ledgerId', 'now'] as const,
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
      ${confirmedEvents(p.now)}
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

export interface PayAttempt {
  /** False when the reservation is not the user's live hold of that concert (read it to say why). */
  payable: boolean;
  confirmed: ReservationRow | null;
  balance: number | null;
  /** The user's other live holds for the concert. */
  otherHolds: number;
}

/** Runs payHoldStatement for one payment. */
export async function payHold(
  db: Database,
  p: { reservationId: string; userId: string; concertId: string; paymentId: string; ledgerId: string; now: Date },
): Promise<PayAttempt> {
  const { payable, balance, other_holds, ...confirmed } = (await payHoldStatement(db, p))[0]!;
  return { payable, balance, otherHolds: other_holds, confirmed: confirmed.id === null ? null : (confirmed as ReservationRow) };
}

export interface PayRequest {
  reservationId: string;
  userId: string;
  concertId: string;
  paymentId: string;
  ledgerId: string;
  answer?: BatchKey;
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
  ['reservationIds', 'userIds', 'concertIds', 'paymentIds', 'ledgerIds', 'now', 'keys', 'leases', 'statuses'] as const,
  (p) => sql<
    { ord: number; payable: boolean; covered: boolean; claim_price: number | null; balance: number | null; other_holds: number } & {
      [K in keyof ReservationRow]: ReservationRow[K] | null;
    }
  >`
    WITH req AS (
      SELECT q.reservation_id, q.user_id, q.concert_id, q.payment_id, q.ledger_id, q.idem_key, q.idem_lease, q.idem_status, q.ord::int AS pos
        FROM unnest(${p.reservationIds}::uuid[], ${p.userIds}::uuid[], ${p.concertIds}::uuid[], ${p.paymentIds}::uuid[], ${p.ledgerIds}::uuid[],
                    ${p.keys}::text[], ${p.leases}::timestamptz[], ${p.statuses}::int[])
             WITH ORDINALITY AS q(reservation_id, user_id, concert_id, payment_id, ledger_id, idem_key, idem_lease, idem_status, ord)
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
                paying.idem_key, paying.idem_lease, paying.idem_status
    ), payment AS (
      INSERT INTO payments (id, reservation_id, user_id, amount, status, paid_at)
      SELECT payment_id, id, user_id, price, 'PAID', ${p.now}::timestamptz FROM confirmed
    ), ledger AS (
      INSERT INTO ledger_entries (id, user_id, type, amount, balance_after, reservation_id, created_at)
      SELECT ledger_id, user_id, 'PAYMENT', -price, balance_after, id, ${p.now}::timestamptz FROM confirmed WHERE price > 0
    ), events AS (
      ${confirmedEvents(p.now)}
    ), complete AS (
      SELECT ticketing_assert((SELECT count(*) FROM seat) = (SELECT count(*) FROM paying)
                              AND (SELECT count(*) FROM confirmed) = (SELECT count(*) FROM paying),
                              'a batched payment went only part way') AS ok
    ), ${answerKeys({
      relation: 'confirmed',
      userId: col('confirmed', 'user_id'),
      key: col('confirmed', 'idem_key'),
      lease: col('confirmed', 'idem_lease'),
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
           ${sql.join(columns.map((c) => sql.ref(`confirmed.${c}`)))}
      FROM complete, answers_checked, claim JOIN req ON req.pos = claim.ord LEFT JOIN confirmed ON confirmed.id = req.reservation_id
     ORDER BY claim.ord`,
);

/** Runs payHoldsStatement; the attempts come back in the order of the requests. */
export async function payHolds(db: Database, requests: readonly PayRequest[], now: Date): Promise<BatchedPayAttempt[]> {
  const rows = await payHoldsStatement(db, {
    reservationIds: requests.map((r) => r.reservationId),
    userIds: requests.map((r) => r.userId),
    concertIds: requests.map((r) => r.concertId),
    paymentIds: requests.map((r) => r.paymentId),
    ledgerIds: requests.map((r) => r.ledgerId),
    now,
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

/** Frees the seat of a live hold and cancels it, with its event. */
export async function releaseHold(db: Database, r: ReservationRow, now: Date): Promise<ReservationRow | null> {
  const result = await sql<ReservationRow>`
    WITH seat AS (
      UPDATE seats SET status = 'AVAILABLE', reservation_id = NULL, held_until = NULL
       WHERE schedule_id = ${r.schedule_id} AND number = ${r.seat_number}
         AND reservation_id = ${r.id} AND status = 'HELD' AND held_until > ${now}
      RETURNING number
    ), cancelled AS (
      UPDATE reservations SET status = 'CANCELLED', cancelled_at = ${now}
       WHERE id = ${r.id} AND status = 'HELD' AND EXISTS (SELECT 1 FROM seat)
      RETURNING *
    ), events AS (
      ${insertEvents(
        eventRows(
          'reservation.cancelled',
          'cancelled',
          col('cancelled', 'id'),
          reservationPayload('cancelled', {
            refunded: sql`0`,
            cancelledAt: isoSql(col('cancelled', 'cancelled_at')),
            previousStatus: sql.lit('HELD'),
          }),
          sql`${now}`,
        ),
      )}
    )
    SELECT * FROM cancelled`.execute(db);
  return result.rows[0] ?? null;
}

/** Frees a sold seat, cancels the reservation, refunds the payment to the wallet and the ledger. */
export async function refundConfirmed(
  db: Database,
  r: ReservationRow,
  ledgerId: string,
  now: Date,
): Promise<{ cancelled: ReservationRow; refunded: number; balance: number } | null> {
  const result = await sql<ReservationRow & { refunded: number; balance: number }>`
    WITH seat AS (
      UPDATE seats SET status = 'AVAILABLE', reservation_id = NULL, held_until = NULL
       WHERE schedule_id = ${r.schedule_id} AND number = ${r.seat_number}
         AND reservation_id = ${r.id} AND status = 'SOLD'
      RETURNING number
    ), cancelled AS (
      UPDATE reservations SET status = 'CANCELLED', cancelled_at = ${now}
       WHERE id = ${r.id} AND status = 'CONFIRMED' AND EXISTS (SELECT 1 FROM seat)
      RETURNING *
    ), payment AS (
      UPDATE payments SET status = 'REFUNDED', refunded_at = ${now}
       WHERE reservation_id = ${r.id} AND status = 'PAID' AND EXISTS (SELECT 1 FROM cancelled)
      RETURNING amount
    ), wallet AS (
      UPDATE wallets SET balance = balance + payment.amount, updated_at = ${now}
        FROM payment
       WHERE user_id = ${r.user_id}
      RETURNING balance, payment.amount
    ), ledger AS (
      INSERT INTO ledger_entries (id, user_id, type, amount, balance_after, reservation_id, created_at)
      SELECT ${ledgerId}::uuid, ${r.user_id}::uuid, 'REFUND', wallet.amount, wallet.balance, ${r.id}::uuid, ${now}::timestamptz
        FROM wallet
       WHERE wallet.amount > 0
    ), events AS (
      ${insertEvents(
        eventRows(
          'reservation.cancelled',
          'cancelled',
          col('cancelled', 'id'),
          reservationPayload('cancelled', {
            refunded: sql`COALESCE((SELECT amount FROM wallet), 0)`,
            cancelledAt: isoSql(col('cancelled', 'cancelled_at')),
            previousStatus: sql.lit('CONFIRMED'),
            confirmedAt: isoSql(col('cancelled', 'confirmed_at')),
          }),
          sql`${now}`,
        ),
      )}
    ), complete AS (
      SELECT ticketing_assert((SELECT count(*) FROM cancelled) = (SELECT count(*) FROM wallet), 'refund incomplete') AS ok
    )
    SELECT cancelled.*, wallet.amount AS refunded, wallet.balance AS balance
      FROM complete, cancelled, wallet`.execute(db);
  const row = result.rows[0];
  if (!row) return null;
  const { refunded, balance, ...cancelled } = row;
  return { cancelled, refunded, balance };
}

/**
 * Expires up to `batch` holds whose heldUntil has passed: frees their seats, marks them EXPIRED
 * and records reservation.expired. SKIP LOCKED lets many instances sweep at once without waiting
 * on each other or on a payment in flight.
 */
export async function expireDueHolds(
  db: Database,
  now: Date,
  batch: number,
): Promise<{ scheduleId: string; concertId: string }[]> {
  const result = await sql<{ schedule_id: string; concert_id: string }>`
    WITH due AS (
      SELECT schedule_id, number, reservation_id FROM seats
       WHERE status = 'HELD' AND held_until <= ${now}
       ORDER BY held_until
       LIMIT ${batch}
       FOR UPDATE SKIP LOCKED
    ), freed AS (
      UPDATE seats s SET status = 'AVAILABLE', reservation_id = NULL, held_until = NULL
        FROM due
       WHERE s.schedule_id = due.schedule_id AND s.number = due.number
      RETURNING due.reservation_id
    ), expired AS (
      UPDATE reservations r SET status = 'EXPIRED'
        FROM freed
       WHERE r.id = freed.reservation_id AND r.status = 'HELD'
      RETURNING r.*
    ), events AS (
      ${insertEvents(
        eventRows('reservation.expired', 'expired', col('expired', 'id'), reservationPayload('expired', { heldUntil: isoSql(col('expired', 'held_until')) }), sql`${now}`),
      )}
    )
    SELECT schedule_id, concert_id FROM expired`.execute(db);
  return result.rows.map((r) => ({ scheduleId: r.schedule_id, concertId: r.concert_id }));
}
