import { sql, type Kysely } from 'kysely';

/**
 * Claims a batch of payments, for one statement that then writes all of them. The batch never
 * names a reservation twice, nor a user (a wallet) twice; the caller makes sure of that.
 *
 * 1. Locks, in (schedule, seat) order, the seats still held by each named reservation, when the
 *    reservation is the user's live hold of that concert. Seats that changed while we waited are
 *    checked again and skipped.
 * 2. Locks those users' wallets, in user order, and reads their balances. Seats before wallets,
 *    each in a fixed order, as every other path takes them, so batches never deadlock.
 *
 * Returns, per request (1-based position in the arrays), whether it is payable, the price, the
 * balance before paying (null when not payable) and whether the balance covers the price.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION ticketing_claim_payments(p_reservations uuid[], p_users uuid[], p_concerts uuid[], p_now timestamptz)
      RETURNS TABLE (ord int, payable boolean, price bigint, balance bigint, covered boolean) LANGUAGE plpgsql VOLATILE AS $$
    DECLARE held_ords int[];
    BEGIN
      SELECT coalesce(array_agg(h.ord), '{}') INTO held_ords
        FROM (SELECT q.ord::int AS ord
                FROM unnest(p_reservations, p_users, p_concerts) WITH ORDINALITY AS q(reservation_id, user_id, concert_id, ord)
                JOIN reservations r ON r.id = q.reservation_id AND r.user_id = q.user_id AND r.concert_id = q.concert_id
                JOIN seats s ON s.schedule_id = r.schedule_id AND s.number = r.seat_number
               WHERE r.status = 'HELD' AND r.held_until > p_now
                 AND s.reservation_id = r.id AND s.status = 'HELD' AND s.held_until > p_now
               ORDER BY s.schedule_id, s.number
                 FOR UPDATE OF s) AS h;

      PERFORM 1 FROM wallets w
        WHERE w.user_id IN (SELECT p_users[i] FROM unnest(held_ords) AS i)
        ORDER BY w.user_id
          FOR UPDATE;

      RETURN QUERY
        SELECT q.ord::int, q.ord::int = ANY (held_ords), r.price,
               CASE WHEN q.ord::int = ANY (held_ords) THEN w.balance END,
               q.ord::int = ANY (held_ords) AND w.balance >= r.price
          FROM unnest(p_reservations, p_users) WITH ORDINALITY AS q(reservation_id, user_id, ord)
          LEFT JOIN reservations r ON r.id = q.reservation_id
          LEFT JOIN wallets w ON w.user_id = q.user_id;
    END $$;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION ticketing_claim_payments(uuid[], uuid[], uuid[], timestamptz);`.execute(db);
}
