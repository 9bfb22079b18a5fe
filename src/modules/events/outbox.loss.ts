import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../../platform/db.js';
import { compareIds, type Broker } from './broker.js';

/**
 * A durable broker can still lose what it accepted: a Redis restarted empty takes the stream with
 * it, events the relay had marked published included, and consumers that had not read them never
 * will. The broker keeps an epoch marker beside the topic (`Broker.epoch`), lost with it; the relay
 * keeps the epoch in PostgreSQL (`broker_epochs`, shared by every instance and kept across
 * restarts), with the time before which every consumer group had handled everything
 * (`acked_through`, recorded as it goes, only ever moved forward).
 *
 * The relay publishes only under the epoch it last checked (`publish(…, { epoch })`): a stream
 * whose marker is gone or changed refuses every publish, so nothing reaches a new stream before
 * the loss is handled, and each aggregate's events reach it in commit order. When the marker is not
 * the recorded epoch, the topic was lost: the instance whose conditional UPDATE records a new epoch
 * (one, however many race) sets `republishing`; then rows published since `acked_through` less a
 * margin for clock skew between the broker and the service are marked unsent, in batches (any
 * instance goes on with it if that one dies: rows marked stay unsent, as nothing is published
 * meanwhile), and only then is the new marker set in the broker and `republishing` cleared. The
 * relay publishes the rows again in commit order. Consumers deduplicate by event id
 * (processed_events), so a row some group had handled is harmless. Rows older than
 * OUTBOX_RETENTION_HOURS are gone from the outbox: a group that lagged longer than that cannot be
 * given them again (nor could it before the loss, past the stream's trim).
 *
 * A loss keeps `acked_through` (the groups had handled the old stream that far; what they had not
 * is marked unsent again), so a second loss soon after reaches back no further than the first.
 *
 * A Redis brought back from a snapshot (or a failover to a lagging replica) keeps the marker but
 * not the latest entries. Each look records the stream's last id (`last_id`, only forward); a
 * stream whose last id is below it went backwards, and counts as lost the same way (entries
 * appended after the look before the copy was made, within about a second, still go unnoticed).
 */

/** Republished rows reach back this much further than `acked_through`: the broker's clock may run ahead. */
export const LOSS_MARGIN_MS = 30_000;
/** Rows marked unsent per statement after a loss. */
export const REMARK_BATCH = 2_000;

export interface LossCheck {
  /** Rows marked unsent again because the topic was lost (0 when it was not). */
  republished: number;
  /** The epoch the broker has now: publish under it. */
  epoch: string;
}

const recorded = (db: Database, topic: string) =>
  db.selectFrom('broker_epochs').select(['epoch', 'acked_through', 'republishing', 'last_id']).where('topic', '=', topic).executeTakeFirst();

/** Marks unsent again, in batches, every row published since `since` (and not parked); returns how many. */
async function markUnsentSince(db: Database, since: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const marked = await sql`
      UPDATE outbox SET published_at = NULL, claimed_by = NULL, claimed_until = NULL, next_attempt_at = NULL
       WHERE seq IN (SELECT seq FROM outbox WHERE published_at >= ${since} AND parked_at IS NULL LIMIT ${REMARK_BATCH})`.execute(db);
    const count = Number(marked.numAffectedRows ?? 0n);
    total += count;
    if (count < REMARK_BATCH) return total;
  }
}

/**
 * Compares the broker's epoch of the topic with the recorded one; on a loss, marks the rows to
 * publish again and sets the new marker. Throws when the epoch cannot be settled now (the broker
 * or PostgreSQL down, another instance moved it meanwhile): the relay then publishes nothing.
 */
export async function checkTopicLoss(db: Database, broker: Broker, topic: string): Promise<LossCheck | undefined> {
  if (!broker.epoch || !broker.setEpoch) return undefined;
  const marker = await broker.epoch(topic);
  let known = await recorded(db, topic);
  const lastId = (await broker.lastId?.(topic)) ?? null; // read after `known`: it can only be later
  const wentBack = known?.last_id != null && (lastId === null || compareIds(lastId, known.last_id) < 0);
  if (!known) {
    // First sight: nothing recorded can have been lost; a missing marker is set by the steps below.
    await db
      .insertInto('broker_epochs')
      .values({ topic, epoch: marker ?? randomUUID(), acked_through: sql<Date>`now()`, republishing: marker === null })
      .onConflict((oc) => oc.doNothing())
      .execute();
    known = (await recorded(db, topic))!;
  }
  let republished = 0;
  if ((marker !== known.epoch || wentBack) && !known.republishing) {
    // Lost: the marker is gone, or is not the recorded one, or the stream went backwards.
    await db
      .updateTable('broker_epochs')
      .set({ epoch: randomUUID(), republishing: true, last_id: null })
      .where('topic', '=', topic)
      .where('epoch', '=', known.epoch)
      .where('republishing', '=', false)
      .execute();
    known = (await recorded(db, topic))!;
    if (!known.republishing) throw new Error(`the recorded epoch of ${topic} moved meanwhile: looking again`);
  }
  if (known.republishing) {
    if (marker !== known.epoch) {
      republished = await markUnsentSince(db, new Date(known.acked_through.getTime() - LOSS_MARGIN_MS));
      await broker.setEpoch(topic, marker, known.epoch);
    }
    await db.updateTable('broker_epochs').set({ republishing: false }).where('topic', '=', topic).where('epoch', '=', known.epoch).execute();
  }
  if ((await broker.epoch(topic)) !== known.epoch) throw new Error(`the epoch of ${topic} changed during the check: looking again`);
  if (lastId !== null && !wentBack && known.last_id !== lastId) {
    await db
      .updateTable('broker_epochs')
      .set({ last_id: lastId })
      .where('topic', '=', topic)
      .where('epoch', '=', known.epoch)
      .where((eb) => (known.last_id === null ? eb('last_id', 'is', null) : eb('last_id', '=', known.last_id)))
      .execute();
  }
  return { republished, epoch: known.epoch };
}

/**
 * Records the time before which every group of the topic has handled everything, if the topic is
 * still of `epoch` before and after it was read (a loss in between must not record the new
 * stream's progress as the old one's), and only forward (a stream without groups tells nothing).
 */
export async function recordHandledBefore(db: Database, broker: Broker, topic: string, epoch: string): Promise<void> {
  if (!broker.handledBefore || !broker.epoch) return;
  const before = await broker.handledBefore(topic);
  if (before === null || (await broker.epoch(topic)) !== epoch) return;
  await db
    .updateTable('broker_epochs')
    .set({ acked_through: sql<Date>`greatest(acked_through, ${before})` })
    .where('topic', '=', topic)
    .where('epoch', '=', epoch)
    .where('republishing', '=', false)
    .execute();
}
