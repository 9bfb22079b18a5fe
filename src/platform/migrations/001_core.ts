import { sql, type Kysely } from 'kysely';

/**
 * Core schema. The database, not the application, makes bad states impossible:
 * - a balance is never negative (CHECK), and every change to it has a ledger row;
 * - a seat has at most one active (HELD or CONFIRMED) reservation (partial unique index), while
 *   expired and cancelled reservations stay as history so the seat can be held again;
 * - a reservation is paid at most once (UNIQUE on payments.reservation_id);
 * - amounts, prices and seat counts stay in range.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE users (
      id uuid PRIMARY KEY,
      name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE wallets (
      user_id uuid PRIMARY KEY REFERENCES users(id),
      balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE ledger_entries (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users(id),
      type text NOT NULL CHECK (type IN ('CHARGE', 'PAYMENT', 'REFUND')),
      amount bigint NOT NULL,
      balance_after bigint NOT NULL CHECK (balance_after >= 0),
      reservation_id uuid,
      created_at timestamptz NOT NULL,
      CHECK ((type = 'PAYMENT' AND amount < 0) OR (type <> 'PAYMENT' AND amount > 0)),
      CHECK (abs(amount) <= 10000000)
    );
    CREATE INDEX ledger_entries_user_id_idx ON ledger_entries (user_id, id DESC);

    CREATE TABLE concerts (
      id uuid PRIMARY KEY,
      title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
      artist text NOT NULL CHECK (char_length(artist) BETWEEN 1 AND 200),
      venue text NOT NULL CHECK (char_length(venue) BETWEEN 1 AND 200),
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE schedules (
      id uuid PRIMARY KEY,
      concert_id uuid NOT NULL REFERENCES concerts(id),
      starts_at timestamptz NOT NULL,
      booking_opens_at timestamptz NOT NULL,
      seat_count integer NOT NULL CHECK (seat_count BETWEEN 1 AND 5000),
      price bigint NOT NULL CHECK (price BETWEEN 0 AND 10000000),
      CHECK (booking_opens_at <= starts_at)
    );
    CREATE INDEX schedules_concert_id_idx ON schedules (concert_id, starts_at);

    CREATE TABLE seats (
      schedule_id uuid NOT NULL REFERENCES schedules(id),
      number integer NOT NULL CHECK (number >= 1),
      status text NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'HELD', 'SOLD')),
      reservation_id uuid,
      held_until timestamptz,
      PRIMARY KEY (schedule_id, number),
      CHECK ((status = 'AVAILABLE') = (reservation_id IS NULL)),
      CHECK ((status = 'HELD') = (held_until IS NOT NULL))
    );
    CREATE INDEX seats_held_until_idx ON seats (held_until) WHERE status = 'HELD';

    CREATE TABLE reservations (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users(id),
      concert_id uuid NOT NULL REFERENCES concerts(id),
      schedule_id uuid NOT NULL,
      seat_number integer NOT NULL,
      price bigint NOT NULL CHECK (price BETWEEN 0 AND 10000000),
      status text NOT NULL CHECK (status IN ('HELD', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
      held_until timestamptz NOT NULL,
      created_at timestamptz NOT NULL,
      confirmed_at timestamptz,
      cancelled_at timestamptz,
      FOREIGN KEY (schedule_id, seat_number) REFERENCES seats (schedule_id, number),
      CHECK ((status = 'CONFIRMED') <= (confirmed_at IS NOT NULL))
    );
    CREATE UNIQUE INDEX reservations_one_active_per_seat
      ON reservations (schedule_id, seat_number) WHERE status IN ('HELD', 'CONFIRMED');
    CREATE INDEX reservations_user_idx ON reservations (user_id, id DESC);

    CREATE TABLE payments (
      id uuid PRIMARY KEY,
      reservation_id uuid NOT NULL UNIQUE REFERENCES reservations(id),
      user_id uuid NOT NULL REFERENCES users(id),
      amount bigint NOT NULL CHECK (amount BETWEEN 0 AND 10000000),
      status text NOT NULL CHECK (status IN ('PAID', 'REFUNDED')),
      paid_at timestamptz NOT NULL,
      refunded_at timestamptz
    );

    CREATE TABLE idempotency_keys (
      user_id uuid NOT NULL REFERENCES users(id),
      key text NOT NULL CHECK (char_length(key) BETWEEN 8 AND 255),
      fingerprint text NOT NULL,
      state text NOT NULL CHECK (state IN ('IN_PROGRESS', 'DONE')),
      response_status integer,
      response_body jsonb,
      locked_until timestamptz NOT NULL,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (user_id, key),
      CHECK ((state = 'DONE') = (response_status IS NOT NULL))
    );
    CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

    CREATE TABLE outbox (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      aggregate_id text NOT NULL,
      type text NOT NULL,
      version integer NOT NULL DEFAULT 1,
      payload jsonb NOT NULL,
      occurred_at timestamptz NOT NULL,
      published_at timestamptz,
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      parked_at timestamptz
    );
    CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL AND parked_at IS NULL;

    -- Serialises one user's holds on one schedule (advisory lock until the transaction ends), then
    -- counts their seats there. VOLATILE: the count takes a fresh snapshot after the lock, so two
    -- parallel holds of one user cannot both pass the limit, even inside a single statement.
    CREATE FUNCTION ticketing_lock_and_count_seats(p_user uuid, p_schedule uuid, p_now timestamptz)
      RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
    DECLARE n integer;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended(p_user::text || '/' || p_schedule::text, 0));
      SELECT count(*) INTO n FROM reservations
       WHERE user_id = p_user AND schedule_id = p_schedule
         AND (status = 'CONFIRMED' OR (status = 'HELD' AND held_until > p_now));
      RETURN n;
    END $$;

    -- Aborts the statement (and so undoes all of it) when a multi-step statement went only part way.
    CREATE FUNCTION ticketing_assert(ok boolean, reason text)
      RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      IF ok IS NOT TRUE THEN
        RAISE EXCEPTION '%', reason USING ERRCODE = 'TK001';
      END IF;
      RETURN true;
    END $$;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP FUNCTION ticketing_assert(boolean, text);
    DROP FUNCTION ticketing_lock_and_count_seats(uuid, uuid, timestamptz);
    DROP TABLE outbox, idempotency_keys, payments, reservations, seats, schedules, concerts,
      ledger_entries, wallets, users;
  `.execute(db);
}
