import { sql } from 'kysely';
import type { Database, Trx } from '../../platform/db.js';
import type { LedgerType } from '../../platform/db.types.js';

export async function balanceOf(db: Database | Trx, userId: string): Promise<number | undefined> {
  const row = await db.selectFrom('wallets').select('balance').where('user_id', '=', userId).executeTakeFirst();
  return row?.balance;
}

/** Adds to the balance unless that would pass the cap; returns the new balance, or undefined if refused. */
export async function creditUpTo(trx: Trx, userId: string, amount: number, cap: number): Promise<number | undefined> {
  const row = await trx
    .updateTable('wallets')
    .set({ balance: sql`balance + ${amount}`, updated_at: sql`now()` })
    .where('user_id', '=', userId)
    .where(sql<boolean>`balance + ${amount} <= ${cap}`)
    .returning('balance')
    .executeTakeFirst();
  return row?.balance;
}

/** Adds to the balance with no cap (refunds); returns the new balance. */
export async function credit(trx: Trx, userId: string, amount: number): Promise<number> {
  const row = await trx
    .updateTable('wallets')
    .set({ balance: sql`balance + ${amount}`, updated_at: sql`now()` })
    .where('user_id', '=', userId)
    .returning('balance')
    .executeTakeFirstOrThrow();
  return row.balance;
}

/** Debits only if the balance covers it; returns the new balance, or undefined if insufficient. */
export async function debitIfSufficient(trx: Trx, userId: string, amount: number): Promise<number | undefined> {
  const row = await trx
    .updateTable('wallets')
    .set({ balance: sql`balance - ${amount}`, updated_at: sql`now()` })
    .where('user_id', '=', userId)
    .where('balance', '>=', amount)
    .returning('balance')
    .executeTakeFirst();
  return row?.balance;
}

export async function insertLedgerEntry(
  trx: Trx,
  entry: { id: string; userId: string; type: LedgerType; amount: number; balanceAfter: number; reservationId?: string; at: Date },
) {
  await trx
    .insertInto('ledger_entries')
    .values({
      id: entry.id,
      user_id: entry.userId,
      type: entry.type,
      amount: entry.amount,
      balance_after: entry.balanceAfter,
      reservation_id: entry.reservationId ?? null,
      created_at: entry.at,
    })
    .execute();
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
