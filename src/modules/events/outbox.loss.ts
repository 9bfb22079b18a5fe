import { sql } from 'kysely';
import { inTransaction, type Database } from '../../platform/db.js';
import type { Broker } from './broker.js';

/**
 * A durable broker can still lose what it accepted: a Redis restarted empty takes the stream with
 * it, events the relay had marked published included, and consumers that had not read them never
 * will. The broker keeps an epoch marker beside the topic (`Broker.epoch`), lost with it; the relay
 * keeps the last epoch it saw in PostgreSQL (`broker_epochs`, shared by every instance and kept
 * across restarts), with the time before which every consumer group had handled everything
 * (`acked_through`, recorded as it goes).
 *
 * When the broker's epoch is not the recorded one, the topic was lost since: the instance whose
 * conditional UPDATE moves the recorded epoch on (one, however many race) marks unsent again every
 * row published since `acked_through` less a margin for clock skew between the broker and the
 * service, in the same transaction, and the relay publishes them again in commit order. Consumers
 * deduplicate by event id (processed_events), so a row some group had handled is harmless. Rows
 * older than OUTBOX_RETENTION_HOURS are gone from the outbox: a group that lagged longer than that
 * cannot be given them again (nor could it before the loss, past the stream's trim).
 */

/** Republished rows reach back this much further than `acked_through`: the broker's clock may run ahead. */
export const LOSS_MARGIN_MS = 30_000;

export interface LossCheck {
  /** Rows marked unsent again because the topic was lost (0 when it was not, or another instance took it). */
  republished: number;
  /** The epoch the broker has now. */
  epoch: string;
}

/** Compares the broker's epoch of the topic with the recorded one; on a loss, marks the rows to publish again. */
export async function checkTopicLoss(db: Database, broker: Broker, topic: string): Promise<LossCheck | undefined> {
  if (!broker.epoch) return undefined;
  const epoch = await broker.epoch(topic);
  const known = await db.selectFrom('broker_epochs').select(['epoch', 'acked_through']).where('topic', '=', topic).executeTakeFirst();
  if (!known) {
    // First sight of the topic: nothing can have been lost under a marker nobody recorded.
    await db.insertInto('broker_epochs').values({ topic, epoch, acked_through: null }).onConflict((oc) => oc.doNothing()).execute();
    return { republished: 0, epoch };
  }
  if (known.epoch === epoch) return { republished: 0, epoch };
  const republished = await inTransaction(db, async (trx) => {
    const moved = await trx
      .updateTable('broker_epochs')
      .set({ epoch, acked_through: null })
      .where('topic', '=', topic)
      .where('epoch', '=', known.epoch)
      .executeTakeFirst();
    if (moved.numUpdatedRows !== 1n) return 0; // another instance saw the loss first
    const since = known.acked_through ? new Date(known.acked_through.getTime() - LOSS_MARGIN_MS) : new Date(0);
    const marked = await sql`
      UPDATE outbox SET published_at = NULL, claimed_by = NULL, claimed_until = NULL, next_attempt_at = NULL
       WHERE published_at >= ${since} AND parked_at IS NULL`.execute(trx);
    return Number(marked.numAffectedRows ?? 0n);
  });
  return { republished, epoch };
}

/**
 * Records the time before which every group of the topic has handled everything, if the topic is
 * still of `epoch` before and after it was read (a loss in between must not record the new
 * stream's progress as the old one's).
 */
export async function recordHandledBefore(db: Database, broker: Broker, topic: string, epoch: string): Promise<void> {
  if (!broker.handledBefore || !broker.epoch) return;
  const before = await broker.handledBefore(topic);
  if ((await broker.epoch(topic)) !== epoch) return;
  await db.updateTable('broker_epochs').set({ acked_through: before }).where('topic', '=', topic).where('epoch', '=', epoch).execute();
}
