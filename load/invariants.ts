/**
 * The sale's invariants, counted in SQL on the database the instances share once the sale is over:
 * the general ones every run keeps (harness/invariants.ts) and the sale's own, checked against what
 * the users were told. Only the run's concert and users are counted (a shared database holds other
 * rows). Each figure counts violations: all zero when nothing is broken.
 */
import pg from 'pg';
import { checkInvariants } from '../harness/invariants.js';

export interface SaleRecords {
  concertId: string;
  /** Every payment answered 201. */
  payments: { id: string; reservationId: string }[];
  abandonedHolds: string[];
  /** Reservations whose cancellation was answered 200 (or read CANCELLED after a lost answer). */
  cancelled: string[];
  /** Every user who signed up → top-ups answered 201. */
  topUps: Map<string, number>;
}

export interface SaleCounts {
  seatsSold: number;
  confirmedReservations: number;
  paidPayments: number;
  refundedPayments: number;
  expiredReservations: number;
}

export interface SaleInvariants {
  seatsSoldTwice: number;
  /** |seats sold − confirmed reservations| + |confirmed reservations − paid payments|. */
  soldConfirmedPaidMismatch: number;
  balancesNotMatchingLedger: number;
  negativeBalances: number;
  seatsDisagreeingWithReservations: number;
  paymentsWithoutConfirmedReservation: number;
  abandonedHoldsNotExpired: number;
  paymentsAnsweredButMissing: number;
  /** Cancellations answered whose reservation is not CANCELLED with a REFUNDED payment and a REFUND entry. */
  cancellationsNotRefunded: number;
  /** |PAID payments − (payments answered 201 − cancellations answered)|. */
  paidNotAsAnswered: number;
  /** Users whose CHARGE entries differ in number from the top-ups answered 201. */
  topUpsNotAsAnswered: number;
  outboxNotDrained: number;
  confirmationsNotConsumedOnce: number;
}

const SEATS_SOLD_TWICE = `SELECT count(*) AS n FROM (
  SELECT r.schedule_id, r.seat_number FROM reservations r JOIN payments p ON p.reservation_id = r.id
   WHERE r.concert_id = $1 AND p.status = 'PAID' GROUP BY 1, 2 HAVING count(*) > 1) x`;

const COUNTS = `SELECT
  (SELECT count(*) FROM seats s JOIN schedules sc ON sc.id = s.schedule_id WHERE sc.concert_id = $1 AND s.status = 'SOLD') AS sold,
  (SELECT count(*) FROM reservations WHERE concert_id = $1 AND status = 'CONFIRMED') AS confirmed,
  (SELECT count(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id WHERE r.concert_id = $1 AND p.status = 'PAID') AS paid,
  (SELECT count(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id WHERE r.concert_id = $1 AND p.status = 'REFUNDED') AS refunded,
  (SELECT count(*) FROM reservations WHERE concert_id = $1 AND status = 'EXPIRED') AS expired`;

// An abandoned hold must be EXPIRED, and its seat no longer point at it (free, or held/sold again).
const ABANDONED_NOT_EXPIRED = `SELECT count(*) AS n FROM reservations r WHERE r.id = ANY($1::uuid[])
  AND (r.status <> 'EXPIRED' OR EXISTS (SELECT 1 FROM seats s WHERE s.reservation_id = r.id))`;

const PAYMENTS_MISSING = `SELECT count(*) AS n FROM unnest($1::uuid[], $2::uuid[]) AS a(id, reservation_id)
  WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = a.id AND p.reservation_id = a.reservation_id)`;

// Unpublished events of the run: about its concert, or one of its users (a top-up names only the user).
const OUTBOX_PENDING = `SELECT count(*) AS n FROM outbox WHERE published_at IS NULL
  AND (payload->>'concertId' = $1::text OR payload->>'userId' = ANY($2::text[]))`;

// Every reservation ever confirmed has exactly one reservation.confirmed event, and the rankings
// consumer applied it (processed_events; its key makes "more than once" impossible). One pass over
// the events, grouped, rather than one lookup per reservation.
const NOT_CONSUMED_ONCE = `SELECT count(*) AS n FROM reservations r
  LEFT JOIN (SELECT o.payload->>'reservationId' AS reservation_id, count(*) AS n
      FROM outbox o JOIN processed_events pe ON pe.event_id = o.id AND pe.consumer = 'rankings'
     WHERE o.type = 'reservation.confirmed' GROUP BY 1) e ON e.reservation_id = r.id::text
  WHERE r.concert_id = $1 AND r.confirmed_at IS NOT NULL AND COALESCE(e.n, 0) <> 1`;

