import { sql, type RawBuilder } from 'kysely';

/**
 * Events are written by the same SQL statement that makes the change they describe, so a change
 * and its event commit together, in one round trip. This module is the one place that shapes them.
 */
export type EventType =
  | 'reservation.held'
  | 'reservation.confirmed'
  | 'reservation.cancelled'
  | 'reservation.expired'
  | 'balance.charged';

type Expr = RawBuilder<unknown>;

/** A timestamptz as an ISO-8601 UTC string, as the API writes times. */
export const isoSql = (expr: Expr): Expr =>
  sql`to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** A column of a relation in the statement. */
export const col = (relation: string, column: string): Expr => sql.ref(`${relation}.${column}`);

function jsonObject(fields: [string, Expr][]): Expr {
  return sql`jsonb_build_object(${sql.join(fields.map(([key, value]) => sql`${sql.lit(key)}, ${value}`))})`;
}

/** The payload every reservation.* event carries, read from a reservations-shaped relation. */
export function reservationPayload(relation: string, extra: Record<string, Expr> = {}): Expr {
  const c = (column: string) => col(relation, column);
  return jsonObject([
    ['reservationId', c('id')],
    ['userId', c('user_id')],
    ['concertId', c('concert_id')],
    ['scheduleId', c('schedule_id')],
    ['seatNumber', c('seat_number')],
    ['price', c('price')],
    ...Object.entries(extra),
  ]);
}

export function payloadOf(fields: Record<string, Expr>): Expr {
  return jsonObject(Object.entries(fields));
}

/**
 * `SELECT …` rows for `INSERT INTO outbox (aggregate_id, type, payload, occurred_at, trace_context)`:
 * one event per row of `relation`. `traceContext` is the W3C traceparent of the traced request the
 * statement runs for (a text parameter, NULL when there is none; per row in a batched statement),
 * which the relay passes on to consumers.
 */
export function eventRows(type: EventType, relation: string, aggregateId: Expr, payload: Expr, at: Expr, traceContext: Expr): Expr {
  return sql`SELECT ${aggregateId}::text, ${sql.lit(type)}, ${payload}, ${at}::timestamptz, ${traceContext}::text FROM ${sql.table(relation)}`;
}

export const insertEvents = (...rows: Expr[]): Expr =>
  sql`INSERT INTO outbox (aggregate_id, type, payload, occurred_at, trace_context) ${sql.join(rows, sql` UNION ALL `)}`;
