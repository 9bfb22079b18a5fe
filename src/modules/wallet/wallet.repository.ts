import { sql, type RawBuilder } from 'kysely';
import { precompiled, type Database } from '../../platform/db.js';
import { activeTraceparent } from '../../platform/tracing.context.js';
import { col, eventRows, insertEvents, payloadOf } from '../events/outbox.sql.js';
import { answerKeys } from '../idempotency/idempotency.sql.js';

export async function balanceOf(db: Database, userId: string): Promise<number | undefined> {
  const row = await db.selectFrom('wallets').select('balance').where('user_id', '=', userId).executeTakeFirst();
  return row?.balance;
}

const CHARGE_KEYS = ['userId', 'amount', 'cap', 'ledgerId', 'now', 'traceContext'] as const;
const ANSWER_KEYS = ['key', 'claimedAt', 'status'] as const;

/** The top-up's CTEs: the wallet's new balance within the cap, its ledger row and its balance.charged event. */
const chargeCtes = (p: Record<(typeof CHARGE_KEYS)[number], RawBuilder<unknown>>) => sql`
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
    )`;

const chargeStatement = precompiled(CHARGE_KEYS, (p) =>
  sql<{ balance: number | null }>`${chargeCtes(p)}
    SELECT (SELECT balance FROM wallet) AS balance`,
);

/**
 * The same top-up under a claimed Idempotency-Key, its answer (`{ id, amount, balance }`, what
 * the route sends) stored with it in the same statement. Should the claim no longer hold the key,
 * ticketing_assert aborts the whole statement (SQLSTATE TK001): nothing is charged.
 */
const chargeAnsweredStatement = precompiled([...CHARGE_KEYS, ...ANSWER_KEYS], (p) =>
  sql<{ balance: number | null; ok: boolean }>`${chargeCtes(p)}, ${answerKeys({
    relation: 'wallet',
    userId: col('wallet', 'user_id'),
    key: sql`${p.key}::text`,
    claimedAt: sql`${p.claimedAt}::timestamptz`,
    status: sql`${p.status}::int`,
    body: payloadOf({ id: sql`${p.ledgerId}::text`, amount: sql`${p.amount}::bigint`, balance: col('wallet', 'balance') }),
  })}
    SELECT (SELECT balance FROM wallet) AS balance, (SELECT ok FROM answers_checked) AS ok`,
);

interface Charge {
  userId: string;
  amount: number;
  cap: number;
  ledgerId: string;
  now: Date;
}

/**
 * Tops up in one statement: the balance grows only if it stays within the cap, and the ledger row
 * and balance.charged event are written with it (with the traced request's context, if any).
 * Returns the new balance, or null if refused.
 */
export async function chargeWallet(db: Database, c: Charge): Promise<number | null> {
  return (await chargeStatement(db, { ...c, traceContext: activeTraceparent() ?? null }))[0]!.balance;
}

/**
 * chargeWallet with the answer of the Idempotency-Key claimed at `claimedAt` stored in the same
 * statement (one round trip, one commit). Null if refused: then nothing was written, the key's
 * answer neither. Throws (SQLSTATE TK001) when the claim no longer holds the key.
 */
export async function chargeWalletAnswered(
  db: Database,
  c: Charge & { key: string; claimedAt: Date; status: number },
): Promise<number | null> {
  return (await chargeAnsweredStatement(db, { ...c, traceContext: activeTraceparent() ?? null }))[0]!.balance;
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
