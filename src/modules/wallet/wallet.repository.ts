import { sql } from 'kysely';
import { precompiled, type Database } from '../../platform/db.js';
import { activeTraceparent } from '../../platform/tracing.context.js';
import { col, eventRows, insertEvents, payloadOf } from '../events/outbox.sql.js';

export async function balanceOf(db: Database, userId: string): Promise<number | undefined> {
  const row = await db.selectFrom('wallets').select('balance').where('user_id', '=', userId).executeTakeFirst();
  return row?.balance;
}

const chargeStatement = precompiled(['userId', 'amount', 'cap', 'ledgerId', 'now', 'traceContext'] as const, (p) =>
  sql<{ balance: number | null }>`
    WITH wallet AS (
      UPDATE wallets SET balance = balance + ${p.amount}::bigint, updated_at = ${p.now}::timestamptz
       WHERE user_id = ${p.userId}::uuid AND balance + ${p.amount}::bigint <= ${p.cap}::bigint
      RETURNING user_id, balance
    ), ledger AS (
      INSERT INTO ledger_entries (id, user_id, type, amount, balance_after, reservation_id, created_at)
      SELECT ${p.ledgerId}::uuid, wallet.user_id, 'CHARGE', ${p.amount}::bigint, wallet.balance, NULL, ${p.now}::timestamptz
        FROM wallet
    ), events AS (
      ${insertEvents(
        eventRows(
          'balance.charged',
          'wallet',
          col('wallet', 'user_id'),
          payloadOf({
            chargeId: sql`${p.ledgerId}::text`,
            userId: col('wallet', 'user_id'),
            amount: sql`${p.amount}::bigint`,
            balance: col('wallet', 'balance'),
          }),
          p.now,
          p.traceContext,
        ),
      )}
    )
    SELECT (SELECT balance FROM wallet) AS balance`,
);

/**
 * Tops up in one statement: the balance grows only if it stays within the cap, and the ledger row
 * and balance.charged event are written with it (with the traced request's context, if any).
 * Returns the new balance, or null if refused.
 */
export async function chargeWallet(
  db: Database,
  c: { userId: string; amount: number; cap: number; ledgerId: string; now: Date },
): Promise<number | null> {
  return (await chargeStatement(db, { ...c, traceContext: activeTraceparent() ?? null }))[0]!.balance;
}

export async function listLedger(db: Database, userId: string, limit: number, before?: string) {
  let query = db
    .selectFrom('ledger_entries')
    .select(['id', 'type', 'amount', 'balance_after', 'reservation_id', 'created_at'])
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (before) query = query.where('id', '<', before);
  return query.execute();
}
