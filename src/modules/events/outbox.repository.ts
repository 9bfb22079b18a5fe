import { sql } from 'kysely';
import type { Database } from '../../platform/db.js';

/**
 * The relay's SQL on the outbox: claiming due rows with a lease, and recording what a publish did
 * (delivered, partly delivered, failed and backing off, parked, released).
 */
export interface OutboxRow {
  seq: number;
  id: string;
  aggregate_id: string;
  type: string;
  version: number;
  payload: Record<string, unknown>;
  occurred_at: Date;
  attempts: number;
  /** The traceparent of the traced request that wrote the event, if any. */
  trace_context: string | null;
}

/** A row whose publish failed, with the error it gets as `last_error`. */
export interface Failure {
  row: OutboxRow;
  error: string;
}

/** `seq` comes back from PostgreSQL as text (bigint): as a number, in claim order. */
const inSeqOrder = <T extends { seq: number }>(rows: T[]): T[] =>
  rows.map((r) => ({ ...r, seq: Number(r.seq) })).sort((a, b) => a.seq - b.seq);

/**
 * Claims the oldest due unsent rows for `leaseMs`, in one statement that commits at once (no
 * transaction stays open while the broker is called). A row is skipped while an earlier unsent row
 * of its aggregate waits (backing off, claimed by a relay, or being claimed by another relay right
 * now: skipped as locked), so each key's events go out in order across relays and retries. SKIP
 * LOCKED and the claim condition keep two relays off the same rows.
 *
 * The unsent rows are read once (the partial index `outbox_unpublished_idx`: the backlog, never the
 * published history), and the per-key checks are hash joins over that set, so a pass costs the
 * backlog's size whatever the table's, and no plan hinges on fresh statistics (a nested loop over
 * the backlog per candidate is what an unanalysed table got: 1.8 s a pass at 7,600 unsent rows).
 */
export async function claim(db: Database, relayId: string, now: Date, leaseMs: number, limit: number): Promise<OutboxRow[]> {
  const { rows } = await sql<OutboxRow>`
    WITH unsent AS MATERIALIZED (
      SELECT seq, aggregate_id, next_attempt_at, claimed_until, pending_groups IS NOT NULL AS lagging FROM outbox
       WHERE published_at IS NULL AND parked_at IS NULL
    ), waiting AS (
      -- per aggregate, the first row that is backing off or claimed: nothing after it may go (a row
      -- only lagging groups still wait for holds nothing back: the other groups have it)
      SELECT aggregate_id, min(seq) AS first_seq FROM unsent
       WHERE NOT lagging AND (next_attempt_at > ${now} OR claimed_until >= ${now})
       GROUP BY aggregate_id
    ), due AS (
      SELECT u.seq FROM unsent u LEFT JOIN waiting w ON w.aggregate_id = u.aggregate_id
       WHERE NOT u.lagging
         AND (u.next_attempt_at IS NULL OR u.next_attempt_at <= ${now})
         AND (u.claimed_until IS NULL OR u.claimed_until < ${now})
         AND (w.first_seq IS NULL OR w.first_seq > u.seq)
       ORDER BY u.seq
       LIMIT ${limit}
    ), cand AS (
      SELECT o.seq, o.aggregate_id FROM outbox o
       WHERE o.seq IN (SELECT seq FROM due)
         AND o.published_at IS NULL AND o.parked_at IS NULL AND o.pending_groups IS NULL
         AND (o.claimed_until IS NULL OR o.claimed_until < ${now})
       FOR UPDATE OF o SKIP LOCKED
    ), skipped AS (
      -- per aggregate, the first unsent row this claim does not take (e.g. locked by another relay)
      SELECT aggregate_id, min(seq) AS first_seq FROM unsent
       WHERE NOT lagging AND seq NOT IN (SELECT seq FROM cand)
       GROUP BY aggregate_id
    ), mine AS (
      SELECT c.seq FROM cand c LEFT JOIN skipped s ON s.aggregate_id = c.aggregate_id
       WHERE s.first_seq IS NULL OR s.first_seq > c.seq
    )
    UPDATE outbox o
       SET claimed_by = ${relayId}, claimed_until = ${new Date(now.getTime() + leaseMs)}
      FROM mine
     WHERE o.seq = mine.seq
    RETURNING o.seq, o.id, o.aggregate_id, o.type, o.version, o.payload, o.occurred_at, o.attempts, o.trace_context`.execute(db);
  return inSeqOrder(rows);
}

/**
 * In-process broker only: claims, oldest first, due rows that every consumer group has handled
 * except some, `group` among them (`pending_groups`). Such a row no longer holds back later rows
 * of its aggregate: every other group has had it in order.
 */
