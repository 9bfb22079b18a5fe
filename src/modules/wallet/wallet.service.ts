import type { Clock } from '../../platform/clock.js';
import { pgCode, withRetry, type Database } from '../../platform/db.js';
import { withAnswer, type KeyClaim } from '../idempotency/idempotency.service.js';
import { DomainError, notFound } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { decodeCursor, page } from '../../platform/pagination.js';
import { balanceOf, chargeWallet, chargeWalletAnswered, listLedger } from './wallet.repository.js';
import { MAX_BALANCE, assertChargeFits } from './wallet.rules.js';

export function createWalletService({ db, clock }: { db: Database; clock: Clock }) {
  return {
    async balance(userId: string): Promise<number> {
      const balance = await balanceOf(db, userId);
      if (balance === undefined) throw notFound('Wallet');
      return balance;
    },

    /**
     * Tops up the balance: one statement (ledger row and event included). Under an
     * Idempotency-Key (`claim`) the answer is stored in that same statement; a refusal, or a claim
     * that no longer holds its key, then takes the transactional way (withAnswer), which tells
     * them apart and says so.
     */
    async charge(userId: string, amount: number, claim?: KeyClaim) {
      const id = newId();
      const charge = { userId, amount, cap: MAX_BALANCE, ledgerId: id };
      if (claim) {
        const { key, claimedAt, status } = claim;
        const balance = await withRetry(() => chargeWalletAnswered(db, { ...charge, now: clock.now(), key, claimedAt, status })).catch(
          (err: unknown) => {
            if (pgCode(err) === 'TK001') return null; // the lease was lost: nothing was written
            throw err;
          },
        );
        if (balance !== null) return { id, amount, balance };
      }
      return withAnswer(db, claim, async (executor) => {
        const balance = await chargeWallet(executor, { ...charge, now: clock.now() });
        if (balance === null) {
          const current = await balanceOf(executor, userId);
          if (current === undefined) throw notFound('Wallet');
          assertChargeFits(current, amount);
          throw new DomainError('BALANCE_LIMIT_EXCEEDED', 'The balance limit was reached');
        }
        return { id, amount, balance };
      });
    },

    async transactions(userId: string, limit: number, cursor?: string) {
      const rows = await listLedger(db, userId, limit, decodeCursor(cursor));
      const { items, nextCursor } = page(rows, limit);
      return {
        items: items.map((r) => ({
          id: r.id,
          type: r.type,
          amount: r.amount,
          balanceAfter: r.balance_after,
          ...(r.reservation_id ? { reservationId: r.reservation_id } : {}),
          createdAt: r.created_at.toISOString(),
        })),
        nextCursor,
      };
    },
  };
}

export type WalletService = ReturnType<typeof createWalletService>;
