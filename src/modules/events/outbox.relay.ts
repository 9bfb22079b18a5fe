import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import { startLoop } from '../../platform/loop.js';
import { withTimeout } from '../../platform/timeout.js';
import { UnpublishableMessageError, type Broker, type BrokerMessage } from './broker.js';
import { purgeProcessedEvents, purgePublishedOutbox } from './outbox.purge.js';

/** The topic every domain event goes to; the aggregate id is the key. */
export const EVENTS_TOPIC = 'ticketing.events';

export interface OutgoingEvent {
  id: string;
  type: string;
  version: number;
  occurredAt: string;
  aggregateId: string;
  payload: Record<string, unknown>;
}

interface OutboxRow {
  seq: number;
  id: string;
  aggregate_id: string;
  type: string;
  version: number;
  payload: Record<string, unknown>;
  occurred_at: Date;
  attempts: number;
}

export interface RelayOptions {
  db: Database;
  broker: Broker;
  clock: Clock;
  batchSize?: number;
  /** Longest wait between retries of an event whose publish failed transiently (default 30 s). */
  maxBackoffMs?: number;
  /** How long a claim keeps a batch from other relays (default 60 s; longer than publishTimeoutMs). */
  leaseMs?: number;
  /** A publish not answered within this long counts as a transient failure (default 15 s). */
  publishTimeoutMs?: number;
  onPublished?: (count: number) => void;
  onFailed?: (count: number, err: unknown) => void;
  onParked?: (count: number, err: unknown) => void;
}

const DEFAULT_BATCH = 500;
const DEFAULT_MAX_BACKOFF_MS = 30_000;
const DEFAULT_LEASE_MS = 60_000;
const DEFAULT_PUBLISH_TIMEOUT_MS = 15_000;

export const toEvent = (row: OutboxRow): OutgoingEvent => ({
  id: row.id,
  type: row.type,
  version: row.version,
  occurredAt: row.occurred_at.toISOString(),
  aggregateId: row.aggregate_id,
  payload: row.payload,
});

const toMessage = (r: OutboxRow): BrokerMessage => ({ id: r.id, key: r.aggregate_id, value: JSON.stringify(toEvent(r)) });

/** Retry delay after `attempts` failures: exponential from 200 ms with jitter, never above `capMs`. */
export function retryDelayMs(attempts: number, capMs = DEFAULT_MAX_BACKOFF_MS, random = Math.random): number {
  const base = 200 * 2 ** Math.min(30, Math.max(0, attempts - 1));
  return Math.round(Math.min(capMs, base * (0.75 + random() * 0.5)));
}

const errorText = (err: unknown) => String(err instanceof Error ? err.message : err).slice(0, 500);

/**
 * What a relay keeps in memory per broker: its claim id, and, for a non-durable broker, the rows
 * it handed over that not every consumer group has handled yet (by event id). A new broker
 * instance (a restart) starts empty: its rows' leases run out and they are published again.
 */
interface InFlight {
  seq: number;
  /** Groups that still need the row and were not sent it this time (a targeted publish). */
  others: string[];
}
interface RelayState {
  relayId: string;
  inFlight: Map<string, InFlight>;
  renewedAt: number;
  /** Consecutive passes that found the broker down (it failed a publish and did not answer ping). */
  downPasses: number;
  /** While the broker is down: when the next single-row probe may go. */
  probeAt: number;
}
const states = new WeakMap<Broker, RelayState>();
function stateOf(broker: Broker): RelayState {
  let state = states.get(broker);
  if (!state) states.set(broker, (state = { relayId: randomUUID(), inFlight: new Map(), renewedAt: 0, downPasses: 0, probeAt: 0 }));
  return state;
}

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
async function claim(db: Database, relayId: string, now: Date, leaseMs: number, limit: number): Promise<OutboxRow[]> {
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
    RETURNING o.seq, o.id, o.aggregate_id, o.type, o.version, o.payload, o.occurred_at, o.attempts`.execute(db);
  return rows.map((r) => ({ ...r, seq: Number(r.seq) })).sort((a, b) => a.seq - b.seq);
}

/**
 * In-process broker only: claims, oldest first, due rows that every consumer group has handled
 * except some, `group` among them (`pending_groups`). Such a row no longer holds back later rows
 * of its aggregate: every other group has had it in order.
 */
async function claimPending(db: Database, relayId: string, group: string, now: Date, leaseMs: number, limit: number) {
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
    RETURNING o.seq, o.id, o.aggregate_id, o.type, o.version, o.payload, o.occurred_at, o.attempts, o.pending_groups`.execute(db);
  return rows.map((r) => ({ ...r, seq: Number(r.seq) })).sort((a, b) => a.seq - b.seq);
}

