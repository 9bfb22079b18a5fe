import type { Clock } from '../../platform/clock.js';
import type { Database, Trx } from '../../platform/db.js';
import { DomainError, notFound } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { decodeCursor, page } from '../../platform/pagination.js';
import { appendEvents } from '../outbox/outbox.repository.js';
import { balanceOf, creditUpTo, insertLedgerEntry, listLedger } from './wallet.repository.js';
import { MAX_BALANCE, assertChargeFits } from './wallet.rules.js';

export function createWalletService({ db, clock }: { db: Database; clock: Clock }) {
  return {
    async balance(userId: string): Promise<number> {
      const balance = await balanceOf(db, userId);
      if (balance === undefined) throw notFound('Wallet');
      return balance;
    },

    /** Tops up the balance: one conditional update, a ledger row and an event, in the caller's transaction. */
    async charge(trx: Trx, userId: string, amount: number) {
      const at = clock.now();
      const balance = await creditUpTo(trx, userId, amount, MAX_BALANCE);
      if (balance === undefined) {
        const current = await balanceOf(trx, userId);
        if (current === undefined) throw notFound('Wallet');
        assertChargeFits(current, amount);
        throw new DomainError('BALANCE_LIMIT_EXCEEDED', 'The balance limit was reached');
      }
      const id = newId();
      await insertLedgerEntry(trx, { id, userId, type: 'CHARGE', amount, balanceAfter: balance, at });
      await appendEvents(trx, [
        { type: 'balance.charged', aggregateId: userId, occurredAt: at, payload: { chargeId: id, userId, amount, balance } },
      ]);
      return { id, amount, balance };
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
