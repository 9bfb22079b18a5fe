import { randomUUID } from 'node:crypto';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import { startLoop } from '../../platform/loop.js';
import type { Broker } from './broker.js';
import { inPublishSpan } from './events.tracing.js';
import { EVENTS_TOPIC } from './outbox.event.js';
import { checkTopicLoss, recordHandledBefore } from './outbox.loss.js';
import { errorText, publishBatch, type Outcome } from './outbox.publish.js';
import { purgeProcessedEvents, purgePublishedOutbox } from './outbox.purge.js';
import {
  claim,
  claimPending,
  markFailed,
  markParked,
  markPartlyDelivered,
  markPublished,
  release,
  renewLeases,
  type OutboxRow,
} from './outbox.repository.js';

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
  /** When tracing is on: each publish is a span linked to the requests that wrote its events. */
  tracer?: Tracer;
  /** Durable brokers with an epoch: how often the relay looks for a lost topic (default 1 s; see outbox.loss.ts)... */
  lossCheckEveryMs?: number;
  /** ...and records how far every consumer group has handled it (default 10 s). */
  handledRecordEveryMs?: number;
  /** Told how many published rows were marked to publish again after the broker lost the topic. */
  onRepublished?: (count: number) => void;
}

const DEFAULT_BATCH = 500;
const DEFAULT_MAX_BACKOFF_MS = 30_000;
const DEFAULT_LEASE_MS = 60_000;
const DEFAULT_PUBLISH_TIMEOUT_MS = 15_000;

/** Retry delay after `attempts` failures: exponential from 200 ms with jitter, never above `capMs`. */
export function retryDelayMs(attempts: number, capMs = DEFAULT_MAX_BACKOFF_MS, random = Math.random): number {
  const base = 200 * 2 ** Math.min(30, Math.max(0, attempts - 1));
  return Math.round(Math.min(capMs, base * (0.75 + random() * 0.5)));
}

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
  /** Lost topics: when to look next, when to record the groups' progress, the epoch to publish under (undefined: look first). */
  loss: { checkAt: number; recordAt: number; epoch?: string };
}
const states = new WeakMap<Broker, RelayState>();
function stateOf(broker: Broker): RelayState {
  let state = states.get(broker);
  if (!state) states.set(broker, (state = { relayId: randomUUID(), inFlight: new Map(), renewedAt: 0, downPasses: 0, probeAt: 0, loss: { checkAt: 0, recordAt: 0 } }));
  return state;
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
    const kept = await renewLeases(opts.db, state.relayId, held, new Date(now.getTime() + leaseMs));
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
 * - With a durable broker that can lose what it accepted (Redis Streams), a lost topic is noticed
 *   by its epoch and the rows its consumers may not have handled are published again (guardLoss);
 *   rows are published only under the epoch last checked, so none reaches a lost topic's new
 *   stream before that.
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
  const lookFailed = opts.broker.durable ? await guardLoss(opts, state, now.getTime()) : undefined;
  if (lookFailed !== undefined) return failProbe(opts, state, now, leaseMs, lookFailed);

  let sent = probing ? 0 : await relayToLaggingGroups(opts, state, now, leaseMs, batchSize);
  const rows = await claim(opts.db, state.relayId, now, leaseMs, probing ? 1 : batchSize);
  if (rows.length === 0) return sent;
  sent += (await publishAndSettle(opts, state, rows, now)).sent;
  return sent;
}

/**
 * Durable brokers with an epoch: about every lossCheckEveryMs, and before the first publish after
 * one was refused for its epoch, looks whether the broker lost the topic and, if so, has the rows
 * it may have lost marked unsent (checkTopicLoss). Returns the error when the look failed (the
 * broker or PostgreSQL down, or another instance moving the epoch): nothing is published then.
 */