/**
 * In-process broker only: rows every group that took them has handled, but some groups missed
 * (their queue was full). Marked delivered when none is left; otherwise the groups still needing
 * the row are recorded, the claim released, and the row waits for them to have room.
 */
async function markPartlyDelivered(db: Database, relayId: string, rows: Array<{ seq: number; groups: string[] }>) {
  if (rows.length === 0) return;
  await sql`
    UPDATE outbox o
       SET pending_groups = f.groups, claimed_by = NULL, claimed_until = NULL, next_attempt_at = NULL
      FROM (SELECT seq, string_to_array(groups, ',') AS groups
              FROM unnest(${rows.map((r) => r.seq)}::bigint[], ${rows.map((r) => r.groups.join(','))}::text[]) AS u(seq, groups)) AS f
     WHERE o.seq = f.seq AND o.claimed_by = ${relayId} AND o.published_at IS NULL`.execute(db);
}

/** Marks rows delivered. `relayId` limits it to rows this relay still holds. */
async function markPublished(db: Database, seqs: number[], now: Date, relayId?: string) {
  if (seqs.length === 0) return;
  await sql`
    UPDATE outbox SET published_at = ${now}, claimed_by = NULL, claimed_until = NULL
     WHERE seq = ANY(${seqs}::bigint[]) AND published_at IS NULL
       ${relayId ? sql`AND claimed_by = ${relayId}` : sql``}`.execute(db);
}

interface Failure {
  row: OutboxRow;
  error: string;
}

/** Transient failures: one more attempt each, retried after the row's own backoff, claim released. */
async function markFailed(db: Database, relayId: string, failures: Failure[], now: Date, capMs: number) {
  if (failures.length === 0) return;
  const next = failures.map((f) => new Date(now.getTime() + retryDelayMs(f.row.attempts + 1, capMs)).toISOString());
  await sql`
    UPDATE outbox o
       SET attempts = o.attempts + 1, last_error = f.error, next_attempt_at = f.next_at,
           claimed_by = NULL, claimed_until = NULL
      FROM unnest(${failures.map((f) => f.row.seq)}::bigint[], ${failures.map((f) => f.error)}::text[], ${next}::timestamptz[])
           AS f(seq, error, next_at)
     WHERE o.seq = f.seq AND o.claimed_by = ${relayId} AND o.published_at IS NULL`.execute(db);
}

/** Refused for good: parked for an operator (listed and replayed through /admin/outbox/parked). */
async function markParked(db: Database, relayId: string, parked: Failure[], now: Date) {
  if (parked.length === 0) return;
  await sql`
    UPDATE outbox o
       SET attempts = o.attempts + 1, last_error = f.error, parked_at = ${now},
           claimed_by = NULL, claimed_until = NULL
      FROM unnest(${parked.map((f) => f.row.seq)}::bigint[], ${parked.map((f) => f.error)}::text[]) AS f(seq, error)
     WHERE o.seq = f.seq AND o.claimed_by = ${relayId} AND o.published_at IS NULL`.execute(db);
}

