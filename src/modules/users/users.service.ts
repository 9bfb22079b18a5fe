import { LRUCache } from 'lru-cache';
import type { Database } from '../../platform/db.js';
import { notFound } from '../../platform/errors.js';
import { hashToken, newId, newSecret } from '../../platform/ids.js';
import { findUserByTokenHash, findUserWithBalance, insertUserWithWallet } from './users.repository.js';

/** Who a request is authenticated as. */
export interface AuthUser {
  id: string;
}

export function createUsersService({ db }: { db: Database }) {
  // Tokens never change owner and users are never deleted, so a resolved token stays true: it is kept
  // until it is the least recently used of `max` (the bound on memory). Unknown tokens are not kept
  // (a brute force must not fill memory, nor push known tokens out).
  const byTokenHash = new LRUCache<string, AuthUser>({ max: 100_000 });

  return {
    async register(name: string) {
      const user = { id: newId(), name, token: newSecret('tk_') };
      await insertUserWithWallet(db, { ...user, tokenHash: hashToken(user.token) });
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