export async function claimPending(db: Database, relayId: string, group: string, now: Date, leaseMs: number, limit: number) {
  const { rows } = await sql<OutboxRow & { pending_groups: string[] }>`
    UPDATE outbox o
       SET claimed_by = ${relayId}, claimed_until = ${new Date(now.getTime() + leaseMs)}
     WHERE o.seq IN (
       SELECT seq FROM outbox
        WHERE published_at IS NULL AND parked_at IS NULL AND pending_groups @> ARRAY[${group}]::text[]
          AND (next_attempt_at IS NULL OR next_attempt_at <= ${now})
          AND (claimed_until IS NULL OR claimed_until < ${now})
        ORDER BY seq
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
    RETURNING o.seq, o.id, o.aggregate_id, o.type, o.version, o.payload, o.occurred_at, o.attempts, o.trace_context, o.pending_groups`.execute(db);
  return inSeqOrder(rows);
}

/**
 * In-process broker only: extends the lease on rows this relay handed over and still holds until
 * `until`; returns the seqs it still holds (another relay may have published or claimed the rest).
 */
export async function renewLeases(db: Database, relayId: string, seqs: number[], until: Date): Promise<Set<number>> {
  const { rows } = await sql<{ seq: string }>`
    UPDATE outbox SET claimed_until = ${until}
     WHERE seq = ANY(${seqs}::bigint[]) AND claimed_by = ${relayId} AND published_at IS NULL
    RETURNING seq`.execute(db);
  return new Set(rows.map((r) => Number(r.seq)));
}

/**
 * In-process broker only: rows every group that took them has handled, but some groups missed
 * (their queue was full). Marked delivered when none is left; otherwise the groups still needing
 * the row are recorded, the claim released, and the row waits for them to have room.
 */
export async function markPartlyDelivered(db: Database, relayId: string, rows: Array<{ seq: number; groups: string[] }>) {
  if (rows.length === 0) return;
  await sql`
    UPDATE outbox o
       SET pending_groups = f.groups, claimed_by = NULL, claimed_until = NULL, next_attempt_at = NULL
      FROM (SELECT seq, string_to_array(groups, ',') AS groups
              FROM unnest(${rows.map((r) => r.seq)}::bigint[], ${rows.map((r) => r.groups.join(','))}::text[]) AS u(seq, groups)) AS f
     WHERE o.seq = f.seq AND o.claimed_by = ${relayId} AND o.published_at IS NULL`.execute(db);
}

/** Marks rows delivered; returns how many. `relayId` limits it to rows this relay still holds, `under` to an epoch. */
export async function markPublished(db: Database, seqs: number[], now: Date, relayId?: string, under?: { topic: string; epoch: string }): Promise<number> {
  if (seqs.length === 0) return 0;
  // Under an epoch: only while it is still the recorded one. FOR SHARE orders this against the
  // instance recording a loss: either these rows are marked before it marks rows unsent again, or not at all.
  const marked = await sql`
    UPDATE outbox SET published_at = ${now}, claimed_by = NULL, claimed_until = NULL
     WHERE seq = ANY(${seqs}::bigint[]) AND published_at IS NULL
       ${relayId ? sql`AND claimed_by = ${relayId}` : sql``}
       ${under ? sql`AND EXISTS (SELECT 1 FROM broker_epochs WHERE topic = ${under.topic} AND epoch = ${under.epoch} FOR SHARE)` : sql``}`.execute(db);
  return Number(marked.numAffectedRows ?? 0n);
}

/** Transient failures: one more attempt each, retried at `nextAt` (the row's own backoff), claim released. */
export async function markFailed(db: Database, relayId: string, failures: Array<Failure & { nextAt: Date }>) {
  if (failures.length === 0) return;
  await sql`
    UPDATE outbox o
       SET attempts = o.attempts + 1, last_error = f.error, next_attempt_at = f.next_at,
           claimed_by = NULL, claimed_until = NULL
      FROM unnest(${failures.map((f) => f.row.seq)}::bigint[], ${failures.map((f) => f.error)}::text[],
                  ${failures.map((f) => f.nextAt.toISOString())}::timestamptz[])
           AS f(seq, error, next_at)
     WHERE o.seq = f.seq AND o.claimed_by = ${relayId} AND o.published_at IS NULL`.execute(db);
}

/** Refused for good: parked for an operator (listed and replayed through /admin/outbox/parked). */
export async function markParked(db: Database, relayId: string, parked: Failure[], now: Date) {
  if (parked.length === 0) return;
  await sql`
    UPDATE outbox o
       SET attempts = o.attempts + 1, last_error = f.error, parked_at = ${now},
           claimed_by = NULL, claimed_until = NULL
      FROM unnest(${parked.map((f) => f.row.seq)}::bigint[], ${parked.map((f) => f.error)}::text[]) AS f(seq, error)
     WHERE o.seq = f.seq AND o.claimed_by = ${relayId} AND o.published_at IS NULL`.execute(db);
}

/** Gives claimed rows back untouched (no attempt counted): the next pass takes them again. */
export async function release(db: Database, relayId: string, rows: OutboxRow[]) {
  if (rows.length === 0) return;
  await sql`
    UPDATE outbox SET claimed_by = NULL, claimed_until = NULL
     WHERE seq = ANY(${rows.map((r) => r.seq)}::bigint[]) AND claimed_by = ${relayId}`.execute(db);
}