async function release(db: Database, relayId: string, rows: OutboxRow[]) {
  if (rows.length === 0) return;
  await sql`
    UPDATE outbox SET claimed_by = NULL, claimed_until = NULL
     WHERE seq = ANY(${rows.map((r) => r.seq)}::bigint[]) AND claimed_by = ${relayId}`.execute(db);
}

function publishWithin(broker: Broker, messages: BrokerMessage[], ms: number, groups?: string[]): Promise<void> {
  return withTimeout(
    broker.publish(EVENTS_TOPIC, messages, groups ? { groups } : undefined),
    ms,
    `broker did not answer the publish within ${ms} ms`,
  );
}

interface Outcome {
  sent: OutboxRow[];
  failed: Failure[];
  parked: Failure[];
  /** Rows left for later untouched: an earlier row of their key failed in this pass. */
  held: OutboxRow[];
  lastError?: unknown;
  /** A publish failed and the broker did not answer ping either. */
  brokerDown: boolean;
}

/**
 * Publishes a claimed batch. Messages the broker refuses for good are set aside (parked) and the
 * rest published again. When the batch fails otherwise while the broker answers ping, something in
 * the batch may be the cause: it is published one message at a time, and a message that fails
 * holds back the later messages of its key, so order per key is kept.
 */
async function publishBatch(broker: Broker, rows: OutboxRow[], timeoutMs: number, groups?: string[]): Promise<Outcome> {
  const out: Outcome = { sent: [], failed: [], parked: [], held: [], brokerDown: false };
  let rest = rows;
  while (rest.length > 0) {
    try {
      await publishWithin(broker, rest.map(toMessage), timeoutMs, groups);
      out.sent.push(...rest);
      return out;
    } catch (err) {
      out.lastError = err;
      if (err instanceof UnpublishableMessageError && err.ids.length > 0) {
        const refused = new Set(err.ids);
        const error = errorText(err);
        for (const row of rest) if (refused.has(row.id)) out.parked.push({ row, error });
        const before = rest.length;
        rest = rest.filter((r) => !refused.has(r.id));
        if (rest.length < before) continue;
      }
      const up = await broker.ping().catch(() => false);
      if (up && rest.length > 1) return oneByOne(broker, rest, timeoutMs, out, groups);
      out.brokerDown = !up;
      const error = errorText(err);
      out.failed.push(...rest.map((row) => ({ row, error })));
      return out;
    }
  }
  return out;
}

async function oneByOne(broker: Broker, rows: OutboxRow[], timeoutMs: number, out: Outcome, groups?: string[]): Promise<Outcome> {
  const blockedKeys = new Set<string>();
  for (const row of rows) {
    if (blockedKeys.has(row.aggregate_id)) {
      out.held.push(row);
      continue;
    }
    try {
      await publishWithin(broker, [toMessage(row)], timeoutMs, groups);
      out.sent.push(row);
    } catch (err) {
      out.lastError = err;
      const failure = { row, error: errorText(err) };
      if (err instanceof UnpublishableMessageError && err.ids.includes(row.id)) {
        out.parked.push(failure);
      } else {
        out.failed.push(failure);
        blockedKeys.add(row.aggregate_id);
      }
    }
  }
  return out;
}

/**
 * With a non-durable broker, a row counts as delivered once every consumer group has handled its
 * event: marks the rows the broker reports so, and keeps the leases of the rest alive.
 */
