import type { Database, Trx } from '../../platform/db.js';

/** The user and their empty wallet, in one statement (one round trip, no explicit transaction). */
export async function insertUserWithWallet(db: Database | Trx, user: { id: string; name: string; tokenHash: string }) {
  await db
    .with('u', (w) => w.insertInto('users').values({ id: user.id, name: user.name, token_hash: user.tokenHash }).returning('id'))
    .insertInto('wallets')
    .columns(['user_id'])
    .expression((e) => e.selectFrom('u').select('u.id'))
    .execute();
}

export async function findUserByTokenHash(db: Database, tokenHash: string): Promise<{ id: string } | undefined> {
  return db.selectFrom('users').select('id').where('token_hash', '=', tokenHash).executeTakeFirst();
}

export async function findUserWithBalance(db: Database, userId: string) {
  return db
    .selectFrom('users')
    .innerJoin('wallets', 'wallets.user_id', 'users.id')
    .select(['users.id', 'users.name', 'wallets.balance'])
    .where('users.id', '=', userId)
    .executeTakeFirst();
}
