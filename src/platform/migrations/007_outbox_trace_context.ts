import { sql, type Kysely } from 'kysely';

/**
 * `trace_context`: the W3C traceparent of the traced request whose statement wrote the event
 * (NULL when tracing is off, the request was not sampled, or no request wrote it). The relay puts
 * it in the published message's headers, so a consumer's span links to that request.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE outbox ADD COLUMN trace_context text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE outbox DROP COLUMN trace_context`.execute(db);
}