async function settleInFlight(opts: RelayOptions, state: RelayState, now: Date, leaseMs: number) {
  const acks = opts.broker.acknowledged?.() ?? [];
  const seqs: number[] = [];
  const partly: Array<{ seq: number; groups: string[] }> = [];
  for (const { id, missed } of acks) {
    const held = state.inFlight.get(id);
    if (held === undefined) continue;
    state.inFlight.delete(id);
    const groups = [...new Set([...held.others, ...missed])];
    if (groups.length === 0) seqs.push(held.seq);
    else partly.push({ seq: held.seq, groups });
  }
  await markPublished(opts.db, seqs, now);
  await markPartlyDelivered(opts.db, state.relayId, partly);
  if (seqs.length > 0) opts.onPublished?.(seqs.length);
  if (state.inFlight.size > 0 && now.getTime() - state.renewedAt >= leaseMs / 3) {
    const held = [...state.inFlight.values()].map((f) => f.seq);
    const { rows } = await sql<{ seq: string }>`
      UPDATE outbox SET claimed_until = ${new Date(now.getTime() + leaseMs)}
       WHERE seq = ANY(${held}::bigint[]) AND claimed_by = ${state.relayId} AND published_at IS NULL
      RETURNING seq`.execute(opts.db);
    const kept = new Set(rows.map((r) => Number(r.seq)));
    // Rows published meanwhile by another relay, or claimed by one after a lapse, are not ours now.
    for (const [id, f] of state.inFlight) if (!kept.has(f.seq)) state.inFlight.delete(id);
    state.renewedAt = now.getTime();
  }
}

/**
 * One pass of the transactional-outbox relay: claims the oldest due unsent rows with a lease
 * (relays in many instances share the work and never publish a row twice in normal operation),
 * publishes them with the aggregate id as key, then marks them sent with a conditional UPDATE.
 *
 * - A transient failure (broker down, timeout, connection) is retried forever, each row after its
 *   own capped exponential backoff with jitter; `attempts` and `last_error` show it. Such a row is
 *   never parked.
 * - A message the broker refuses for good (`UnpublishableMessageError`) is parked; the others of
 *   the batch go out.
 * - While the broker is down (a publish failed and ping too), each pass sends a single row as a
 *   probe, spaced by the same capped backoff, instead of cycling the whole backlog through failed
 *   attempts; the first probe that goes through ends it, and full batches resume at once.
 * - If the process dies after publishing and before marking, the lease runs out and the rows are
 *   published again: consumers deduplicate by event id.
 * - With a non-durable broker (in-process), rows are marked once every consumer group has handled
 *   them; until then their lease is renewed, and after a restart they are published again. A group
 *   whose queue is full (its endpoint is down) misses rows without holding up the other groups:
 *   the row records it in `pending_groups` once the others handled it, and goes again to that
 *   group alone, oldest first, as the group has room (see relayToLaggingGroups).
 *
 * Returns how many rows it handed to the broker.
 */
export async function relayOnce(opts: RelayOptions): Promise<number> {
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const state = stateOf(opts.broker);
  const now = opts.clock.now();
  if (!opts.broker.durable) await settleInFlight(opts, state, now, leaseMs);
  const probing = state.downPasses > 0;
  if (probing && now.getTime() < state.probeAt) return 0;

  let sent = probing ? 0 : await relayToLaggingGroups(opts, state, now, leaseMs, batchSize);
  const rows = await claim(opts.db, state.relayId, now, leaseMs, probing ? 1 : batchSize);
  if (rows.length === 0) return sent;
  sent += await settleOutcome(opts, state, await publishBatch(opts.broker, rows, opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS), now);
  return sent;
}

/**
 * In-process broker only: rows that some consumer groups missed (their queue was full) go again
 * to each such group that has room now, to that group alone and no more than it can take.
 */
async function relayToLaggingGroups(opts: RelayOptions, state: RelayState, now: Date, leaseMs: number, batchSize: number): Promise<number> {
  let sent = 0;
  for (const { group, room } of opts.broker.room?.(EVENTS_TOPIC) ?? []) {
    if (room <= 0) continue;
    const rows = await claimPending(opts.db, state.relayId, group, now, leaseMs, Math.min(room, batchSize));
    if (rows.length === 0) continue;
    const out = await publishBatch(opts.broker, rows, opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS, [group]);
    const others = new Map(rows.map((r) => [r.seq, r.pending_groups.filter((g) => g !== group)]));
    sent += await settleOutcome(opts, state, out, now, others);
    if (out.brokerDown) break;
  }
  return sent;
}