// A cancellation the user was told of: the reservation CANCELLED, its payment REFUNDED, a REFUND entry.
const CANCELLATIONS_NOT_REFUNDED = `SELECT count(*) AS n FROM unnest($1::uuid[]) AS c(id)
  LEFT JOIN reservations r ON r.id = c.id
  LEFT JOIN payments p ON p.reservation_id = c.id
  LEFT JOIN (SELECT reservation_id, count(*) AS n FROM ledger_entries
     WHERE type = 'REFUND' AND reservation_id = ANY($1::uuid[]) GROUP BY 1) l ON l.reservation_id = c.id
  WHERE r.status IS DISTINCT FROM 'CANCELLED' OR p.status IS DISTINCT FROM 'REFUNDED' OR COALESCE(l.n, 0) <> 1`;

const TOPUPS_NOT_AS_ANSWERED = `SELECT count(*) AS n FROM unnest($1::uuid[], $2::int[]) AS a(user_id, answered)
  LEFT JOIN (SELECT user_id, count(*) AS n FROM ledger_entries
     WHERE type = 'CHARGE' AND user_id = ANY($1::uuid[]) GROUP BY 1) l ON l.user_id = a.user_id
  WHERE COALESCE(l.n, 0) <> a.answered`;

async function count(client: pg.Client, q: string, params: unknown[] = []): Promise<number> {
  return Number((await client.query(q, params)).rows[0].n);
}

/**
 * Waits up to `drainSeconds` for the outbox to drain and the consumers to catch up, then counts.
 */
export async function checkSale(databaseUrl: string, records: SaleRecords, drainSeconds = 30): Promise<{ invariants: SaleInvariants; counts: SaleCounts }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { concertId } = records;
    const userIds = [...records.topUps.keys()];
    for (let i = 0; i < drainSeconds * 4; i++) {
      const pending = (await count(client, OUTBOX_PENDING, [concertId, userIds])) + (await count(client, NOT_CONSUMED_ONCE, [concertId]));
      if (pending === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const row = (await client.query(COUNTS, [concertId])).rows[0];
    const counts: SaleCounts = {
      seatsSold: Number(row.sold),
      confirmedReservations: Number(row.confirmed),
      paidPayments: Number(row.paid),
      refundedPayments: Number(row.refunded),
      expiredReservations: Number(row.expired),
    };
    const general = await checkInvariants(databaseUrl, { concertId, userIds });
    const invariants: SaleInvariants = {
      seatsSoldTwice: (await count(client, SEATS_SOLD_TWICE, [concertId])) + general.seatsWithTwoActiveReservations,
      soldConfirmedPaidMismatch:
        Math.abs(counts.seatsSold - counts.confirmedReservations) + Math.abs(counts.confirmedReservations - counts.paidPayments),
      balancesNotMatchingLedger: general.balancesNotMatchingLedger,
      negativeBalances: general.negativeBalances,
      seatsDisagreeingWithReservations: general.seatsDisagreeingWithReservations,
      paymentsWithoutConfirmedReservation: general.paymentsWithoutConfirmedReservation,
      abandonedHoldsNotExpired: await count(client, ABANDONED_NOT_EXPIRED, [records.abandonedHolds]),
      paymentsAnsweredButMissing: await count(client, PAYMENTS_MISSING, [records.payments.map((p) => p.id), records.payments.map((p) => p.reservationId)]),
      cancellationsNotRefunded: await count(client, CANCELLATIONS_NOT_REFUNDED, [records.cancelled]),
      paidNotAsAnswered: Math.abs(counts.paidPayments - (records.payments.length - records.cancelled.length)),
      topUpsNotAsAnswered: await count(client, TOPUPS_NOT_AS_ANSWERED, [userIds, [...records.topUps.values()]]),
      outboxNotDrained: await count(client, OUTBOX_PENDING, [concertId, userIds]),
      confirmationsNotConsumedOnce: await count(client, NOT_CONSUMED_ONCE, [concertId]),
    };
    return { invariants, counts };
  } finally {
    await client.end();
  }
}
