import { LRUCache } from 'lru-cache';
import { inTransaction, type Database } from '../../platform/db.js';
import { notFound } from '../../platform/errors.js';
import { hashToken, newId, newSecret } from '../../platform/ids.js';
import { findUserByTokenHash, findUserWithBalance, insertUserWithWallet, type UserRow } from './users.repository.js';

export type AuthUser = UserRow;

export function createUsersService({ db }: { db: Database }) {
  // Tokens never change owner and users are never deleted, so a resolved token can be kept a while;
  // unknown tokens are not cached (a brute force must not fill memory).
  const byTokenHash = new LRUCache<string, AuthUser>({ max: 100_000, ttl: 5 * 60_000 });

  return {
    async register(name: string) {
      const user = { id: newId(), name, token: newSecret('tk_') };
      await inTransaction(db, (trx) => insertUserWithWallet(trx, { ...user, tokenHash: hashToken(user.token) }));
      return user;
    },

    async authenticate(token: string): Promise<AuthUser | undefined> {
      const tokenHash = hashToken(token);
      const cached = byTokenHash.get(tokenHash);
      if (cached) return cached;
      const user = await findUserByTokenHash(db, tokenHash);
      if (user) byTokenHash.set(tokenHash, user);
      return user;
    },

    async profile(userId: string) {
      const row = await findUserWithBalance(db, userId);
      if (!row) throw notFound('User');
      return row;
    },
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
