import type { Database, Trx } from '../../platform/db.js';

export async function insertUserWithWallet(trx: Trx, user: { id: string; name: string; tokenHash: string }) {
  await trx.insertInto('users').values({ id: user.id, name: user.name, token_hash: user.tokenHash }).execute();
  await trx.insertInto('wallets').values({ user_id: user.id }).execute();
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