/** Records what a publish did: rows sent, parked, failed (backoff) or held back; returns how many went out. */
async function settleOutcome(opts: RelayOptions, state: RelayState, out: Outcome, now: Date, others?: Map<number, string[]>): Promise<number> {
  const maxBackoffMs = opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  if (out.brokerDown) {
    state.downPasses++;
    state.probeAt = now.getTime() + retryDelayMs(state.downPasses, maxBackoffMs);
  } else if (out.sent.length > 0) {
    state.downPasses = 0;
  }

  const after = opts.clock.now();
  if (opts.broker.durable) {
    await markPublished(opts.db, out.sent.map((r) => r.seq), after, state.relayId);
    if (out.sent.length > 0) opts.onPublished?.(out.sent.length);
  } else {
    for (const r of out.sent) state.inFlight.set(r.id, { seq: r.seq, others: others?.get(r.seq) ?? [] });
  }
  await markParked(opts.db, state.relayId, out.parked, after);
  await markFailed(opts.db, state.relayId, out.failed, after, maxBackoffMs);
  await release(opts.db, state.relayId, out.held);
  if (out.parked.length > 0) opts.onParked?.(out.parked.length, out.lastError);
  if (out.failed.length > 0) opts.onFailed?.(out.failed.length, out.lastError);
  return out.sent.length;
}

export interface PurgeOptions {
  /** Published outbox rows are deleted this long after publication. */
  outboxRetentionMs: number;
  /** Deduplication records are deleted this long after the event was applied. */
  processedEventsRetentionMs: number;
  /** How often (default every minute). */
  everyMs?: number;
}

/**
 * Runs the relay: drains while there is a backlog, then polls every `idleMs` (50 ms: events
 * reach the broker well under a second after commit). Polling, not LISTEN/NOTIFY: NOTIFY
 * serialises committing transactions on one lock, which the payment path cannot afford.
 * With `purge`, it also deletes old published rows and deduplication records, in bounded batches.
 */
export function startRelay(opts: RelayOptions & { idleMs?: number; log: Logger; purge?: PurgeOptions }) {
  let lastPurge = 0;
  return startLoop({
    intervalMs: opts.idleMs ?? 50,
    onError: (err) => opts.log.warn({ err }, 'outbox relay pass failed; will retry'),
    run: async () => {
      while ((await relayOnce(opts)) > 0) {
        // there may be more right behind it (and after a probe that went through, the whole backlog)
      }
      const purge = opts.purge;
      if (purge && Date.now() - lastPurge >= (purge.everyMs ?? 60_000)) {
        lastPurge = Date.now();
        const now = opts.clock.now();
        const outbox = await purgePublishedOutbox(opts.db, new Date(now.getTime() - purge.outboxRetentionMs));
        const processed = await purgeProcessedEvents(opts.db, new Date(now.getTime() - purge.processedEventsRetentionMs));
        if (outbox + processed > 0) opts.log.info({ outbox, processed }, 'purged published events and old deduplication records');
      }
    },
  });
}

/** What /metrics and /health/ready report about the outbox (each part served by a partial index). */
export async function outboxHealth(db: Database): Promise<{ unsent: number; parked: number; oldestUnsentAgeSeconds: number }> {
  const { rows } = await sql<{ unsent: number; parked: number; oldest: Date | null }>`
    SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL)::int AS unsent,
           (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NOT NULL)::int AS parked,
           (SELECT occurred_at FROM outbox WHERE published_at IS NULL AND parked_at IS NULL ORDER BY seq LIMIT 1) AS oldest`.execute(db);
  const row = rows[0]!;
  return {
    unsent: row.unsent,
    parked: row.parked,
    oldestUnsentAgeSeconds: row.oldest ? Math.max(0, (Date.now() - row.oldest.getTime()) / 1000) : 0,
  };
}