async function guardLoss(opts: RelayOptions, state: RelayState, now: number): Promise<{ err: unknown } | undefined> {
  if (!opts.broker.epoch || (state.loss.epoch !== undefined && now < state.loss.checkAt)) return undefined;
  try {
    const check = (await checkTopicLoss(opts.db, opts.broker, EVENTS_TOPIC))!;
    state.loss.epoch = check.epoch;
    state.loss.checkAt = now + (opts.lossCheckEveryMs ?? 1_000);
    if (check.republished > 0) opts.onRepublished?.(check.republished);
    if (now >= state.loss.recordAt) {
      await recordHandledBefore(opts.db, opts.broker, EVENTS_TOPIC, check.epoch);
      state.loss.recordAt = now + (opts.handledRecordEveryMs ?? 10_000);
    }
    return undefined;
  } catch (err) {
    state.loss.epoch = undefined;
    return { err };
  }
}

/**
 * A pass whose look for a lost topic failed publishes nothing. When the broker does not answer
 * ping either, the row that would have been the probe records the failed attempt (attempts,
 * last_error) and the next look waits like the next probe.
 */
async function failProbe(opts: RelayOptions, state: RelayState, now: Date, leaseMs: number, { err }: { err: unknown }): Promise<number> {
  if (await opts.broker.ping().catch(() => false)) return 0;
  const rows = await claim(opts.db, state.relayId, now, leaseMs, 1);
  const error = `could not look for a lost stream: ${errorText(err)}`;
  await settleOutcome(opts, state, { sent: [], failed: rows.map((row) => ({ row, error })), parked: [], held: [], lastError: err, brokerDown: true }, now);
  return 0;
}

/** Publishes claimed rows (to `groups` alone, if given) and records what it did; in a span when tracing is on. */
function publishAndSettle(opts: RelayOptions, state: RelayState, rows: OutboxRow[], now: Date, groups?: string[], others?: Map<number, string[]>) {
  return inPublishSpan(opts.tracer, opts.broker, rows.map((r) => r.trace_context), async () => {
    const out = await publishBatch(opts.broker, rows, opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS, { groups, epoch: state.loss.epoch });
    const sent = await settleOutcome(opts, state, out, now, others);
    return { sent, brokerDown: out.brokerDown, error: out.failed.length + out.parked.length > 0 ? out.lastError : undefined };
  });
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
    const others = new Map(rows.map((r) => [r.seq, r.pending_groups.filter((g) => g !== group)]));
    const out = await publishAndSettle(opts, state, rows, now, [group], others);
    sent += out.sent;
    if (out.brokerDown) break;
  }
  return sent;
}

/** Records what a publish did: rows sent, parked, failed (backoff) or held back; returns how many went out. */
async function settleOutcome(opts: RelayOptions, state: RelayState, out: Outcome, now: Date, others?: Map<number, string[]>): Promise<number> {
  const maxBackoffMs = opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  if (out.epochChanged) state.loss.epoch = undefined; // the next pass looks for the loss first
  if (out.brokerDown) {
    state.downPasses++;
    state.probeAt = now.getTime() + retryDelayMs(state.downPasses, maxBackoffMs);
  } else if (out.sent.length > 0) {
    state.downPasses = 0;
  }

  const after = opts.clock.now();
  if (opts.broker.durable) {
    const under = out.epoch === undefined ? undefined : { topic: EVENTS_TOPIC, epoch: out.epoch };
    const marked = await markPublished(opts.db, out.sent.map((r) => r.seq), after, state.relayId, under);
    if (marked > 0) opts.onPublished?.(marked);
    if (under && marked < out.sent.length) {
      // A loss recorded since (by any instance) may have taken what this publish appended: again.
      await release(opts.db, state.relayId, out.sent);
      state.loss.epoch = undefined;
    }
  } else {
    for (const r of out.sent) state.inFlight.set(r.id, { seq: r.seq, others: others?.get(r.seq) ?? [] });
  }
  await markParked(opts.db, state.relayId, out.parked, after);
  const retries = out.failed.map((f) => ({ ...f, nextAt: new Date(after.getTime() + retryDelayMs(f.row.attempts + 1, maxBackoffMs)) }));
  await markFailed(opts.db, state.relayId, retries);
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
export function startRelay(options: RelayOptions & { idleMs?: number; log: Logger; purge?: PurgeOptions }) {
  const opts = {
    ...options,
    onRepublished:
      options.onRepublished ??
      ((count: number) => options.log.warn({ count }, 'the broker lost the event stream (Redis restarted empty?): publishing again what consumers may not have read')),
  };
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
